"""Repeated authentication failures from one address get 429 for a minute."""

from django.conf import settings
from django.core.cache import cache

from automation.api.exceptions import TooManyFailures

WINDOW_SECONDS = 60


def _key(ip: str) -> str:
    return f"authfail:{ip}"


def refuse_if_blocked(request) -> None:
    ip = request.META.get("REMOTE_ADDR") or "unknown"
    try:
        failures = cache.get(_key(ip), 0)
    except Exception:  # rate limiting must not take the API down with Redis
        return
    if failures >= settings.AUTH_FAILURES_PER_MINUTE:
        raise TooManyFailures(retry_after=WINDOW_SECONDS)


def note_failure(request) -> None:
    ip = request.META.get("REMOTE_ADDR") or "unknown"
    try:
        cache.add(_key(ip), 0, WINDOW_SECONDS)
        cache.incr(_key(ip))
    except Exception:
        return
