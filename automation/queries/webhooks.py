"""Reads of a runbook's webhooks for the API and the runbook's Webhooks blade."""

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime

from automation.models import Runbook, Webhook
from automation.redis_client import redis_client
from automation.services.errors import NotFound
from automation.services.webhooks import LAST_REFUSAL_KEY


def webhooks_of(runbook: Runbook) -> QuerySet[Webhook]:
    """The runbook's webhooks by name, in one query; the token's hash and the secret values stay in the database
    (the sealed signing secret comes along: `signed` reads it)."""
    return (
        Webhook.objects.filter(runbook=runbook)
        .select_related("runbook", "account")
        .defer("token_hash", "secret_parameters")
        .order_by(Lower("name"), "name")
    )


def get_webhook(runbook: Runbook, webhook_id) -> Webhook:
    webhook = webhooks_of(runbook).filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound(f"Runbook {runbook.name!r} has no webhook {webhook_id}.")
    return webhook


@dataclass(frozen=True)
class LastCall:
    at: datetime
    outcome: str
    accepted: bool


def last_calls(webhooks: list[Webhook]) -> dict:
    """{webhook id: its last call (LastCall), or None}: an accepted call is on the row, a refused one in Redis
    (one MGET for the whole page); the later of the two wins."""
    refused: list = [None] * len(webhooks)
    if webhooks:
        with contextlib.suppress(redis.RedisError):
            refused = redis_client(settings.REDIS_URL).mget([f"{LAST_REFUSAL_KEY}:{w.pk}" for w in webhooks])
    out = {}
    for webhook, raw in zip(webhooks, refused, strict=True):
        calls = []
        if webhook.last_called_at is not None:
            calls.append(LastCall(webhook.last_called_at, webhook.last_outcome, True))
        if raw:
            try:
                entry = json.loads(raw)
                calls.append(LastCall(parse_datetime(entry["at"]), entry["outcome"], False))
            except (ValueError, KeyError, TypeError):
                pass
        out[webhook.pk] = max(calls, key=lambda call: call.at) if calls else None
    return out
