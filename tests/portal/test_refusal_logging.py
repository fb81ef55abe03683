"""A refused request (403) is logged as one line saying who, what and why, never as a traceback: a Reader
clicking around must not bury the server's real errors. Faults keep their traceback."""

import logging
import secrets

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from automation.api.logs import RefusalFilter
from automation.services.actor import Actor
from automation.services.tokens import create_token

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

OWNER_ONLY = "Only an Owner of contoso-automation can do this."


def refusals(caplog, path: str) -> list[logging.LogRecord]:
    """Every record at WARNING or above about this path."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING and path in r.getMessage()]


def assert_one_line(caplog, path: str, *expected: str) -> logging.LogRecord:
    found = refusals(caplog, path)
    assert len(found) == 1, [r.getMessage() for r in found]
    (record,) = found
    message = record.getMessage()
    assert "\n" not in message
    assert record.exc_info is None and not record.exc_text, "a refusal carries no traceback"
    for part in expected:
        assert part in message, (part, message)
    assert "Traceback" not in caplog.text
    return record


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_readers_refused_page_is_one_line_with_who_what_and_why(people, client_for, caplog, method):
    url = reverse("portal:keys_regenerate", args=[people.account.pk, "primary"])
    caplog.set_level(logging.INFO)

    response = getattr(client_for(people.reader), method)(url)

    assert response.status_code == 403
    assert_one_line(caplog, url, "rita", method.upper(), url, OWNER_ONLY, "127.0.0.1")


def test_a_page_refused_by_the_csrf_check_is_one_line_with_the_reason(people, caplog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.owner)
    url = reverse("portal:keys_regenerate", args=[people.account.pk, "primary"])
    caplog.set_level(logging.INFO)

    response = client.post(url)

    assert response.status_code == 403
    assert_one_line(caplog, url, "olivia", "POST", url, "CSRF")


def test_an_api_refusal_by_role_is_one_line_with_who_what_and_why(people, caplog):
    token = create_token(user=people.reader, name="t", expires_days=None, actor=Actor.for_system()).plain
    url = f"/api/v1/accounts/{people.account.pk}/groups/"
    caplog.set_level(logging.INFO)

    response = APIClient(headers={"Authorization": f"Bearer {token}"}).post(url, {"name": "x"}, format="json")

    assert response.status_code == 403
    assert_one_line(caplog, url, "rita", "POST", url, response.json()["detail"])
    assert token not in caplog.text


def test_an_api_session_without_a_csrf_token_is_one_line_with_the_reason(people, caplog):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(people.operator)
    url = f"/api/v1/accounts/{people.account.pk}/groups/"
    caplog.set_level(logging.INFO)

    response = client.post(url, {"name": "x"}, format="json")

    assert response.status_code == 403
    # The session is refused as authentication, so the request counts as anonymous.
    assert_one_line(caplog, url, "anonymous", "POST", url, "CSRF")


def test_an_anonymous_refusal_says_anonymous(people, caplog):
    client = APIClient(enforce_csrf_checks=True)
    secret = secrets.token_hex(16)
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    url = reverse("portal:keys_regenerate", args=[people.account.pk, "primary"])
    caplog.set_level(logging.INFO)

    response = client.post(url, headers={"X-CSRFToken": "wrong" + secret[5:]})

    assert response.status_code == 403
    assert_one_line(caplog, url, "anonymous", "POST", url)


def failing_middleware(get_response):
    def middleware(request):
        raise RuntimeError("injected fault")

    return middleware


def test_a_fault_is_still_logged_with_its_traceback(people, client_for, settings, caplog):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.failing_middleware"]
    client = client_for(people.owner)
    client.raise_request_exception = False
    url = reverse("portal:keys", args=[people.account.pk])
    caplog.set_level(logging.INFO)

    response = client.get(url)

    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None
    assert "injected fault" in caplog.text and "Traceback" in caplog.text


def test_a_second_refusal_filter_on_the_logger_keeps_the_reason(people, client_for, caplog):
    # django.setup() configures logging again whenever something builds the ASGI application (the live tests,
    # the schema fuzz), and dictConfig adds its filters to a logger without removing the old ones: the record
    # then passes two refusal filters, and the second must not lose the reason the first read.
    logger = logging.getLogger("django.request")
    second = RefusalFilter()
    logger.addFilter(second)
    try:
        url = reverse("portal:keys_regenerate", args=[people.account.pk, "primary"])
        caplog.set_level(logging.INFO)

        response = client_for(people.reader).get(url)
    finally:
        logger.removeFilter(second)

    assert response.status_code == 403
    assert_one_line(caplog, url, "rita", "GET", OWNER_ONLY)
