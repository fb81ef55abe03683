"""Repeated authentication failures from one address get 429 for a minute.

A process-wide Redis client: under ASGI, Django's cache hands every request a new client and
connection, which cost more than the check itself on the agents' hottest endpoints.
"""

from functools import cache

import redis
from django.conf import settings

from automation.api.exceptions import TooManyFailures
from portal.redis_url import for_redis_py

WINDOW_SECONDS = 60


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(for_redis_py(url), socket_timeout=1, socket_connect_timeout=1)


def _key(request) -> str:
    return f"automation:authfail:{request.META.get('REMOTE_ADDR') or 'unknown'}"


def refuse_if_blocked(request) -> None:
    try:
        failures = int(_client(settings.REDIS_URL).get(_key(request)) or 0)
    except redis.RedisError:  # rate limiting must not take the API down with Redis
        return
    if failures >= settings.AUTH_FAILURES_PER_MINUTE:
        raise TooManyFailures(retry_after=WINDOW_SECONDS)


def note_failure(request) -> None:
    try:
        pipe = _client(settings.REDIS_URL).pipeline()
        # The window starts at the first failure (SET NX); EXPIRE NX would need Redis 7.
        pipe.set(_key(request), 0, ex=WINDOW_SECONDS, nx=True)
        pipe.incr(_key(request))
        pipe.execute()
    except redis.RedisError:
        return
