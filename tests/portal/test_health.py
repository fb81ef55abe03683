"""/healthz: one JSON answer for load balancers and `make run`, 200 when all is well and 503 otherwise.

These run without a Celery worker; the happy path with a real worker is tested elsewhere.
"""

import time

import pytest
from django.conf import settings
from django.test import Client

from automation.redis_client import redis_client
from portal import health

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_recent_pong():
    """Forget any worker's earlier answer, so the check really asks (and nobody answers)."""
    client = redis_client(settings.REDIS_URL)
    client.delete(health._CELERY_PONG_KEY)
    yield client
    client.delete(health._CELERY_PONG_KEY)


def get_healthz():
    return Client().get("/healthz")


@pytest.mark.sqlite
def test_without_a_worker_it_answers_503_naming_celery(no_recent_pong):
    response = get_healthz()

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"database", "redis", "celery"}
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["celery"].startswith("error:")
    assert body["celery"] == "error: no Celery worker answered a ping"


def test_it_needs_no_login_and_does_not_redirect(no_recent_pong):
    response = Client().get("/healthz", follow=False)

    assert response.status_code in (200, 503)
    assert "Location" not in response
    assert response.json()["database"] == "ok"


def test_it_is_never_cached(no_recent_pong):
    response = get_healthz()

    assert "no-store" in response["Cache-Control"]
    assert "max-age=0" in response["Cache-Control"]


def test_a_recent_answer_from_a_worker_makes_it_200_with_every_check_ok(no_recent_pong):
    no_recent_pong.set(health._CELERY_PONG_KEY, str(time.time()))

    response = get_healthz()

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok", "celery": "ok"}


def test_an_old_answer_from_a_worker_does_not_count(no_recent_pong, settings):
    no_recent_pong.set(health._CELERY_PONG_KEY, str(time.time() - settings.CELERY_HEALTH_FRESH_SECONDS - 5))

    response = get_healthz()

    assert response.status_code == 503
    assert response.json()["celery"] == "error: no Celery worker answered a ping"


def test_without_redis_it_answers_503_naming_redis_and_the_broker(settings, tmp_path):
    settings.REDIS_URL = f"unix://{tmp_path / 'no-redis.sock'}"

    response = get_healthz()

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error: cannot reach Redis")
    assert body["celery"] == "error: the broker (Redis) is down"


def test_a_broken_database_answers_503_naming_the_database(monkeypatch, no_recent_pong):
    class BrokenConnection:
        def cursor(self):
            raise RuntimeError("connection refused")

    monkeypatch.setattr(health, "connection", BrokenConnection())
    no_recent_pong.set(health._CELERY_PONG_KEY, str(time.time()))

    response = get_healthz()

    assert response.status_code == 503
    assert response.json() == {
        "database": "error: RuntimeError: connection refused",
        "redis": "ok",
        "celery": "ok",
    }
