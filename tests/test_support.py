"""The suite's own helpers (tests/support): one wait, one password hasher."""

import subprocess
import sys

import pytest

from tests.support.processes import BASE_DIR
from tests.support.waiting import wait_until

pytestmark = pytest.mark.sqlite


def test_wait_until_returns_the_first_truthy_answer():
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), "the third answer", every=0) == "ready"


def test_wait_until_names_what_it_waited_for_and_the_context_when_it_gives_up():
    calls = []

    def never():
        calls.append(1)
        return False

    with pytest.raises(AssertionError, match=r"waiting for the moon\nwhat the agent said: nothing") as raised:
        wait_until(never, "the moon", timeout=0, every=0, context=lambda: "what the agent said: nothing")
    assert "timed out after 0 s" in str(raised.value)
    assert calls, "the condition is asked at least once"


@pytest.mark.django_db
def test_users_get_the_fast_hasher(make_user):
    assert make_user("hasty").password.startswith("md5$")


def test_server_processes_check_passwords_with_the_same_hasher(server_env, make_user):
    # A browser signs in against daphne with a password this process stored.
    stored = make_user("shared").password
    script = (
        "import django; django.setup(); from django.contrib.auth.hashers import check_password; "
        f"print(check_password('correct horse battery', {stored!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=server_env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "True", result.stderr
