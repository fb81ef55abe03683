"""Brute force on the sign-in: after LOGIN_FAILURE_LIMIT wrong passwords for one username from one address,
that pair is refused (even with the right password) with a page that says so, on the portal's login and
the admin's, until the cool-off has passed; the lockout is recorded in the audit log. Other users, and the
same user from another address, still sign in."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from automation.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PASSWORD = "correct horse battery"
COOL_OFF = timedelta(minutes=15)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = COOL_OFF


@pytest.fixture
def clock(monkeypatch):
    """Axes's clock (when a sign-in is attempted), stopped, and moved on only by `clock.travel(delta)`: twenty
    sign-ins take seconds on a busy machine, which must not eat into the cool-off the test measures."""
    from axes.handlers import proxy as axes_proxy

    class Clock:
        offset = timedelta(0)

        def travel(self, delta: timedelta) -> None:
            self.offset += delta

    c = Clock()
    stopped = timezone.now()
    monkeypatch.setattr(axes_proxy, "now", lambda: stopped + c.offset)
    return c


class Login:
    """The portal's sign-in page or the admin's, from one address."""

    def __init__(self, kind: str, address: str = "198.51.100.7"):
        self.kind = kind
        self.client = Client(REMOTE_ADDR=address)

    def post(self, username: str, password: str):
        if self.kind == "admin":
            data = {"username": username, "password": password, "this_is_the_login_form": "1", "next": "/admin/"}
            return self.client.post(reverse("admin:login"), data)
        return self.client.post(reverse("login"), {"username": username, "password": password})

    def signed_in(self) -> bool:
        return "_auth_user_id" in self.client.session


def hammer(login: Login, username: str, times: int = 20) -> list[int]:
    return [login.post(username, f"guess-{i}").status_code for i in range(times)]


@pytest.fixture
def olivia(make_user):
    return make_user("olivia", staff=True)


@pytest.mark.parametrize("kind", ["portal", "admin"])
def test_twenty_wrong_passwords_then_the_right_one_is_refused_with_a_lockout_page(olivia, clock, kind):
    login = Login(kind)

    statuses = hammer(login, "olivia")
    response = login.post("olivia", PASSWORD)

    assert statuses[:4] == [400 if kind == "portal" else 200] * 4  # the form's own "didn't match"
    assert set(statuses[4:]) == {429}
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.text
    assert "15 minutes" in response.text
    assert response["Retry-After"] == str(int(COOL_OFF.total_seconds()))
    assert PASSWORD not in response.text
    assert not login.signed_in()


@pytest.mark.parametrize("kind", ["portal", "admin"])
def test_after_the_cool_off_the_right_password_signs_in(olivia, clock, kind):
    login = Login(kind)
    hammer(login, "olivia")
    clock.travel(COOL_OFF - timedelta(seconds=5))
    assert login.post("olivia", PASSWORD).status_code == 429

    clock.travel(timedelta(seconds=10))
    response = login.post("olivia", PASSWORD)

    assert response.status_code == 302
    assert login.signed_in()


def test_the_lockout_page_says_what_is_left_of_the_lockout(olivia, clock):
    login = Login("portal")
    hammer(login, "olivia", times=5)
    clock.travel(COOL_OFF - timedelta(seconds=50))

    response = login.post("olivia", PASSWORD)

    assert response.status_code == 429
    assert 45 <= int(response["Retry-After"]) <= 50
    assert "1 minute" in response.text and "15 minutes" not in response.text


def test_failures_during_the_lockout_do_not_extend_it(olivia, clock):
    login = Login("portal")
    hammer(login, "olivia", times=5)
    clock.travel(COOL_OFF - timedelta(seconds=5))
    hammer(login, "olivia", times=5)

    clock.travel(timedelta(seconds=10))

    assert login.post("olivia", PASSWORD).status_code == 302


def test_another_user_at_the_same_address_is_not_locked_out(olivia, make_user):
    make_user("oscar")
    login = Login("portal")
    hammer(login, "olivia")

    response = login.post("oscar", PASSWORD)

    assert response.status_code == 302
    assert login.signed_in()


def test_the_same_user_from_another_address_is_not_locked_out(olivia):
    hammer(Login("portal", "198.51.100.7"), "olivia")
    elsewhere = Login("portal", "203.0.113.9")

    response = elsewhere.post("olivia", PASSWORD)

    assert response.status_code == 302


def test_the_portals_lockout_counts_on_the_admins_login_too(olivia):
    hammer(Login("portal"), "olivia", times=5)

    response = Login("admin").post("olivia", PASSWORD)

    assert response.status_code == 429


def test_a_success_before_the_limit_starts_the_count_again(olivia):
    login = Login("portal")
    hammer(login, "olivia", times=4)
    assert login.post("olivia", PASSWORD).status_code == 302
    login.client.logout()

    hammer(login, "olivia", times=4)

    assert login.post("olivia", PASSWORD).status_code == 302


def test_many_right_sign_ins_never_lock_anyone_out(olivia):
    login = Login("portal")
    for _ in range(20):
        assert login.post("olivia", PASSWORD).status_code == 302
        login.client.logout()


def test_a_lockout_is_recorded_once_in_the_audit_log_without_the_passwords(olivia):
    login = Login("portal")
    hammer(login, "olivia")
    login.post("olivia", PASSWORD)

    events = list(AuditEvent.objects.filter(action="signin.lockout"))

    assert len(events) == 1
    event = events[0]
    assert event.account is None
    assert event.actor_name == "system"
    assert event.source_ip == "198.51.100.7"
    assert event.target_name == "olivia"
    assert event.details == {"username": "olivia", "failures": 5}
    assert PASSWORD not in str(event.details)
    assert "guess" not in str(event.details)


def test_a_lockout_of_an_unknown_username_is_recorded_too(db):
    hammer(Login("portal"), "nobody", times=5)

    event = AuditEvent.objects.get(action="signin.lockout")

    assert event.target_name == ""
    assert event.details == {"username": "nobody", "failures": 5}


def test_each_failure_is_kept_for_support_staff_without_the_password(olivia):
    from axes.models import AccessAttempt, AccessFailureLog

    hammer(Login("portal"), "olivia", times=3)

    failures = list(AccessFailureLog.objects.filter(username="olivia"))
    attempt = AccessAttempt.objects.get(username="olivia")

    assert len(failures) == 3
    assert {f.ip_address for f in failures} == {"198.51.100.7"}
    assert "guess" not in attempt.post_data


def test_the_address_is_the_connections_not_a_forwarded_for_header(olivia):
    """X-Forwarded-For is anyone's to write: without a trusted proxy it must not pick the address."""
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    for i in range(20):
        attacker.post(
            reverse("login"),
            {"username": "olivia", "password": f"guess-{i}"},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
        )

    response = attacker.post(reverse("login"), {"username": "olivia", "password": PASSWORD})

    assert response.status_code == 429
