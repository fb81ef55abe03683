"""The suite's own helpers (tests/support): one wait, one password hasher, htmx headers, one state snapshot,
the builders."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from automation.models import AuditEvent, HybridWorker, JobStatus
from tests.support.builders import make_group, make_runbook, make_worker, start
from tests.support.htmx import BOOSTED, HTMX, htmx_headers
from tests.support.processes import BASE_DIR
from tests.support.state import state
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


def test_htmx_headers_are_htmx_s_own_or_none():
    assert htmx_headers(True) == HTMX == {"HX-Request": "true"}
    assert htmx_headers(False) == {}
    assert BOOSTED == {"HX-Request": "true", "HX-Boosted": "true"}


@pytest.mark.django_db
def test_the_state_snapshot_holds_every_automation_model_and_sees_any_column_change(people):
    worker = make_worker(people.account)
    before = state()
    assert set(before) == {model.__name__ for model in apps.get_app_config("automation").get_models()}

    HybridWorker.objects.filter(pk=worker.pk).update(os="Plan 9")
    assert state() != before


@pytest.mark.django_db
def test_the_state_snapshot_leaves_out_the_stamps_a_refused_request_still_moves(people):
    worker = make_worker(people.account)
    before, everything = state(), state(ignoring=())

    HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=timezone.now() + timedelta(minutes=1))
    assert state() == before
    assert state(ignoring=()) != everything


@pytest.mark.django_db
def test_the_builders_go_through_the_services(people):
    runbook = make_runbook(people.account)
    make_group(people.account, "lab")
    job = start(people.account)

    assert list(runbook.versions.values_list("number", flat=True)) == [1]
    assert job.status == JobStatus.QUEUED and job.group.name == "lab"
    assert AuditEvent.objects.filter(action="runbook.publish", account=people.account).exists()
