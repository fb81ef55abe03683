"""Management API (and the portal's job pages) under faults: secrets never shown back, why a queued job
waits (at a fixed number of queries), Test pane runs kept out of the list, and a runbook's retries and
default timeout, refused whole when wrong."""

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from automation.models import AuditEvent, HybridWorker, Job, JobStatus, Runbook
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.leases import reclaim_lost_jobs
from automation.services.presence import offline_after
from automation.services.runbooks import MASK, MAX_TIMEOUT_SECONDS, create_runbook, publish_runbook, update_draft
from automation.services.tokens import create_token
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()
SECRET = "Tr0ub4dor&3-\u00e9\u00e8"
DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "token", "type": "secret", "required": True},
]


def api(user) -> APIClient:
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    token = create_token(user=user, name="tests", expires_days=None, actor=SYSTEM).plain
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


class World:
    """Runbook "deploy" (published, a secret parameter, retries 1, default timeout 900); group "lab"
    with web-01 (capacity 2)."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        self.runbook = create_runbook(
            account=self.account,
            name="deploy",
            runbook_type="bash",
            content="echo deploy",
            parameters=DECLARED,
            retries=1,
            timeout_seconds=900,
            actor=SYSTEM,
        )
        publish_runbook(runbook=self.runbook, actor=SYSTEM)
        self.worker = register_worker(
            account=self.account, group_name="lab", machine_id="machine-web-01", name="web-01", facts={"capacity": 2}
        ).worker

    def url(self, rest="") -> str:
        return f"/api/v1/accounts/{self.account.pk}/{rest}"

    def runbook_url(self, name="deploy") -> str:
        return self.url(f"runbooks/{quote(name)}/")

    def start(self, group="lab", **parameters) -> Job:
        return job_services.start_job(
            account=self.account,
            runbook_name="deploy",
            group_name=group,
            parameters={"service": "web", "token": SECRET, **parameters},
            actor=SYSTEM,
        )

    def page(self, client, job) -> str:
        response = client.get(reverse("portal:job", args=[self.account.pk, job.pk]))
        assert response.status_code == 200
        return response.content.decode()


@pytest.fixture
def world(people) -> World:
    return World(people)


def runbook_state() -> tuple:
    return (
        sorted(Runbook.objects.values_list("name", "draft", "description", "parameters", "retries", "timeout_seconds")),
        AuditEvent.objects.count(),
    )


# ---- secrets ---------------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_secret_never_comes_back_from_the_api_the_activity_log_or_the_portal(world, client_for):
    operator = api(world.people.operator)

    started = operator.post(
        world.url("jobs/"),
        {"runbook": "deploy", "run_on": "lab", "parameters": {"service": "web", "token": SECRET}},
        format="json",
    )

    assert started.status_code == 201, started.content
    assert started.json()["parameters"] == {"service": "web", "token": MASK}
    job = Job.objects.get(pk=started.json()["id"])
    assert job.secret_parameters and SECRET not in job.secret_parameters
    reader = api(world.people.reader)
    answers = [
        started,
        reader.get(world.url(f"jobs/{job.pk}/")),
        reader.get(world.url("jobs/")),
        reader.get(world.url(f"jobs/{job.pk}/streams/")),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201)
        assert SECRET not in answer.content.decode()
        assert json.dumps(SECRET)[1:-1] not in answer.content.decode()  # nor JSON-escaped
    assert reader.get(world.url(f"jobs/{job.pk}/")).json()["parameters"]["token"] == MASK
    events = json.dumps(list(AuditEvent.objects.values()), default=str, ensure_ascii=False)
    assert SECRET not in events
    browser = client_for(world.people.owner)
    for page in (
        world.page(browser, job),
        browser.get(reverse("portal:jobs", args=[world.account.pk])).content.decode(),
        browser.get(reverse("portal:activity", args=[world.account.pk])).content.decode(),
    ):
        assert SECRET not in page and escape(SECRET) not in page
    assert f"token=<bdi>{MASK}</bdi>" in world.page(browser, job)


@pytest.mark.sqlite
def test_the_secret_is_cleared_once_the_job_ends(world):
    job = world.start()
    (claimed,) = job_services.claim_jobs(worker=world.worker)
    assert job_services.job_for_agent(claimed)["parameters"]["token"] == SECRET

    job_services.finish_job(worker=world.worker, job_id=job.pk, lease=claimed.lease_id, status="Completed")

    stored = Job.objects.get(pk=job.pk)
    assert (stored.secret_parameters, stored.parameters["token"]) == ("", MASK)


@pytest.mark.sqlite
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_secret_with_a_default_is_refused_by_the_api(world, method):
    declared = [{"name": "token", "type": "secret", "default": SECRET}]
    client = api(world.people.operator)
    before = runbook_state()

    if method == "post":
        response = client.post(
            world.url("runbooks/"), {"name": "new", "runbook_type": "bash", "parameters": declared}, format="json"
        )
    else:
        response = client.patch(world.runbook_url(), {"content": "echo x", "parameters": declared}, format="json")

    error = assert_error(response, 400, "invalid")
    assert error["field"] == "parameters" and "secret" in error["detail"]
    assert SECRET not in response.content.decode()
    assert runbook_state() == before


# ---- why a queued job waits ---------------------------------------------------------------------------------


def reasons_shown(world, client_for, job) -> tuple[str, str]:
    """(status_reason from the API, the Reason on the portal's job blade)."""
    body = api(world.people.reader).get(world.url(f"jobs/{job.pk}/")).json()
    listed = {row["id"]: row for row in api(world.people.reader).get(world.url("jobs/")).json()["results"]}
    assert listed[str(job.pk)]["status_reason"] == body["status_reason"]
    page = world.page(client_for(world.people.reader), job)
    return body["status_reason"], page


def stamp(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"


def offline(*names, seen=None):
    HybridWorker.objects.filter(name__in=names).update(last_seen_at=seen)


@pytest.mark.sqlite
@pytest.mark.parametrize("case", ["no workers", "all offline", "all busy", "free slot", "retried"])
def test_a_queued_job_says_why_it_waits_in_the_api_and_on_its_blade(world, client_for, case):
    seen = timezone.now() - timedelta(hours=2)
    if case == "no workers":
        create_group(account=world.account, name="empty", actor=SYSTEM)
        job = world.start(group="empty")
        expected = (
            "Waiting: hybrid worker group empty has no workers. "
            "Register one with `hybridworker register --group empty`."
        )
    elif case == "all offline":
        register_worker(account=world.account, group_name="lab", machine_id="machine-web-02", name="web-02", facts={})
        offline("web-01", seen=seen)
        offline("web-02", seen=None)
        job = world.start()
        expected = f"Waiting: every worker in group lab is offline (web-01 last seen {stamp(seen)}, web-02 never seen)."
    elif case == "all busy":
        world.start(), world.start()
        job_services.claim_jobs(worker=world.worker, limit=2)
        job = world.start()
        expected = (
            "Waiting: every online worker in group lab is at capacity (2 of 2 slots busy); it runs when a job ends."
        )
    elif case == "free slot":
        job = world.start()
        expected = "Waiting for a worker of group lab to pick it up (0 of 2 slots busy)."
    else:
        job = world.start()
        (claimed,) = job_services.claim_jobs(worker=world.worker)
        job_services.append_records(worker=world.worker, job_id=job.pk, lease=claimed.lease_id, records=[])
        HybridWorker.objects.update(last_seen_at=timezone.now() - offline_after() - timedelta(seconds=1))
        assert reclaim_lost_jobs().retried == [str(job.pk)]
        HybridWorker.objects.update(last_seen_at=timezone.now())
        expected = (
            "worker lost: web-01 stopped heartbeating or was removed; retrying. "
            "Waiting for a worker of group lab to pick it up (0 of 2 slots busy)."
        )

    reason, page = reasons_shown(world, client_for, job)

    assert reason == expected
    assert f'id="job-reason">{escape(expected)}</dd>' in page


@pytest.mark.sqlite
def test_a_job_that_is_not_queued_shows_its_own_reason(world, client_for):
    job = world.start()
    (claimed,) = job_services.claim_jobs(worker=world.worker)
    job_services.finish_job(
        worker=world.worker, job_id=job.pk, lease=claimed.lease_id, status="Failed", reason="exit 3: disk full"
    )

    reason, page = reasons_shown(world, client_for, job)

    assert reason == "exit 3: disk full"
    assert 'id="job-reason">exit 3: disk full</dd>' in page


GROUPS = ["lab", "empty", "g0", "g1", "g2"]


def make_groups(world) -> None:
    """Four more groups: an empty one, one whose worker is offline, and two with a free slot."""
    create_group(account=world.account, name="empty", actor=SYSTEM)
    for i in range(3):
        register_worker(account=world.account, group_name=f"g{i}", machine_id=f"machine-g{i}", name=f"g{i}", facts={})
    offline("g0", seen=timezone.now() - timedelta(days=1))


def spread(world, count: int) -> None:
    for i in range(count):
        world.start(group=GROUPS[i % len(GROUPS)])


@pytest.mark.parametrize("where", ["api", "portal"])
def test_explaining_a_page_of_queued_jobs_costs_the_same_for_5_as_for_50(world, client_for, where):
    reader = api(world.people.reader) if where == "api" else client_for(world.people.reader)
    url = world.url("jobs/") if where == "api" else reverse("portal:jobs", args=[world.account.pk])
    make_groups(world)
    spread(world, 5)
    reader.get(url)  # warm up: sessions, content types

    with CaptureQueriesContext(connection) as few:
        small = reader.get(url)
    spread(world, 45)
    with CaptureQueriesContext(connection) as many:
        large = reader.get(url)

    assert small.status_code == large.status_code == 200
    if where == "api":
        shown = [row["status_reason"] for row in large.json()["results"]]
        assert len(shown) == 50 and all(reason.startswith("Waiting") for reason in shown)
        assert len({reason for reason in shown}) == len(GROUPS)
    else:
        assert large.content.decode().count('class="muted small waiting-reason"') == 50
    assert len(many) == len(few)


# ---- Test pane runs ----------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_test_pane_run_is_left_out_of_the_jobs_list_but_reachable_by_its_id(world, client_for):
    update_draft(runbook=world.runbook, actor=SYSTEM, content="echo draft")
    test = job_services.start_test(
        runbook=world.runbook, group_name="lab", actor=SYSTEM, parameters={"service": "x", "token": SECRET}
    )
    published = world.start()
    reader = api(world.people.reader)

    listed = [row["id"] for row in reader.get(world.url("jobs/")).json()["results"]]
    queued = [row["id"] for row in reader.get(world.url("jobs/?status=Queued")).json()["results"]]
    detail = reader.get(world.url(f"jobs/{test.pk}/")).json()

    assert listed == queued == [str(published.pk)]
    assert (detail["test"], detail["version"], detail["status"], detail["timeout_seconds"]) == (
        True,
        None,
        "Queued",
        900,
    )
    assert detail["parameters"] == {"service": "x", "token": MASK}
    assert reader.get(world.url(f"jobs/{test.pk}/streams/")).status_code == 200
    normal = reader.get(world.url(f"jobs/{published.pk}/")).json()
    assert (normal["test"], normal["version"]) == (False, 1)
    portal_list = client_for(world.people.reader).get(reverse("portal:jobs", args=[world.account.pk]))
    assert str(test.pk) not in portal_list.content.decode()
    assert "draft (test)" in world.page(client_for(world.people.reader), test)


# ---- a runbook's retries and default timeout ------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_runbook_is_created_with_its_retries_and_default_timeout(world):
    client = api(world.people.operator)

    made = client.post(
        world.url("runbooks/"),
        {"name": "nightly", "runbook_type": "python3", "content": "print(1)", "retries": 3, "timeout_seconds": 60},
        format="json",
    )
    plain = client.post(world.url("runbooks/"), {"name": "plain", "runbook_type": "bash"}, format="json")

    assert made.status_code == plain.status_code == 201, (made.content, plain.content)
    assert (made.json()["retries"], made.json()["timeout_seconds"]) == (3, 60)
    assert (plain.json()["retries"], plain.json()["timeout_seconds"]) == (0, None)
    stored = Runbook.objects.get(name="nightly")
    assert (stored.retries, stored.timeout_seconds) == (3, 60)


BAD_SETTINGS = [
    ({"retries": 4}, "retries"),
    ({"retries": -1}, "retries"),
    ({"retries": "1"}, "retries"),
    ({"retries": True}, "retries"),
    ({"retries": 1.5}, "retries"),
    ({"retries": None}, "retries"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"timeout_seconds": -5}, "timeout_seconds"),
    ({"timeout_seconds": "60"}, "timeout_seconds"),
    ({"timeout_seconds": True}, "timeout_seconds"),
    ({"timeout_seconds": 1.5}, "timeout_seconds"),
    ({"timeout_seconds": MAX_TIMEOUT_SECONDS + 1}, "timeout_seconds"),
]


@pytest.mark.sqlite
@pytest.mark.parametrize(("change", "field"), BAD_SETTINGS)
def test_a_bad_setting_at_creation_is_400_and_creates_nothing(world, change, field):
    client = api(world.people.operator)
    before = runbook_state()

    response = client.post(
        world.url("runbooks/"), {"name": "nightly", "runbook_type": "bash", "content": "echo", **change}, format="json"
    )

    assert_error(response, 400, "invalid", field=field)
    assert runbook_state() == before


@pytest.mark.sqlite
def test_patching_the_settings_changes_only_them(world):
    client = api(world.people.operator)

    response = client.patch(world.runbook_url(), {"retries": 3, "timeout_seconds": None}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["retries"], response.json()["timeout_seconds"]) == (3, None)
    stored = Runbook.objects.get(pk=world.runbook.pk)
    assert (stored.retries, stored.timeout_seconds, stored.draft) == (3, None, "echo deploy")
    # A patch that does not name them leaves them be.
    assert client.patch(world.runbook_url(), {"content": "echo v2"}, format="json").status_code == 200
    stored.refresh_from_db()
    assert (stored.retries, stored.timeout_seconds, stored.draft) == (3, None, "echo v2")
    assert AuditEvent.objects.filter(action="runbook.edit").count() == 2


@pytest.mark.sqlite
@pytest.mark.parametrize(("change", "field"), BAD_SETTINGS)
def test_a_patch_with_a_bad_setting_changes_nothing_not_even_the_content(world, change, field):
    client = api(world.people.operator)
    before = runbook_state()

    response = client.patch(
        world.runbook_url(),
        {"content": "echo replaced", "description": "replaced", "parameters": [], **change},
        format="json",
    )

    assert_error(response, 400, "invalid", field=field)
    assert runbook_state() == before
    assert Runbook.objects.get(pk=world.runbook.pk).draft == "echo deploy"


@pytest.mark.sqlite
def test_a_reader_cannot_change_the_settings(world):
    client = api(world.people.reader)
    before = runbook_state()

    response = client.patch(world.runbook_url(), {"retries": 0}, format="json")

    assert response.status_code == 403
    assert runbook_state() == before


@pytest.mark.sqlite
@pytest.mark.parametrize(("runbook_default", "given", "stored"), [(900, None, 900), (900, 30, 30), (None, None, None)])
def test_a_job_gets_the_runbooks_default_timeout_unless_it_has_its_own(world, runbook_default, given, stored):
    Runbook.objects.filter(pk=world.runbook.pk).update(timeout_seconds=runbook_default)
    body = {"runbook": "deploy", "run_on": "lab", "parameters": {"service": "web", "token": "t"}}
    if given is not None:
        body["timeout_seconds"] = given

    response = api(world.people.operator).post(world.url("jobs/"), body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["timeout_seconds"] == stored
    job = Job.objects.get(pk=response.json()["id"])
    assert job.timeout_seconds == stored
    (claimed,) = job_services.claim_jobs(worker=world.worker)
    assert job_services.job_for_agent(claimed)["timeout_seconds"] == stored
    assert (job.retries_left, job.attempt, job.status) == (1, 1, JobStatus.QUEUED)
