"""Failed authentications are throttled; valid ones never are.

Every failed check of an account key, a worker credential or an API token counts against the client's
address (portal.proxies: X-Forwarded-For only from trusted proxies) and against the public id of the
credential it tried (a credential's or token's lookup part; for an account key, the account). Once either
count passes AUTH_FAILURES_PER_MINUTE within its window, further failures are answered 429 with
Retry-After instead of 401. The secret is always checked first, so a valid one always gets through: a
client sending garbage must not lock out the workers that share its address (behind a load balancer or a
NAT every agent does), nor can anyone lock out a worker by guessing at its credential.

A valid request costs no Redis round trip.
"""

import re
from typing import NoReturn

import redis
from django.conf import settings

from automation.api.exceptions import TooManyFailures
from automation.redis_client import redis_client
from automation.services.crypto import split_credential

WINDOW_SECONDS = 60
KEY_PREFIX = "automation:authfail"
# What issue_credential makes: a lookup of another shape matches no credential and is counted against
# its address only. A well-formed made-up one still gets a counter of its own; every counter expires
# WINDOW_SECONDS after its first failure, so what a flood adds to Redis is bounded by its rate.
_LOOKUP = re.compile(r"[0-9a-f]{16}")


def address_key(address: str) -> str:
    return f"{KEY_PREFIX}:address:{address or 'unknown'}"


def credential_key(credential_id: str) -> str:
    return f"{KEY_PREFIX}:credential:{credential_id}"


def credential_id(presented: str, prefix: str) -> str | None:
    """The public part of a presented `<prefix>_<lookup>_<secret>` (never the secret), if it has one."""
    parts = split_credential(presented or "", prefix)
    if parts is None or not _LOOKUP.fullmatch(parts[0]):
        return None
    return f"{prefix}_{parts[0]}"


def account_key_id(account_id) -> str:
    """Account keys carry no id of their own: a guess at one is a guess at its account's keys."""
    return f"key_{account_id}"


def refuse(request, *, credential: str | None, refusal: Exception) -> NoReturn:
    """Count this failed check, then raise `refusal`, or TooManyFailures once the address or the
    credential is over the limit."""
    keys = [address_key(request.META.get("REMOTE_ADDR", ""))]
    if credential:
        keys.append(credential_key(credential))
    try:
        pipe = redis_client(settings.REDIS_URL).pipeline()
        for key in keys:
            # The window starts at the first failure (SET NX); EXPIRE NX would need Redis 7.
            pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
        results = pipe.execute()
    except redis.RedisError:  # throttling must not take the APIs down with Redis
        raise refusal from None
    waits = [
        ttl if 0 < ttl <= WINDOW_SECONDS else WINDOW_SECONDS
        for count, ttl in zip(results[1::3], results[2::3], strict=True)
        if count > settings.AUTH_FAILURES_PER_MINUTE
    ]
    if waits:
        raise TooManyFailures(retry_after=max(waits))
    raise refusal
