"""Webhooks: a runbook started by an HTTP POST to a URL that carries a 256-bit random token.

Only the token's SHA-256 is stored, so its URL is shown once (at creation, and at each rotation). A call is
refused before anything is written: an unknown id or token, a disabled or an expired webhook get one and the
same 400 (a guesser learns nothing), a body over WEBHOOK_MAX_BODY_BYTES 413, a call over
WEBHOOK_CALLS_PER_MINUTE 429, a runbook with no published version 404. A refusal writes nothing but Redis
counters (and, once the caller proved the token, the refused call's outcome for the webhook's blade). An
accepted call queues one job, started by "webhook <name>", whose runbook gets WebhookData
({"WebhookName", "RequestBody", "RequestHeader"}, without the headers in WEBHOOK_REDACTED_HEADERS).

Optional signing follows the Standard Webhooks scheme: the caller sends `webhook-id`, `webhook-timestamp` (Unix
seconds, within WEBHOOK_SIGNATURE_TOLERANCE_SECONDS of the server's clock) and `webhook-signature`:
`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the base64 part of the `whsec_` secret.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from automation.models import Job, Role, Runbook, StartedBy, Webhook
from automation.models.webhooks import DEFAULT_LIFETIME
from automation.redis_client import redis_client
from automation.services import crypto, sealing
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.assets import UNSET
from automation.services.audit import record_event
from automation.services.checks import checked_bool, checked_name, instant
from automation.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from automation.services.jobs import WEBHOOK_DATA, _group_to_run_on, _queue, split_secrets
from automation.services.runbooks import MASK, checked_job_parameters, latest_version

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits
SECRET_PREFIX = "whsec_"
_KIND = "webhook"
CALLS_KEY = "automation:webhook:calls"
LAST_REFUSAL_KEY = "automation:webhook:refused"
WINDOW_SECONDS = 60
# A refused call's outcome is kept this long for the blade; an accepted one is on the row.
LAST_REFUSAL_SECONDS = 90 * 24 * 3600
# Compared with when no webhook has the id, so an unknown id costs the same work as a wrong token.
_NO_HASH = "0" * 64
REFUSED = (
    "This webhook does not accept calls: no webhook has this URL, or it is disabled or expired. Ask its owner "
    "for its current URL."
)


class WebhookRefused(ServiceError):
    """Unknown id or token, disabled, expired: one answer for all, as Azure gives."""

    status = 400
    code = "webhook_refused"


class BodyTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class BadSignature(ServiceError):
    status = 401
    code = "bad_signature"


class TooManyCalls(ServiceError):
    status = 429
    code = "too_many_calls"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Issued:
    """A webhook with what is shown once: its URL (at creation and rotation), its signing secret (when new)."""

    webhook: Webhook
    uri: str = ""
    signing_secret: str = ""


# ---- checks -----------------------------------------------------------------------------------------------


def checked_expiry(value: Any, *, field: str = "expiry_time") -> datetime:
    """A moment after now, as an ISO 8601 date and time with its offset (or an aware datetime)."""
    moment = instant(value)
    if moment is None:
        raise InvalidInput(
            f"{field} is an ISO 8601 date and time with its UTC offset, e.g. 2027-01-31T18:00:00+01:00.", field=field
        )
    if moment <= timezone.now():
        raise InvalidInput(f"{field} must be in the future.", field=field)
    return moment


def _declaration(runbook: Runbook) -> list[dict[str, Any]]:
    """What the webhook's fixed values are checked against: the published version's parameters (the draft's
    until the runbook is published), less WebhookData, which each call fills."""
    version = latest_version(runbook)
    declared = version.parameters if version is not None else runbook.parameters
    return [p for p in declared if p.get("name") != WEBHOOK_DATA]


def _checked_parameters(
    runbook: Runbook, values: Any, kept_secrets: dict[str, Any], *, from_text: bool = False
) -> dict[str, Any]:
    if isinstance(values, dict) and WEBHOOK_DATA in values:
        raise InvalidInput(
            f"{WEBHOOK_DATA} is filled by each call with its body and headers: it cannot be fixed.",
            field=WEBHOOK_DATA,
        )
    declaration = _declaration(runbook)
    if isinstance(values, dict):
        # A secret sent back masked, as every answer shows it, keeps the value it had.
        secret_names = {p["name"] for p in declaration if p.get("type") == "secret"}
        values = {
            name: (kept_secrets[name] if name in secret_names and value == MASK and name in kept_secrets else value)
            for name, value in values.items()
        }
    return checked_job_parameters(declaration, values, from_text=from_text)


def _secrets(webhook: Webhook) -> dict[str, Any]:
    if not webhook.secret_parameters:
        return {}
    text = crypto.decrypt(webhook.secret_parameters)
    return json.loads(text) if text else {}


def _set_parameters(webhook: Webhook, declaration: list[dict[str, Any]], values: dict[str, Any]) -> None:
    webhook.parameters, webhook.secret_parameters = split_secrets(declaration, values)


def _refuse_taken_name(runbook: Runbook, name: str, *, other_than=None) -> None:
    taken = Webhook.objects.filter(runbook=runbook).annotate(lower=Lower("name")).filter(lower=name.lower())
    if other_than is not None:
        taken = taken.exclude(pk=other_than)
    if taken.exists():
        raise Conflict(
            f"Runbook {runbook.name!r} has a webhook named {name!r} (names are compared ignoring case).",
            code="name_taken",
        )


def _new_token(webhook: Webhook) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    webhook.token_hash = crypto.hash_secret(token)
    return token


def uri_of(webhook: Webhook, token: str) -> str:
    return f"{settings.PORTAL_BASE_URL}/webhooks/{webhook.pk}?token={token}"


def _new_signing_secret(webhook: Webhook) -> str:
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    webhook.sealed_signing_secret = sealing.seal(
        account=webhook.account, kind=_KIND, row_id=webhook.pk, field="signing_secret", plaintext=secret
    )
    return secret


def _stamp(webhook: Webhook, actor: Actor, *, created: bool = False) -> None:
    webhook.updated_by = actor.name[:150]
    if created:
        webhook.created_by = webhook.updated_by


def _announce(webhook: Webhook, actor: Actor, verb: str, **details: Any) -> None:
    """The Activity log's entry: what changed, never a token, URL or secret."""
    record_event(
        actor=actor,
        action=f"webhook.{verb}",
        account=webhook.account,
        target=webhook,
        details={"runbook": webhook.runbook.name, **details},
    )


# ---- management -------------------------------------------------------------------------------------------


def create_webhook(
    *,
    runbook: Runbook,
    actor: Actor,
    name: Any,
    run_on: Any,
    enabled: Any = True,
    expiry_time: Any = None,
    parameters: Any = None,
    signed: Any = False,
    from_text: bool = False,
) -> Issued:
    """A new webhook; its URL (and signing secret, when `signed`) are in the answer, and never again.
    `from_text` takes parameter values as a form sends them (strings), as start_job does."""
    account = runbook.account
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    checked_name(name)
    checked_bool(enabled, field="enabled")
    checked_bool(signed, field="signed")
    expiry = timezone.now() + DEFAULT_LIFETIME if expiry_time is None else checked_expiry(expiry_time)
    group = _group_to_run_on(account, run_on)
    values = _checked_parameters(runbook, parameters, {}, from_text=from_text)
    _refuse_taken_name(runbook, name)
    webhook = Webhook(
        account=account, runbook=runbook, name=name, enabled=enabled, expiry_time=expiry, run_on=group.name
    )
    _set_parameters(webhook, _declaration(runbook), values)
    _stamp(webhook, actor, created=True)
    token = _new_token(webhook)
    secret = _new_signing_secret(webhook) if signed else ""
    try:
        with transaction.atomic():
            webhook.save(force_insert=True)
            _announce(
                webhook,
                actor,
                "create",
                run_on=webhook.run_on,
                enabled=enabled,
                expiry_time=expiry.isoformat(),
                signed=signed,
            )
    except IntegrityError:
        _refuse_taken_name(runbook, name)  # a create at the same moment took the name
        raise
    return Issued(webhook=webhook, uri=uri_of(webhook, token), signing_secret=secret)


def _locked(webhook: Webhook) -> Webhook:
    row = Webhook.objects.select_for_update().select_related("account", "runbook").filter(pk=webhook.pk).first()
    if row is None:
        raise NotFound(f"Webhook {webhook.name!r} was just deleted.")
    return row


def update_webhook(
    *,
    webhook: Webhook,
    actor: Actor,
    name: Any = UNSET,
    enabled: Any = UNSET,
    parameters: Any = UNSET,
    run_on: Any = UNSET,
    from_text: bool = False,
) -> Webhook:
    """Change what the body names; the rest (and the URL) stay."""
    require_role(account=webhook.account, actor=actor, role=Role.OPERATOR)
    if name is not UNSET:
        checked_name(name)
    if enabled is not UNSET:
        checked_bool(enabled, field="enabled")
    group = _group_to_run_on(webhook.account, run_on) if run_on is not UNSET else None
    try:
        with transaction.atomic():
            row = _locked(webhook)
            changed = []
            if name is not UNSET and name != row.name:
                _refuse_taken_name(row.runbook, name, other_than=row.pk)
                row.name = name
                changed.append("name")
            if enabled is not UNSET and enabled != row.enabled:
                row.enabled = enabled
                changed.append("enabled")
            if parameters is not UNSET:
                values = _checked_parameters(
                    row.runbook, parameters, {**row.parameters, **_secrets(row)}, from_text=from_text
                )
                _set_parameters(row, _declaration(row.runbook), values)
                changed.append("parameters")
            if group is not None and group.name != row.run_on:
                row.run_on = group.name
                changed.append("run_on")
            _stamp(row, actor)
            row.save()
            if changed:
                details = {"changed": changed}
                if "enabled" in changed:
                    details["enabled"] = row.enabled
                if "run_on" in changed:
                    details["run_on"] = row.run_on
                _announce(row, actor, "update", **details)
    except IntegrityError:
        _refuse_taken_name(webhook.runbook, name, other_than=webhook.pk)
        raise
    return row


def extend_webhook(*, webhook: Webhook, actor: Actor, expiry_time: Any) -> Webhook:
    """A new expiry, for an active or an expired webhook: its URL works again until then."""
    require_role(account=webhook.account, actor=actor, role=Role.OPERATOR)
    expiry = checked_expiry(expiry_time)
    with transaction.atomic():
        row = _locked(webhook)
        row.expiry_time = expiry
        _stamp(row, actor)
        row.save(update_fields=["expiry_time", "updated_by", "updated_at"])
        _announce(row, actor, "extend", expiry_time=expiry.isoformat())
    return row


def rotate_webhook_token(*, webhook: Webhook, actor: Actor) -> Issued:
    """A new token: the old URL stops at once (its hash is gone with the commit), the new one is shown once."""
    require_role(account=webhook.account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        row = _locked(webhook)
        token = _new_token(row)
        _stamp(row, actor)
        row.save(update_fields=["token_hash", "updated_by", "updated_at"])
        _announce(row, actor, "rotate")
    return Issued(webhook=row, uri=uri_of(row, token))


def enable_signing(*, webhook: Webhook, actor: Actor) -> Issued:
    """Calls must be signed from now on, with a new secret (shown once); a signed webhook gets a new one."""
    require_role(account=webhook.account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        row = _locked(webhook)
        secret = _new_signing_secret(row)
        _stamp(row, actor)
        row.save(update_fields=["sealed_signing_secret", "updated_by", "updated_at"])
        _announce(row, actor, "signing.enable")
    return Issued(webhook=row, signing_secret=secret)


def disable_signing(*, webhook: Webhook, actor: Actor) -> Webhook:
    require_role(account=webhook.account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        row = _locked(webhook)
        if row.signed:
            row.sealed_signing_secret = ""
            _stamp(row, actor)
            row.save(update_fields=["sealed_signing_secret", "updated_by", "updated_at"])
            _announce(row, actor, "signing.disable")
    return row


def delete_webhook(*, webhook: Webhook, actor: Actor) -> None:
    require_role(account=webhook.account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        row = _locked(webhook)
        _announce(row, actor, "delete")
        row.delete()


# ---- calls ------------------------------------------------------------------------------------------------


def _identified(webhook_id: Any, token: Any) -> Webhook:
    """The webhook whose URL this is, if it is enabled and not expired; WebhookRefused, alike, otherwise."""
    webhook = None
    try:
        pk = uuid.UUID(str(webhook_id)) if isinstance(webhook_id, (str, uuid.UUID)) else None
    except ValueError:
        pk = None
    if pk is not None:
        webhook = Webhook.objects.select_related("account", "runbook").filter(pk=pk).first()
    presented = crypto.hash_secret(token) if isinstance(token, str) else ""
    matches = crypto.constant_time_equal(presented, webhook.token_hash if webhook is not None else _NO_HASH)
    if webhook is None or not matches or not webhook.enabled or webhook.is_expired():
        raise WebhookRefused(REFUSED)
    return webhook


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _check_signature(webhook: Webhook, body: bytes, headers: Mapping[str, str]) -> None:
    message_id, stamp, signatures = (
        _header(headers, h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (message_id and stamp and signatures):
        raise BadSignature(
            "This webhook takes signed calls only: send webhook-id, webhook-timestamp and webhook-signature "
            "(the Standard Webhooks scheme)."
        )
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > settings.WEBHOOK_SIGNATURE_TOLERANCE_SECONDS:
        raise BadSignature(
            "webhook-timestamp is the Unix time of the call in seconds, within "
            f"{settings.WEBHOOK_SIGNATURE_TOLERANCE_SECONDS} s of the server's clock."
        )
    secret = sealing.unseal(
        account=webhook.account,
        kind=_KIND,
        row_id=webhook.pk,
        field="signing_secret",
        sealed=webhook.sealed_signing_secret,
    )
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    offered = [part.partition(",")[2] for part in signatures.split() if part.startswith("v1,")]
    # Every offered signature is compared in full: a match anywhere takes as long as none.
    if not sum(crypto.constant_time_equal(candidate, expected) for candidate in offered):
        raise BadSignature("webhook-signature does not match the body and the webhook's signing secret.")


def _count_call(webhook: Webhook) -> None:
    """A fixed window per webhook; Redis down lets calls through rather than refuse them all."""
    key = f"{CALLS_KEY}:{webhook.pk}"
    try:
        pipe = redis_client(settings.REDIS_URL).pipeline()
        pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
    except redis.RedisError:
        logger.warning("Webhook call limits are not applied: Redis does not answer")
        return
    if count > settings.WEBHOOK_CALLS_PER_MINUTE:
        wait = ttl if 0 < ttl <= WINDOW_SECONDS else WINDOW_SECONDS
        raise TooManyCalls(
            f"This webhook takes {settings.WEBHOOK_CALLS_PER_MINUTE} calls a minute; try again in {wait} s.",
            retry_after=wait,
        )


def _remember_refusal(webhook: Webhook, refusal: ServiceError) -> None:
    """The refused call's time and outcome, for the blade: in Redis, as a refusal writes no row."""
    outcome = {"at": timezone.now().isoformat(), "outcome": f"Refused ({refusal.status}): {refusal.detail}"[:255]}
    with contextlib.suppress(redis.RedisError):
        redis_client(settings.REDIS_URL).set(
            f"{LAST_REFUSAL_KEY}:{webhook.pk}", json.dumps(outcome), ex=LAST_REFUSAL_SECONDS
        )


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's headers less those named in WEBHOOK_REDACTED_HEADERS (compared ignoring case)."""
    redacted = {name.lower() for name in settings.WEBHOOK_REDACTED_HEADERS}
    return {name: value for name, value in headers.items() if name.lower() not in redacted}


def _body_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("The body is not UTF-8 text: a webhook passes its body on as text.", field="body") from None
    return text


def call_webhook(*, webhook_id: Any, token: Any, body: bytes, headers: Mapping[str, str], source_ip: str | None) -> Job:
    """One call of a webhook's URL: the job it queued, or a ServiceError and nothing written."""
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise BodyTooLarge(f"A webhook's body is at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes.")
    webhook = _identified(webhook_id, token)
    try:
        if webhook.signed:
            _check_signature(webhook, body, headers)
        _count_call(webhook)
        text = _body_text(body)
        return _start(webhook, text, kept_headers(headers), source_ip)
    except ServiceError as refusal:
        _remember_refusal(webhook, refusal)
        raise


def _start(webhook: Webhook, text: str, headers: dict[str, str], source_ip: str | None) -> Job:
    runbook, account = webhook.runbook, webhook.account
    version = latest_version(runbook)
    if version is None:
        raise NotFound(f"Runbook {runbook.name!r} has no published version: publish it for its webhooks to start it.")
    try:
        values = checked_job_parameters(
            [p for p in version.parameters if p.get("name") != WEBHOOK_DATA],
            {**webhook.parameters, **_secrets(webhook)},
        )
    except InvalidInput as exc:
        raise Conflict(
            f"The webhook's parameters do not fit the published version of {runbook.name!r}: {exc.detail} "
            "Change the webhook's parameters.",
            code="webhook_parameters_outdated",
        ) from None
    try:
        group = _group_to_run_on(account, webhook.run_on)
    except InvalidInput as exc:
        raise Conflict(f"{exc.detail} Change the webhook's Run on.", code="webhook_group_gone") from None
    actor = Actor(user=None, ip=source_ip, label=f"webhook {webhook.name}"[:150])
    data = {"WebhookName": webhook.name, "RequestBody": text, "RequestHeader": headers}
    with transaction.atomic():
        job = _queue(
            runbook=runbook,
            group=group,
            actor=actor,
            declaration=version.parameters,
            values=values,
            timeout_seconds=runbook.timeout_seconds,
            version=version,
            started_by=(StartedBy.WEBHOOK, webhook.name),
            webhook=webhook,
            webhook_data=data,
        )
        Webhook.objects.filter(pk=webhook.pk).update(last_called_at=job.queued_at, last_outcome=f"Started job {job.pk}")
        record_event(
            actor=actor,
            action="webhook.call",
            account=account,
            target=webhook,
            details={"runbook": runbook.name, "job": str(job.pk), "source_ip": source_ip or ""},
        )
    return job
