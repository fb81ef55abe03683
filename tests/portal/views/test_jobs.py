"""The Jobs blades: the list (filters, 50 a page at a fixed number of queries), a job's blade
(status, times, parameters, stream records with tabs, later records only), and Stop."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automation.models import Job, JobStatus
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import register_worker
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()
ROLES = ["owner", "operator", "reader", "stranger"]
XSS = "<script>alert(1)</script>"
DECLARED = [{"name": "service", "type": "string", "required": True}, {"name": "count", "type": "int", "default": 3}]


class World:
    """Runbooks "hello" and "other" published; groups "lab" (web-01, capacity 8) and "dmz" (empty)."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        for name in ("hello", "other"):
            runbook = create_runbook(
                account=people.account,
                name=name,
                runbook_type="bash",
                content="echo hi",
                parameters=DECLARED,
                actor=SYSTEM,
            )
            publish_runbook(runbook=runbook, actor=SYSTEM)
        self.worker = register_worker(
            account=people.account, group_name="lab", machine_id="machine-0001", name="web-01", facts={"capacity": 8}
        ).worker
        create_group(account=people.account, name="dmz", actor=SYSTEM)

    def start(self, runbook="hello", group="lab", **parameters) -> Job:
        return job_services.start_job(
            account=self.account,
            runbook_name=runbook,
            group_name=group,
            parameters={"service": "web", **parameters},
            actor=Actor(user=self.people.operator),
        )

    def running(self, *records) -> Job:
        """A new job taken by web-01 (as a claim would, but this one only) with these (stream, text)
        records, so Running."""
        job = self.start()
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.ACTIVATING,
            worker=self.worker,
            worker_name=self.worker.name,
            claimed_at=timezone.now(),
            lease_id=uuid.uuid4(),
        )
        job = Job.objects.get(pk=job.pk)
        job_services.append_records(
            worker=self.worker,
            job_id=job.pk,
            lease=job.lease_id,
            records=[
                job_services.Record(seq=i, stream=stream, text=text, time=timezone.now())
                for i, (stream, text) in enumerate(records)
            ],
        )
        return Job.objects.get(pk=job.pk)

    def finish(self, job, status="Completed", **kwargs) -> Job:
        job_services.finish_job(worker=self.worker, job_id=job.pk, lease=job.lease_id, status=status, **kwargs)
        return Job.objects.get(pk=job.pk)


@pytest.fixture
def world(people):
    return World(people)


RECORDS = [
    ("output", "starting"),
    ("verbose", "details"),
    ("warning", "disk almost full"),
    ("output", "working"),
    ("error", "could not reach db"),
    ("progress", "50%"),
    ("output", "done"),
]


def url(world, route, job=None) -> str:
    if job is None:
        return reverse(f"portal:{route}", args=[world.account.pk])
    return reverse(f"portal:{route}", args=[world.account.pk, job.pk])


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def rows(response) -> list[str]:
    return re.findall(r'<tr data-job-id="([^"]+)"', response.content.decode())


def seqs(response) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', response.content.decode())]


def pager(response) -> str:
    text = re.search(r'<div class="pager">\s*<span>([^<]+)</span>', response.content.decode()).group(1)
    return text.replace("\N{EN DASH}", "-")


def commands(response) -> list[str]:
    return re.findall(r'<a class="cmd[^"]*"[^>]*>\s*<svg[^>]*>.*?</svg>([^<]+)</a>', response.content.decode())


# ---- who may do what -----------------------------------------------------------------------------

ANSWERS = {
    ("jobs", "get"): (200, 200, 200, 404),
    ("job", "get"): (200, 200, 200, 404),
    ("job_streams", "get"): (200, 200, 200, 404),
    ("job_stop", "get"): (200, 200, 403, 404),
    ("job_stop", "post"): (302, 302, 403, 404),
}


@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, client_for, route, method, role):
    job = world.running(*RECORDS)
    client = client_for(world.people.by_role[role])
    before = state()

    target = url(world, route, None if route == "jobs" else job)
    response = client.get(target) if method == "get" else client.post(target)

    expected = ANSWERS[(route, method)][ROLES.index(role)]
    assert response.status_code == expected, response.content.decode()[:500]
    if expected in (403, 404):
        assert "errors/error.html" in templates(response)
        assert state() == before
        assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    if expected == 404:
        assert b"contoso-automation" not in response.content
        assert b"could not reach db" not in response.content


@pytest.mark.parametrize("route", ["job", "job_streams", "job_stop"])
def test_a_job_is_not_found_under_another_account(world, client_for, route):
    job = world.start()
    target = reverse(f"portal:{route}", args=[world.people.other_account.pk, job.pk])
    client = client_for(world.people.stranger)
    before = state()

    assert client.get(target).status_code == 404
    assert client.post(target).status_code == 404
    own_list = client.get(reverse("portal:jobs", args=[world.people.other_account.pk]))
    assert own_list.status_code == 200 and rows(own_list) == []
    assert state() == before


# ---- the list -------------------------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator", "reader"])
def test_every_member_sees_the_jobs_newest_first(world, client_for, role):
    first = world.start()
    second = world.finish(world.running(("output", "x")), exit_code=0)
    third = world.start("other", "dmz")

    response = client_for(world.people.by_role[role]).get(url(world, "jobs"))

    assert response.status_code == 200
    assert rows(response) == [str(third.pk), str(second.pk), str(first.pk)]
    html = response.content.decode()
    row = re.search(rf'<tr data-job-id="{second.pk}">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["hello", "Completed", "lab", "web-01"]
    row = re.search(rf'<tr data-job-id="{third.pk}">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[:4] == [
        "other",
        "Queued\nWaiting: hybrid worker group dmz has no workers. "
        "Register one with `hybridworker register --group dmz`.",
        "dmz",
        "—",
    ]
    assert cells[5] == "—"


def test_no_jobs_says_where_to_start_one(world, client_for):
    html = client_for(world.people.reader).get(url(world, "jobs")).content.decode()

    assert "No jobs. Start a runbook from its blade." in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=Queued", ["q-other-dmz", "q-hello-lab"]),
        ("status=Running", ["running"]),
        ("status=Completed", []),
        ("runbook=other", ["q-other-dmz"]),
        ("run_on=lab", ["running", "q-hello-lab"]),
        ("run_on=dmz&status=Queued", ["q-other-dmz"]),
        ("status=", ["q-other-dmz", "running", "q-hello-lab"]),
    ],
)
def test_the_list_filters_by_status_runbook_and_group(world, client_for, query, expected):
    names = {
        str(world.start().pk): "q-hello-lab",
        str(world.running().pk): "running",
        str(world.start("other", "dmz").pk): "q-other-dmz",
    }

    response = client_for(world.people.reader).get(url(world, "jobs") + "?" + query)

    assert response.status_code == 200
    assert [names[i] for i in rows(response)] == expected
    if not expected:
        assert "match these filters" in response.content.decode()


def test_the_filters_show_what_is_chosen(world, client_for):
    query = "?status=Failed&runbook=hello&started_by=webhook"
    html = client_for(world.people.reader).get(url(world, "jobs") + query).content.decode()

    assert '<option value="Failed" selected>' in html
    assert '<option value="webhook" selected>Webhook</option>' in html
    assert 'name="runbook" value="hello"' in html
    statuses = re.search(r'<select[^>]*name="status".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([A-Za-z]+)"', statuses) == [
        "New",
        "Queued",
        "Activating",
        "Running",
        "Stopping",
        "Completed",
        "Failed",
        "Stopped",
    ]


@pytest.mark.parametrize("query", ["status=Done", "status=queued"])
def test_an_unknown_status_filter_is_a_400(world, client_for, query):
    response = client_for(world.people.reader).get(url(world, "jobs") + "?" + query)

    assert response.status_code == 400
    assert b"status is one of New, Queued" in response.content


def test_the_list_filters_by_how_jobs_were_started_and_names_a_schedule_or_webhook(world, client_for):
    by_hand, by_schedule, by_webhook = world.start(), world.start(), world.start()
    Job.objects.filter(pk=by_schedule.pk).update(started_by_kind="schedule", started_by="Nightly <cleanup>")
    Job.objects.filter(pk=by_webhook.pk).update(started_by_kind="webhook", started_by="From monitoring")
    client = client_for(world.people.reader)

    html = client.get(url(world, "jobs")).content.decode()
    only_schedules = client.get(url(world, "jobs") + "?started_by=schedule")
    refused = client.get(url(world, "jobs") + "?started_by=robot")

    jobs = (by_hand, by_schedule, by_webhook)
    row = {j.pk: re.search(rf'<tr data-job-id="{j.pk}">(.*?)</tr>', html, re.S).group(1) for j in jobs}
    assert '<div class="muted small started-by">by schedule Nightly &lt;cleanup&gt;</div>' in row[by_schedule.pk]
    assert '<div class="muted small started-by">by webhook From monitoring</div>' in row[by_webhook.pk]
    assert "started-by" not in row[by_hand.pk]
    assert rows(only_schedules) == [str(by_schedule.pk)]
    assert refused.status_code == 400 and b"started_by is one of user, api" in refused.content


@pytest.mark.parametrize(
    ("kind", "name", "shown"),
    [("user", "oscar", "oscar"), ("api", "oscar", "oscar (API)"), ("schedule", "Nightly", "schedule Nightly")],
)
def test_the_blade_says_who_or_what_started_the_job(world, client_for, kind, name, shown):
    job = world.start()
    Job.objects.filter(pk=job.pk).update(started_by_kind=kind, started_by=name)

    html = client_for(world.people.reader).get(url(world, "job", job)).content.decode()

    assert f"<dt>Started by</dt><dd>{shown}</dd>" in html


def test_an_htmx_request_gets_just_the_table(world, client_for):
    world.start()

    response = client_for(world.people.reader).get(url(world, "jobs"), headers=HTMX)

    assert templates(response)[0] == "jobs/partials/table.html"
    assert b"<html" not in response.content and len(rows(response)) == 1


def bulk_jobs(world, n: int, *, status=JobStatus.COMPLETED):
    """n jobs straight into the table, a second apart, some with a worker and times."""
    runbook = world.account.runbooks.get(name="hello")
    version = runbook.versions.get()
    base = timezone.now() - timedelta(days=1)
    jobs = Job.objects.bulk_create(
        [
            Job(
                account=world.account,
                runbook=runbook,
                runbook_name="hello",
                version=version,
                version_number=1,
                group=world.worker.group,
                group_name="lab",
                status=status,
                worker=world.worker if i % 2 else None,
                worker_name="web-01" if i % 2 else "",
                started_at=base if i % 2 else None,
                ended_at=base + timedelta(seconds=90) if i % 2 else None,
                parameters={"service": f"s{i}"},
            )
            for i in range(n)
        ]
    )
    for i, job in enumerate(jobs):
        job.created_at = base + timedelta(seconds=i)
    Job.objects.bulk_update(jobs, ["created_at"])
    return jobs


def test_the_list_shows_50_jobs_a_page(world, client_for):
    jobs = bulk_jobs(world, 120)
    newest_first = [str(j.pk) for j in reversed(jobs)]
    client = client_for(world.people.reader)

    pages = [client.get(url(world, "jobs") + f"?page={n}") for n in (1, 2, 3)]

    assert [len(rows(p)) for p in pages] == [50, 50, 20]
    assert [pager(p) for p in pages] == ["1-50 of 120", "51-100 of 120", "101-120 of 120"]
    assert [row for p in pages for row in rows(p)] == newest_first
    assert 'href="?page=2"' in pages[0].content.decode()


@pytest.mark.parametrize(("page", "first"), [("0", 100), ("99", 100), ("x", 0)])
def test_an_out_of_range_or_bad_page_shows_a_page_anyway(world, client_for, page, first):
    jobs = list(reversed(bulk_jobs(world, 120)))

    response = client_for(world.people.reader).get(url(world, "jobs") + f"?page={page}")

    assert response.status_code == 200
    assert rows(response)[0] == str(jobs[first].pk)


def test_pages_keep_the_filters(world, client_for):
    bulk_jobs(world, 60)
    bulk_jobs(world, 3, status=JobStatus.FAILED)

    response = client_for(world.people.reader).get(url(world, "jobs") + "?status=Completed&run_on=lab")

    assert pager(response) == "1-50 of 60"
    assert 'href="?status=Completed&amp;run_on=lab&amp;page=2"' in response.content.decode()


def test_the_list_costs_the_same_queries_for_5_or_200_jobs(world, client_for):
    client = client_for(world.people.reader)

    def measure(expected_rows):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(world, "jobs"))
        assert response.status_code == 200
        assert len(rows(response)) == expected_rows
        return [q["sql"] for q in queries.captured_queries]

    bulk_jobs(world, 5)
    client.get(url(world, "jobs"))  # warm up: the first request of a session may load more
    with_5 = measure(5)
    bulk_jobs(world, 195)
    with_200 = measure(50)

    assert len(with_200) == len(with_5), "\n".join(with_200)


# ---- a job's blade ----------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_the_blade_shows_status_times_worker_version_who_and_parameters(world, client_for):
    job = world.finish(world.running(*RECORDS), status="Failed", exit_code=2, reason="could not reach db")

    response = client_for(world.people.reader).get(url(world, "job", job))

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<dd id="job-status" data-status="Failed">', html)
    assert "could not reach db" in re.search(r'<dd class="reason failed" id="job-reason">(.*?)</dd>', html).group(1)
    assert "lab / web-01" in html
    assert re.search(r">hello</a>, version 1", html)
    assert "<dt>Started by</dt><dd>oscar</dd>" in html
    assert "<dt>Exit code</dt><dd>2</dd>" in html
    assert "service=<bdi>web</bdi>" in html and "count=<bdi>3</bdi>" in html
    assert str(job.pk) in html
    assert seqs(response) == [0, 1, 2, 3, 4, 5, 6]
    for _, text in RECORDS:
        assert text in html


def test_a_queued_job_shows_what_it_waits_for(world, client_for):
    job = world.start()

    html = client_for(world.people.reader).get(url(world, "job", job)).content.decode()

    assert 'data-status="Queued"' in html
    assert "<dt>Ran on</dt><dd>lab</dd>" in html
    assert "<dt>Exit code</dt><dd>—</dd>" in html
    assert "No records yet." in html


@pytest.mark.parametrize(
    ("tab", "expected"),
    [("all", [0, 1, 2, 3, 4, 5, 6]), ("output", [0, 3, 6]), ("errors", [4]), ("warnings", [2]), ("nope", [])],
)
def test_the_tabs_filter_the_records(world, client_for, tab, expected):
    job = world.running(*RECORDS)

    response = client_for(world.people.reader).get(url(world, "job", job) + f"?tab={tab}")

    assert response.status_code == 200
    assert seqs(response)[: len(expected)] == expected
    if tab != "nope":
        assert seqs(response) == expected
        assert re.search(rf'<a href="\?tab={tab}" class="active">', response.content.decode())


def test_the_tabs_are_all_logs_output_errors_and_warnings(world, client_for):
    job = world.running(*RECORDS)

    html = client_for(world.people.reader).get(url(world, "job", job)).content.decode()

    tabs = re.search(r'<nav class="tabs"[^>]*>(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r">([^<]+)</a>", tabs) == ["All logs", "Output", "Errors", "Warnings"]


def test_an_htmx_request_for_the_blade_gets_just_the_summary(world, client_for):
    job = world.running(*RECORDS)

    response = client_for(world.people.reader).get(url(world, "job", job), headers=HTMX)

    assert templates(response)[0] == "jobs/partials/summary.html"
    assert b'data-status="Running"' in response.content
    assert b"<html" not in response.content and seqs(response) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [0, 1, 2, 3, 4, 5, 6]),
        ("?after=-1", [0, 1, 2, 3, 4, 5, 6]),
        ("?after=3", [4, 5, 6]),
        ("?after=6", []),
        ("?after=2&tab=output", [3, 6]),
        ("?after=0&tab=errors", [4]),
        ("?tab=warnings", [2]),
    ],
)
def test_the_streams_fragment_has_only_the_later_records(world, client_for, query, expected):
    job = world.running(*RECORDS)

    response = client_for(world.people.reader).get(url(world, "job_streams", job) + query)

    assert response.status_code == 200
    assert templates(response) == ["jobs/partials/records.html"]
    assert seqs(response) == expected


def test_records_sent_later_are_found_after_the_last_one_shown(world, client_for):
    job = world.running(*RECORDS[:2])
    client = client_for(world.people.reader)
    last = seqs(client.get(url(world, "job", job)))[-1]
    job_services.append_records(
        worker=world.worker,
        job_id=job.pk,
        lease=job.lease_id,
        records=[job_services.Record(seq=2, stream="output", text="later", time=timezone.now())],
    )

    response = client.get(url(world, "job_streams", job) + f"?after={last}")

    assert seqs(response) == [2]
    assert b"later" in response.content


@pytest.mark.parametrize("after", ["x", "1.5", ""])
def test_a_bad_after_is_a_400(world, client_for, after):
    job = world.running(*RECORDS)

    assert client_for(world.people.reader).get(url(world, "job_streams", job) + f"?after={after}").status_code == 400


@pytest.mark.sqlite
def test_runbook_output_is_text_and_never_markup(world, client_for):
    job = world.running(("output", XSS), ("error", f"<img src=x onerror=alert(2)>{XSS}"), ("warning", "a & b"))
    job_services.request_stop(job=Job.objects.get(pk=job.pk), actor=SYSTEM)
    job = world.finish(job, status="Failed", exit_code=1, reason=XSS)
    client = client_for(world.people.reader)

    for response in (
        client.get(url(world, "job", job)),
        client.get(url(world, "job", job) + "?tab=errors"),
        client.get(url(world, "job", job), headers=HTMX),
        client.get(url(world, "job_streams", job)),
        client.get(url(world, "job_streams", job) + "?after=0"),
    ):
        html = response.content.decode()
        assert response.status_code == 200
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &amp; b" in client.get(url(world, "job_streams", job)).content.decode()


def test_parameters_are_text_too(world, client_for):
    job = world.start(service=XSS)

    html = client_for(world.people.reader).get(url(world, "job", job)).content.decode()

    assert "<script>alert" not in html
    assert "service=<bdi>&lt;script&gt;alert(1)&lt;/script&gt;</bdi>" in html


# ---- stop -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status", "offered"),
    [
        ("operator", "queued", True),
        ("owner", "running", True),
        ("operator", "stopping", False),
        ("operator", "completed", False),
        ("reader", "queued", False),
        ("reader", "running", False),
    ],
)
def test_stop_is_offered_to_operators_while_the_job_can_stop(world, client_for, role, status, offered):
    job = {
        "queued": lambda: world.start(),
        "running": lambda: world.running(("output", "x")),
        "stopping": lambda: job_services.request_stop(job=world.running(), actor=SYSTEM),
        "completed": lambda: world.finish(world.running()),
    }[status]()

    response = client_for(world.people.by_role[role]).get(url(world, "job", job))

    assert ("Stop" in commands(response)) is offered
    assert (url(world, "job_stop", job) in response.content.decode()) is offered


def test_the_stop_dialog_asks_yes_or_no(world, client_for):
    job = world.running(("output", "x"))
    client = client_for(world.people.operator)

    page = client.get(url(world, "job_stop", job))
    partial = client.get(url(world, "job_stop", job), headers=HTMX)

    assert "shell/dialog_page.html" in templates(page)
    assert b"<html" not in partial.content
    for response in (page, partial):
        html = response.content.decode()
        assert "Are you sure you want to stop this job of <strong>hello</strong> on web-01?" in html
        dialog = html[html.index('<div class="dialog"') :]
        assert re.findall(r"<button [^>]*>([^<]+)</button>", dialog) == ["Yes", "No"]
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING


@pytest.mark.sqlite
@pytest.mark.parametrize("htmx", [False, True])
def test_stopping_a_queued_job_stops_it_and_goes_back_to_its_blade(world, client_for, htmx):
    job = world.start()

    response = client_for(world.people.operator).post(url(world, "job_stop", job), headers=htmx_headers(htmx))

    assert (response["HX-Redirect"] if htmx else response["Location"]) == url(world, "job", job)
    assert Job.objects.get(pk=job.pk).status == JobStatus.STOPPED


@pytest.mark.sqlite
def test_stopping_a_running_job_asks_its_worker(world, client_for):
    job = world.running(("output", "x"))
    client = client_for(world.people.owner)

    client.post(url(world, "job_stop", job))

    assert Job.objects.get(pk=job.pk).status == JobStatus.STOPPING
    assert job_services.stop_requests(worker=world.worker) == [str(job.pk)]
    assert 'data-status="Stopping"' in client.get(url(world, "job", job)).content.decode()


def test_stopping_a_finished_job_says_it_ended(world, client_for):
    job = world.finish(world.running())
    before = state()

    response = client_for(world.people.operator).post(url(world, "job_stop", job), follow=True)

    assert response.redirect_chain[-1][0] == url(world, "job", job)
    assert "This job already ended (Completed)." in response.content.decode()
    assert state() == before


# ---- parent and child jobs (Start-AutomationRunbook) ------------------------------------------------------


def child_of(world, parent, n=1) -> list[Job]:
    return [
        job_services.start_child_job(
            parent=parent, runbook_name="other", parameters={"service": f"c{i}"}, worker=world.worker
        )
        for i in range(n)
    ]


@pytest.mark.sqlite
def test_the_list_says_which_job_started_a_child_with_a_link_to_it(world, client_for):
    parent = world.running()
    (child,) = child_of(world, parent)

    html = client_for(world.people.reader).get(url(world, "jobs")).content.decode()

    row = re.search(rf'<tr data-job-id="{child.pk}">(.*?)</tr>', html, re.S).group(1)
    link = reverse("portal:job", args=[world.account.pk, parent.pk])
    assert f'child of <a class="mono" href="{link}">{str(parent.pk)[:8]}</a>' in row
    parent_row = re.search(rf'<tr data-job-id="{parent.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "child of" not in parent_row


@pytest.mark.sqlite
def test_a_childs_blade_links_its_parent_and_the_parents_blade_lists_its_children(world, client_for):
    parent = world.running()
    first, second = child_of(world, parent, 2)
    client = client_for(world.people.reader)

    child_html = client.get(url(world, "job", first)).content.decode()
    parent_html = client.get(url(world, "job", parent)).content.decode()

    parent_link = reverse("portal:job", args=[world.account.pk, parent.pk])
    assert re.search(
        rf'<dt>Started by</dt><dd>job <a class="mono" href="{parent_link}">{str(parent.pk)[:8]}…</a></dd>', child_html
    )
    assert "<dt>Child jobs</dt>" not in child_html
    listed = re.search(r'<dd id="job-children">(.*?)</dd>', parent_html, re.S).group(1)
    assert re.findall(r'href="/accounts/[^/]+/jobs/([^/"]+)/"', listed) == [str(first.pk), str(second.pk)]
    assert "<dt>Started by</dt><dd>oscar</dd>" in parent_html


def test_a_parents_blade_costs_the_same_queries_for_2_or_30_children(world, client_for):
    parent = world.running()
    client = client_for(world.people.reader)
    client.get(url(world, "job", parent))  # warm up

    def measure():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(world, "job", parent))
        assert response.status_code == 200
        return response.content.decode().count('<li><a class="mono"'), [q["sql"] for q in queries.captured_queries]

    child_of(world, parent, 2)
    shown_few, few = measure()
    child_of(world, parent, 28)
    shown_many, many = measure()

    assert (shown_few, shown_many) == (2, 30)
    assert len(many) == len(few), "\n".join(many)
