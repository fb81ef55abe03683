"""The runbook blade's editor form and its Test pane: who may test, the draft saved before the test starts
(and nothing started when it cannot be saved), the form's refusals, secrets never shown back, the test's
output fragment and Stop."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils.html import escape

from automation.models import AuditEvent, Job, JobStatus, JobStream
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.runbooks import MASK, create_runbook
from automation.services.workers import register_worker
from tests.support.htmx import HTMX
from tests.support.state import state

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()
ROLES = ["owner", "operator", "reader", "stranger"]
DRAFT = 'echo "checking $1"\n'
DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "count", "type": "int", "default": 3},
    {"name": "token", "type": "secret"},
]
# DECLARED as the service keeps it.
SAVED_DECLARATION = [
    {"name": "service", "type": "string", "required": True},
    {"name": "count", "type": "int", "required": False, "default": 3},
    {"name": "token", "type": "secret", "required": False},
]
SECRET = "s3cr3t-Value-42"


@pytest.fixture
def book(people):
    """A Bash runbook never published, with a draft and a declaration; groups "lab" (one worker) and "dmz"."""
    register_worker(account=people.account, group_name="lab", machine_id="machine-lab", name="web-01", facts={})
    create_group(account=people.account, name="dmz", actor=SYSTEM)
    return create_runbook(
        account=people.account,
        name="check",
        runbook_type="bash",
        content=DRAFT,
        parameters=DECLARED,
        description="Checks a service.",
        actor=SYSTEM,
    )


def url(people, route, runbook, job=None) -> str:
    args = [people.account.pk, runbook.pk] + ([job.pk] if job is not None else [])
    return reverse(f"portal:{route}", args=args)


def started_test(runbook, group="lab", **parameters) -> Job:
    return job_services.start_test(
        runbook=runbook, group_name=group, actor=SYSTEM, parameters={"service": "web", **parameters}
    )


def field_errors(html: str, name: str) -> list[str]:
    for block in re.findall(r'<div class="field">(.*?)</div>', html, re.S):
        if f'name="{name}"' in block:
            errors = re.search(r'<ul class="errors">(.*?)</ul>', block, re.S)
            return re.findall(r"<li>(.*?)</li>", errors.group(1)) if errors else []
    raise AssertionError(f"no field {name} in the page")


def form_errors(html: str) -> list[str]:
    errors = re.search(r'<ul class="form-errors">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", errors.group(1)) if errors else []


def start_body(**extra) -> dict:
    return {
        "run_on": "lab",
        "param_service": "nginx",
        "param_count": "",
        "param_token": "",
        "timeout_seconds": "",
    } | extra


# ---- who may test ------------------------------------------------------------------------------------

# (route, method): status for owner, operator, reader, stranger
ANSWERS = {
    ("runbook_test", "get"): (200, 200, 403, 404),
    ("runbook_test", "post"): (302, 302, 403, 404),
    ("runbook_test_output", "get"): (200, 200, 403, 404),
    ("runbook_test_stop", "get"): (200, 200, 403, 404),
    ("runbook_test_stop", "post"): (302, 302, 403, 404),
}


@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(people, client_for, book, route, method, role):
    job = started_test(book) if route != "runbook_test" else None
    before = state()
    target = url(people, route, book, job)
    client = client_for(people.by_role[role])

    body = start_body(content="echo changed") if route == "runbook_test" else {}
    response = client.get(target) if method == "get" else client.post(target, body)

    expected = ANSWERS[(route, method)][ROLES.index(role)]
    assert response.status_code == expected, response.content.decode()[:500]
    if expected in (403, 404):
        assert "errors/error.html" in [t.name for t in response.templates]
        assert state() == before
    if expected == 404:
        assert b"contoso-automation" not in response.content
    if method == "post" and expected == 302:
        assert state() != before


@pytest.mark.parametrize(("role", "offered"), [("owner", True), ("operator", True), ("reader", False)])
def test_the_test_pane_is_offered_to_operators_and_owners(people, client_for, book, role, offered):
    html = client_for(people.by_role[role]).get(url(people, "runbook", book)).content.decode()

    assert (">Test pane<" in html) is offered
    assert ('id="test-pane"' in html) is offered
    assert (url(people, "runbook_test", book) in html) is offered


def test_a_reader_sees_the_draft_read_only(people, client_for, book):
    html = client_for(people.reader).get(url(people, "runbook", book)).content.decode()

    for name in ("description", "parameters", "content"):
        tag = re.search(rf'<textarea name="{name}"[^>]*>', html).group(0)
        assert " readonly" in tag, tag
    assert 'data-editor-mode="sh"' in html


@pytest.mark.parametrize(
    ("runbook_type", "mode"), [("python3", "python"), ("bash", "sh"), ("powershell", "powershell")]
)
def test_the_editor_gets_the_language_of_the_runbook_type(people, client_for, runbook_type, mode):
    runbook = create_runbook(account=people.account, name="r", runbook_type=runbook_type, actor=SYSTEM)

    html = client_for(people.operator).get(url(people, "runbook", runbook)).content.decode()

    assert f'data-editor-mode="{mode}"' in html
    assert f"/static/vendor/ace/mode-{mode}.js" in html
    assert "/static/vendor/ace/ace.js" in html and "/static/js/runbook-editor.js" in html
    # Progressive: the draft is still a textarea of the form; the editor only writes into it.
    assert re.search(r'<textarea name="content"[^>]*>', html)
    assert " readonly" not in re.search(r'<textarea name="content"[^>]*>', html).group(0)


def test_the_vendored_editor_files_are_served(people, client_for, book):
    client = client_for(people.operator)
    html = client.get(url(people, "runbook", book)).content.decode()

    for path in re.findall(r'src="(/static/[^"]+)"', html) + re.findall(r'href="(/static/[^"]+\.css)"', html):
        if "django_htmx" in path:
            continue
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content) if response.streaming else response.content


# ---- opening the pane --------------------------------------------------------------------------------


def test_the_pane_has_the_groups_and_a_field_per_parameter_of_the_draft(people, client_for, book):
    response = client_for(people.operator).get(url(people, "runbook_test", book), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "runbooks/partials/test_pane.html" in [t.name for t in response.templates]
    assert "<html" not in html
    assert re.findall(r'<option value="([^"]+)"', html) == ["dmz", "lab"]
    assert 'name="param_service"' in html and 'name="param_count"' in html and 'name="timeout_seconds"' in html
    assert re.search(r'<input type="password" name="param_token"[^>]*autocomplete="new-password"', html)
    assert 'value="3"' in html  # the declared default
    # The draft is not published: the pane tests it all the same, with the draft's own declaration.
    assert not book.versions.exists()
    assert 'hx-include="#runbook-form"' in html
    assert "No test has run yet." in html
    assert 'id="test_run_on"' in html  # ids of its own: the Start dialog may be open on the same page


def test_without_javascript_the_pane_is_a_page(people, client_for, book):
    response = client_for(people.operator).get(url(people, "runbook_test", book))

    assert "runbooks/test.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "Test pane" in html and 'class="test-pane standalone"' in html


def test_the_pane_without_groups_says_how_to_get_one(people, client_for):
    runbook = create_runbook(account=people.account, name="lonely", runbook_type="bash", content="echo", actor=SYSTEM)

    html = client_for(people.operator).get(url(people, "runbook_test", runbook), headers=HTMX).content.decode()

    assert "There is no hybrid worker group to run on yet." in html
    assert "<form" not in html


def test_the_pane_shows_the_latest_test_and_picks_its_group(people, client_for, book):
    started_test(book, group="lab")
    latest = started_test(book, group="dmz")

    html = client_for(people.operator).get(url(people, "runbook_test", book), headers=HTMX).content.decode()

    assert f'data-live-job="{latest.pk}"' in html
    assert re.search(r'<option value="dmz" selected>', html)
    assert url(people, "runbook_test_output", book, latest) in html


@pytest.mark.parametrize("wanted", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "a normal job"])
def test_only_a_test_of_this_runbook_can_be_asked_for(people, client_for, book, wanted):
    if wanted == "a normal job":
        from automation.services.runbooks import publish_runbook

        publish_runbook(runbook=book, actor=SYSTEM)
        wanted = job_services.start_job(
            account=people.account, runbook_name="check", group_name="lab", actor=SYSTEM, parameters={"service": "x"}
        ).pk

    response = client_for(people.operator).get(f"{url(people, 'runbook_test', book)}?job={wanted}")

    assert response.status_code == 404


# ---- starting a test ---------------------------------------------------------------------------------


def test_start_queues_a_test_of_the_draft_and_shows_it_live(people, client_for, book):
    response = client_for(people.operator).post(url(people, "runbook_test", book), start_body(), headers=HTMX)

    assert response.status_code == 200, response.content.decode()[:800]
    job = Job.objects.get()
    assert (job.is_test, job.version_number, job.version, job.group_name) == (True, 0, None, "lab")
    assert job.test_snapshot["content"] == DRAFT
    assert job.parameters == {"service": "nginx", "count": 3}
    assert job.started_by == "oscar"
    html = response.content.decode()
    live = re.search(r'<div id="test-output"[^>]*>', html).group(0)
    assert 'data-live-refresh="job-status job-streams"' in live
    assert f'data-live-job="{job.pk}"' in live
    assert f'data-live-src="{url(people, "runbook_test_output", book, job)}"' in live
    assert "Draft (test)" in html
    assert ">Stop<" in html
    assert "data-draft-saved" not in html  # nothing was posted to save


@pytest.mark.sqlite
def test_the_editor_content_posted_along_is_saved_before_the_test_starts(people, client_for, book):
    edited = 'echo "edited in the browser"\r\necho done\r\n'

    response = client_for(people.operator).post(
        url(people, "runbook_test", book), start_body(content=edited), headers=HTMX
    )

    assert response.status_code == 200
    book.refresh_from_db()
    assert book.draft == 'echo "edited in the browser"\necho done\n'
    assert Job.objects.get().test_snapshot["content"] == book.draft
    # Saved first, then tested: the Activity log says so in that order.
    actions = list(AuditEvent.objects.order_by("created_at").values_list("action", flat=True))
    assert actions[-2:] == ["runbook.edit", "job.test"]
    assert AuditEvent.objects.get(action="runbook.edit").details == {"fields": ["draft"]}
    assert "data-draft-saved" in response.content.decode()
    # Only what was posted and differs is written: the description and declaration stay.
    assert (book.description, book.parameters) == ("Checks a service.", SAVED_DECLARATION)


def test_the_whole_form_posted_unchanged_writes_nothing_but_the_test(people, client_for, book):
    before = AuditEvent.objects.count()
    parameters = '[{"name": "service", "type": "string", "required": true}, {"name": "count", "type": "int", '
    parameters += '"default": 3}, {"name": "token", "type": "secret"}]'
    body = start_body(content=DRAFT, description="Checks a service.", parameters=parameters)

    response = client_for(people.operator).post(url(people, "runbook_test", book), body, headers=HTMX)

    assert response.status_code == 200
    assert list(AuditEvent.objects.order_by("created_at").values_list("action", flat=True))[before:] == ["job.test"]
    assert "data-draft-saved" not in response.content.decode()


def test_a_declaration_changed_in_the_page_is_saved_and_the_test_uses_it(people, client_for, book):
    body = start_body(content=DRAFT, parameters='[{"name": "service", "type": "string", "required": true}]')

    response = client_for(people.operator).post(url(people, "runbook_test", book), body, headers=HTMX)

    assert response.status_code == 200
    book.refresh_from_db()
    assert book.parameters == [{"name": "service", "type": "string", "required": True}]
    assert Job.objects.get().parameters == {"service": "nginx"}
    assert 'name="param_count"' not in response.content.decode()


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("draft", "words"),
    [
        ({"parameters": "[{not json"}, "Parameters (JSON): Not valid JSON"),
        ({"parameters": '[{"name": "x", "type": "secret", "default": "a"}]'}, "is a secret: it cannot have a default"),
        ({"content": "echo \x00"}, "Draft: Null characters are not allowed."),
        ({"content": "x" * (1024 * 1024 + 1)}, "Draft: A runbook is at most 1024 KiB."),
    ],
)
def test_a_draft_that_cannot_be_saved_starts_nothing(people, client_for, book, draft, words):
    before = state()

    response = client_for(people.operator).post(
        url(people, "runbook_test", book), start_body(**({"content": DRAFT} | draft)), headers=HTMX
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "The draft was not saved, so no test was started." in html
    assert escape(words) in html, html[:3000]
    assert state() == before


def test_an_unknown_group_is_an_error_on_the_form_and_starts_nothing(people, client_for, book):
    before = state()

    response = client_for(people.operator).post(
        url(people, "runbook_test", book), start_body(run_on="nowhere"), headers=HTMX
    )

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "run_on")
    assert state() == before


def test_a_group_being_deleted_is_refused(people, client_for, book):
    from automation.models import HybridWorkerGroup

    HybridWorkerGroup.objects.filter(name="dmz").update(deleting_since=datetime.now(UTC))

    response = client_for(people.operator).post(url(people, "runbook_test", book), start_body(run_on="dmz"))

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "run_on")
    assert not Job.objects.exists()


def test_an_empty_draft_is_refused_and_starts_nothing(people, client_for, book):
    response = client_for(people.operator).post(url(people, "runbook_test", book), start_body(content="  \n"))

    assert response.status_code == 400
    assert "The draft is empty: there is nothing to test." in form_errors(response.content.decode())
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"param_service": ""}, "param_service", "Parameter 'service' is required."),
        ({"param_count": "three"}, "param_count", "Parameter 'count' must be a whole number."),
        ({"timeout_seconds": "0"}, "timeout_seconds", "Ensure this value is greater than or equal to 1."),
    ],
)
def test_a_wrong_value_is_named_on_its_field(people, client_for, book, values, field, words):
    response = client_for(people.operator).post(url(people, "runbook_test", book), start_body(**values), headers=HTMX)

    assert response.status_code == 400
    assert escape(words) in field_errors(response.content.decode(), field)
    assert not Job.objects.exists()


@pytest.mark.sqlite
@pytest.mark.parametrize("outcome", ["refused", "started"])
def test_a_secret_is_never_shown_back(people, client_for, book, outcome):
    body = start_body(param_token=SECRET) | ({"param_count": "three"} if outcome == "refused" else {})

    response = client_for(people.operator).post(url(people, "runbook_test", book), body, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == (400 if outcome == "refused" else 200)
    assert SECRET not in html
    assert re.search(r'<input type="password" name="param_token"[^>]*>', html).group(0).count("value=") == 0
    if outcome == "started":
        job = Job.objects.get()
        assert job.parameters["token"] == MASK
        assert f"token=<bdi>{MASK}</bdi>" in html
        assert (
            SECRET not in client_for(people.owner).get(url(people, "runbook_test_output", book, job)).content.decode()
        )


def test_without_javascript_start_goes_to_the_test_page(people, client_for, book):
    client = client_for(people.operator)

    response = client.post(url(people, "runbook_test", book), start_body())

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{url(people, 'runbook_test', book)}?job={job.pk}"
    page = client.get(response["Location"]).content.decode()
    assert "Started a test of the draft on lab." in page
    assert f'data-live-job="{job.pk}"' in page


# ---- the output and Stop -----------------------------------------------------------------------------


def test_the_output_shows_the_records_as_text(people, client_for, book):
    job = started_test(book)
    moment = datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)
    for seq, stream, text in [(0, "output", "<b>hello</b>"), (1, "warning", "careful"), (2, "error", "broke")]:
        JobStream.objects.create(job=job, seq=seq, stream=stream, text=text, time=moment)

    response = client_for(people.operator).get(url(people, "runbook_test_output", book, job))

    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;b&gt;hello&lt;/b&gt;" in html and "<b>hello</b>" not in html
    assert re.findall(r'<li class="rec rec-(\w+)" data-seq="(\d+)"', html) == [
        ("output", "0"),
        ("warning", "1"),
        ("error", "2"),
    ]
    assert "Draft (test)" in html and "Queued" in html and ">Stop<" in html
    assert "has no workers" not in html and "Waiting" in html  # why it is still queued


def test_the_output_shows_the_newest_records_and_says_earlier_ones_are_on_the_job(people, client_for, book):
    from portal.views.runbooks import TEST_PANE_RECORDS

    job = started_test(book)
    moment = datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)
    JobStream.objects.bulk_create(
        [
            JobStream(job=job, seq=n, stream="output", text=f"line {n}", time=moment)
            for n in range(TEST_PANE_RECORDS + 5)
        ]
    )

    html = client_for(people.operator).get(url(people, "runbook_test_output", book, job)).content.decode()

    seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"', html)]
    assert TEST_PANE_RECORDS == 500
    assert seqs == list(range(5, 505))
    assert "Earlier records are not shown here" in html
    assert reverse("portal:job", args=[people.account.pk, job.pk]) in html


def test_an_ended_test_offers_no_stop(people, client_for, book):
    job = started_test(book)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED, exit_code=0)

    html = client_for(people.operator).get(url(people, "runbook_test_output", book, job)).content.decode()

    assert ">Stop<" not in html and "Completed" in html
    assert "The test wrote no output." in html


@pytest.mark.sqlite
def test_stop_asks_first_then_stops_and_refreshes_the_pane(people, client_for, book):
    job = started_test(book)
    client = client_for(people.operator)

    dialog = client.get(url(people, "runbook_test_stop", book, job), headers=HTMX)
    answer = client.post(url(people, "runbook_test_stop", book, job), headers=HTMX)

    assert "Are you sure you want to stop this test of" in dialog.content.decode()
    assert "<html" not in dialog.content.decode()
    assert answer.status_code == 200 and answer.content == b""
    assert answer["HX-Trigger"] == "test-job-changed"
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert AuditEvent.objects.filter(action="job.stop").exists()


def test_stopping_an_ended_test_says_why(people, client_for, book):
    job = started_test(book)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)

    answer = client_for(people.operator).post(url(people, "runbook_test_stop", book, job), headers=HTMX)

    assert answer.status_code == 400
    assert "This job already ended (Completed)." in answer.content.decode()


def test_a_test_is_not_found_under_another_runbook(people, client_for, book):
    job = started_test(book)
    other = create_runbook(account=people.account, name="other", runbook_type="bash", content="echo", actor=SYSTEM)
    client = client_for(people.operator)

    for route in ("runbook_test_output", "runbook_test_stop"):
        assert client.get(url(people, route, other, job)).status_code == 404
    assert client.post(url(people, "runbook_test_stop", other, job)).status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
