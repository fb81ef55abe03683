"""Personal API tokens for the management API: shown once, stored as a hash, optional expiry."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from automation.models import ApiToken
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.crypto import constant_time_equal, hash_secret, issue_credential, split_credential
from automation.services.errors import InvalidInput, NotFound
from automation.validators import LINE, text_problem

TOKEN_PREFIX = "hrwpat"
MAX_EXPIRY_DAYS = 3650
# last_used_at is for people reading the token list, so minute precision is plenty.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    plain: str


def create_token(*, user, name: str, expires_days: int | None, actor: Actor) -> NewToken:
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name or len(name) > 100:
        raise InvalidInput("Give the token a name of 1 to 100 printable characters.", field="name")
    if problem := text_problem(name, LINE):
        raise InvalidInput(f"The token's name {problem}: give it one line of printable characters.", field="name")
    if expires_days is not None and (
        isinstance(expires_days, bool)
        or not isinstance(expires_days, int)
        or not (1 <= expires_days <= MAX_EXPIRY_DAYS)
    ):
        raise InvalidInput(f"Expiry is 1 to {MAX_EXPIRY_DAYS} days, or none.", field="expires_days")
    issued = issue_credential(TOKEN_PREFIX)
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, lookup=issued.lookup, secret_hash=issued.secret_hash, expires_at=expires_at
        )
        record_event(actor=actor, action="apitoken.create", target=token, details={"user": user.get_username()})
    return NewToken(token=token, plain=issued.token)


def revoke_token(*, user, token_id: int, actor: Actor) -> None:
    with transaction.atomic():
        token = ApiToken.objects.filter(user=user, pk=token_id).first()
        if token is None:
            raise NotFound("No such API token.")
        record_event(actor=actor, action="apitoken.revoke", target=token, details={"user": user.get_username()})
        token.delete()


def user_for_token(plain: str):
    parts = split_credential(plain or "", TOKEN_PREFIX)
    if parts is None:
        return None
    lookup, secret = parts
    token = ApiToken.objects.select_related("user").filter(lookup=lookup).first()
    if token is None or not constant_time_equal(token.secret_hash, hash_secret(secret)):
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
