"""Checks behind /healthz. Each returns "ok" or a sentence saying what is wrong."""

import time

from django.conf import settings
from django.db import connection

from automation.redis_client import redis_client

_CELERY_PONG_KEY = "automation:health:celery-pong"


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}".strip()
    return "ok"


def check_redis() -> str:
    try:
        redis_client(settings.REDIS_URL).ping()
    except Exception as exc:
        return f"error: cannot reach Redis ({type(exc).__name__})"
    return "ok"


def check_celery() -> str:
    """A worker answered a ping within CELERY_HEALTH_FRESH_SECONDS; ask again when it is older."""
    try:
        client = redis_client(settings.REDIS_URL)
        last = client.get(_CELERY_PONG_KEY)
        if last is not None and time.time() - float(last) < settings.CELERY_HEALTH_FRESH_SECONDS:
            return "ok"
    except Exception:
        return "error: cannot reach the broker (Redis)"
    from portal.celery import app

    try:
        replies = app.control.ping(timeout=1.0)
    except Exception as exc:
        return f"error: cannot ask the workers ({type(exc).__name__})"
    if not replies:
        return "error: no Celery worker answered a ping"
    client.set(_CELERY_PONG_KEY, str(time.time()), ex=settings.CELERY_HEALTH_FRESH_SECONDS * 4)
    return "ok"
