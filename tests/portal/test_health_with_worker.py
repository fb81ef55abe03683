"""/healthz against the run's real PostgreSQL, Redis and a real Celery worker process.

The view remembers a worker's answer in Redis for a while; each test forgets it first, so the
view really asks the workers.
"""

import pytest
import redis
from django.conf import settings

from automation.redis_client import for_redis_py
from portal.health import _CELERY_PONG_KEY
from tests.support.processes import start_celery_worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def forget_last_pong():
    client = redis.Redis.from_url(for_redis_py(settings.REDIS_URL))
    client.delete(_CELERY_PONG_KEY)
    yield
    client.delete(_CELERY_PONG_KEY)
    client.close()


@pytest.fixture
def celery_worker(server_env, log_dir):
    worker = start_celery_worker(server_env, log_dir)
    yield worker
    worker.stop()


def test_healthz_is_ok_with_a_celery_worker_running(client, forget_last_pong, celery_worker):
    response = client.get("/healthz")

    assert response.status_code == 200, response.content
    assert response.json() == {"database": "ok", "redis": "ok", "celery": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert celery_worker.alive()


def test_healthz_reports_celery_when_no_worker_answers(client, forget_last_pong):
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503, f"{body}: is a worker from another test still running on this run's Redis?"
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["celery"].startswith("error:")
