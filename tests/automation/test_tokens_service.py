"""Personal API tokens: shown once, stored as a hash, optional expiry, revocable by their owner only."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.models import ApiToken, AuditEvent
from automation.services.actor import Actor
from automation.services.crypto import hash_secret
from automation.services.errors import InvalidInput, NotFound
from automation.services.tokens import MAX_EXPIRY_DAYS, create_token, revoke_token, user_for_token
from tests.support.state import state

pytestmark = pytest.mark.django_db


def make(user, name="ci", expires_days=None):
    return create_token(user=user, name=name, expires_days=expires_days, actor=Actor(user=user, ip="198.51.100.40"))


def test_a_new_token_is_shown_once_and_stored_as_a_hash(make_user):
    user = make_user("tina")
    new = make(user)
    prefix, lookup, secret = new.plain.split("_", 2)
    assert prefix == "hrwpat" and len(lookup) == 16
    assert len(secret) >= 43  # 256 random bits, URL-safe base64
    row = ApiToken.objects.values().get()
    assert row["lookup"] == lookup and row["secret_hash"] == hash_secret(secret)
    assert secret not in repr(row) and new.plain not in repr(row)
    assert not hasattr(ApiToken.objects.get(), "plain")


def test_tokens_are_unique(make_user):
    user = make_user("tina")
    plains = {make(user, name=f"t{i}").plain for i in range(20)}
    assert len(plains) == 20


def test_a_token_finds_its_user(make_user):
    user = make_user("tina")
    assert user_for_token(make(user).plain) == user


@pytest.mark.parametrize("plain", ["", "hrwpat", "hrwpat__", "hrwpat_x_", "hrw_a_b", "Bearer x", "hrwpat_nope_nope"])
def test_malformed_or_unknown_tokens_find_nobody(make_user, plain):
    make(make_user("tina"))
    assert user_for_token(plain) is None


def test_a_token_with_the_wrong_secret_finds_nobody(make_user):
    new = make(make_user("tina"))
    prefix, lookup, secret = new.plain.split("_", 2)
    assert user_for_token(f"{prefix}_{lookup}_{secret[:-1]}") is None
    assert user_for_token(f"{prefix}_{lookup}_{secret}x") is None
    assert user_for_token(None) is None


def test_an_expired_token_finds_nobody(make_user):
    user = make_user("tina")
    new = make(user, expires_days=1)
    assert timedelta(hours=23, minutes=59) < new.token.expires_at - timezone.now() <= timedelta(days=1)
    assert user_for_token(new.plain) == user
    ApiToken.objects.filter(pk=new.token.pk).update(expires_at=timezone.now())
    assert user_for_token(new.plain) is None


def test_a_deactivated_users_token_finds_nobody(make_user):
    user = make_user("tina")
    new = make(user)
    user.is_active = False
    user.save()
    assert user_for_token(new.plain) is None


def test_last_used_is_written_at_most_once_a_minute(make_user):
    new = make(make_user("tina"))
    assert new.token.last_used_at is None
    user_for_token(new.plain)
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        user_for_token(new.plain)
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    user_for_token(new.plain)
    assert ApiToken.objects.get().last_used_at > timezone.now() - timedelta(seconds=30)


@pytest.mark.parametrize(
    ("name", "expires_days", "field"),
    [
        ("", None, "name"),
        ("   ", None, "name"),
        (None, None, "name"),
        ("x" * 101, None, "name"),
        ("tab\tname", None, "name"),
        ("new\nline", None, "name"),
        ("ok", 0, "expires_days"),
        ("ok", -1, "expires_days"),
        ("ok", MAX_EXPIRY_DAYS + 1, "expires_days"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(make_user, name, expires_days, field):
    user = make_user("tina")
    before = state()
    with pytest.raises(InvalidInput) as refused:
        create_token(user=user, name=name, expires_days=expires_days, actor=Actor(user=user))
    assert refused.value.field == field
    assert state() == before


def test_names_are_trimmed_and_the_bounds_accepted(make_user):
    user = make_user("tina")
    assert make(user, name="  laptop  ").token.name == "laptop"
    assert make(user, name="x" * 100, expires_days=MAX_EXPIRY_DAYS).token.expires_at is not None
    assert make(user, name="one day", expires_days=1).token.expires_at is not None


def test_creating_and_revoking_are_audited_without_the_token(make_user):
    user = make_user("tina")
    new = make(user)
    revoke_token(user=user, token_id=new.token.pk, actor=Actor(user=user, ip="198.51.100.40"))
    events = list(AuditEvent.objects.order_by("created_at").values())
    assert [e["action"] for e in events] == ["apitoken.create", "apitoken.revoke"]
    assert all(e["details"] == {"user": "tina"} and e["source_ip"] == "198.51.100.40" for e in events)
    assert new.plain not in repr(events) and new.plain.split("_", 2)[2] not in repr(events)


def test_a_revoked_token_finds_nobody(make_user):
    user = make_user("tina")
    keep, gone = make(user, "keep"), make(user, "gone")
    revoke_token(user=user, token_id=gone.token.pk, actor=Actor(user=user))
    assert user_for_token(gone.plain) is None
    assert user_for_token(keep.plain) == user


def test_nobody_revokes_another_users_token(make_user):
    owner, other = make_user("tina"), make_user("uma")
    new = make(owner)
    before = state()
    with pytest.raises(NotFound):
        revoke_token(user=other, token_id=new.token.pk, actor=Actor(user=other))
    with pytest.raises(NotFound):
        revoke_token(user=owner, token_id=new.token.pk + 1000, actor=Actor(user=owner))
    assert state() == before
    assert user_for_token(new.plain) == owner


def test_a_token_goes_with_its_user(make_user):
    user = make_user("tina")
    new = make(user)
    user.delete()
    assert not ApiToken.objects.exists()
    assert user_for_token(new.plain) is None
