"""The Runbooks blades: the list, creating a runbook, editing and saving its draft, publishing,
deleting (a confirmation dialog) and the Start form with a field per declared parameter."""

import hashlib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from automation.models import AuditEvent, HybridWorkerGroup, Job, JobStatus, Runbook, RunbookVersion
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.jobs import start_job
from automation.services.runbooks import create_runbook, publish_runbook, update_draft
from automation.services.workers import register_worker
from automation.validators import NAME_RULE
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()
ROLES = ["owner", "operator", "reader", "stranger"]
CONTENT = "import sys\nprint('hello', sys.argv[1:])\n"
DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "count", "type": "int", "default": 3},
    {"name": "force", "type": "bool", "default": False},
    {"name": "extra", "type": "json"},
]


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def commands(response) -> list[str]:
    """The labels of the blade's command bar (links and buttons)."""
    html = response.content.decode()
    bar = re.search(r'<div class="commandbar">(.*?)\n</div>', html, re.S)
    return re.findall(r'class="cmd[^"]*"[^>]*>\s*<svg[^>]*>.*?</svg>([^<]+)<', bar.group(1) if bar else "")


def buttons(html: str) -> list[str]:
    """The labelled buttons of the dialog (not the page's own, such as Sign out)."""
    dialog = html[html.index('<div class="dialog"') :]
    return re.findall(r"<button [^>]*>(?:<svg.*?</svg>)?([^<]+)</button>", dialog)


def field_block(response, name: str) -> str:
    """The form field's block (label, input, help and errors) in the page."""
    html = response.content.decode()
    for block in re.findall(r'<div class="field">(.*?)</div>', html, re.S):
        if f'name="{name}"' in block:
            return block
    raise AssertionError(f"no field {name} in the page")


def field_errors(response, name: str) -> list[str]:
    block = field_block(response, name)
    errors = re.search(r'<ul class="errors">(.*?)</ul>', block, re.S)
    return re.findall(r"<li>(.*?)</li>", errors.group(1)) if errors else []


def listed(response) -> list[str]:
    return re.findall(r'<tr data-runbook="([^"]+)"', response.content.decode())


def text(html: str) -> str:
    """What a person reads: the markup taken out."""
    return re.sub(r"<[^>]+>", "", html)


def authoring_statuses(response) -> dict[str, str]:
    """The list's Authoring status column as text, by runbook name."""
    rows = re.findall(r'<tr data-runbook="([^"]+)">(.*?)</tr>', response.content.decode(), re.S)
    return {name: text(re.findall(r"<td>(.*?)</td>", row, re.S)[2]) for name, row in rows}


def make(p, name="hello", *, publish=True, content=CONTENT, parameters=DECLARED, runbook_type="python3", account=None):
    runbook = create_runbook(
        account=account or p.account,
        name=name,
        runbook_type=runbook_type,
        content=content,
        parameters=parameters,
        actor=SYSTEM,
    )
    if publish:
        publish_runbook(runbook=runbook, actor=SYSTEM)
    return runbook


def lab(p, name="lab"):
    return register_worker(
        account=p.account, group_name=name, machine_id=f"machine-{name}", name="web-01", facts={"capacity": 2}
    ).worker


def url(p, route, runbook=None) -> str:
    if runbook is None:
        return reverse(f"portal:{route}", args=[p.account.pk])
    return reverse(f"portal:{route}", args=[p.account.pk, runbook.pk])


# ---- who may do what ------------------------------------------------------------------------

# (route, method): status for owner, operator, reader, stranger
ANSWERS = {
    ("runbooks", "get"): (200, 200, 200, 404),
    ("runbook_create", "get"): (200, 200, 403, 404),
    ("runbook_create", "post"): (302, 302, 403, 404),
    ("runbook", "get"): (200, 200, 200, 404),
    ("runbook", "post"): (302, 302, 403, 404),
    ("runbook_publish", "post"): (302, 302, 403, 404),
    ("runbook_delete", "get"): (200, 200, 403, 404),
    ("runbook_delete", "post"): (302, 302, 403, 404),
    ("runbook_start", "get"): (200, 200, 403, 404),
    ("runbook_start", "post"): (302, 302, 403, 404),
}
BODIES = {
    "runbook_create": {"name": "new one", "runbook_type": "bash", "description": ""},
    "runbook": {"description": "", "parameters": "", "content": "echo changed"},
    "runbook_publish": {"description": "", "parameters": "", "content": "echo published"},
    "runbook_start": {"run_on": "lab", "param_service": "web", "timeout_seconds": ""},
}


@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(people, client_for, route, method, role):
    runbook = make(people)
    lab(people)
    client = client_for(people.by_role[role])
    target = url(people, route, None if route in ("runbooks", "runbook_create") else runbook)
    before = state()

    response = client.get(target) if method == "get" else client.post(target, BODIES.get(route, {}))

    expected = ANSWERS[(route, method)][ROLES.index(role)]
    assert response.status_code == expected, response.content.decode()[:500]
    if expected in (403, 404):
        assert "errors/error.html" in templates(response)
        assert state() == before
    if expected == 404:
        assert b"contoso-automation" not in response.content
    if method == "post" and expected == 302:
        assert state() != before


@pytest.mark.parametrize("route", ["runbook", "runbook_publish", "runbook_delete", "runbook_start"])
def test_a_runbook_is_not_found_under_another_account(people, client_for, route):
    runbook = make(people)
    before = state()
    target = reverse(f"portal:{route}", args=[people.other_account.pk, runbook.pk])

    client = client_for(people.stranger)

    assert client.get(target).status_code in (404, 405)
    assert client.post(target, BODIES.get(route, {})).status_code == 404
    assert state() == before


@pytest.mark.parametrize("role", ["owner", "operator", "reader"])
def test_publish_is_post_only(people, client_for, role):
    runbook = make(people, publish=False)

    assert client_for(people.by_role[role]).get(url(people, "runbook_publish", runbook)).status_code == 405
    assert not RunbookVersion.objects.exists()


# ---- the list --------------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator", "reader"])
def test_every_member_sees_the_runbooks_with_their_type_and_status(people, client_for, role):
    make(people, "b-published", runbook_type="bash")
    runbook = make(people, "a-twice", runbook_type="powershell")
    publish_runbook(runbook=runbook, actor=SYSTEM)
    make(people, "c-new", publish=False)
    make(people, "theirs", account=people.other_account)

    response = client_for(people.by_role[role]).get(url(people, "runbooks"))

    assert response.status_code == 200
    assert listed(response) == ["a-twice", "b-published", "c-new"]
    html = response.content.decode()
    row = {name: re.search(rf'<tr data-runbook="{name}">(.*?)</tr>', html, re.S).group(1) for name in listed(response)}
    assert "PowerShell" in row["a-twice"] and "Published (v2)" in row["a-twice"]
    assert "Bash" in row["b-published"] and "Published (v1)" in row["b-published"]
    assert "Python 3" in row["c-new"] and ">New<" in row["c-new"]


@pytest.mark.sqlite
def test_the_list_says_in_edit_while_a_draft_differs_from_its_published_version(people, client_for):
    edited = make(people, "edited")
    make(people, "published")
    make(people, "new", publish=False)
    update_draft(runbook=edited, content="echo changed", actor=SYSTEM)

    response = client_for(people.reader).get(url(people, "runbooks"))

    status = authoring_statuses(response)
    assert status == {"edited": "In edit (v1)", "new": "New", "published": "Published (v1)"}


def test_the_runbooks_list_costs_the_same_queries_for_3_or_30_runbooks(people, client_for):
    client = client_for(people.reader)

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            runbook = make(people, f"rb-{i:02}", publish=bool(i % 3))
            if i % 3 == 2:
                update_draft(runbook=runbook, content=f"echo {i}", actor=SYSTEM)

    def measure(expected: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(people, "runbooks"))
        statuses = authoring_statuses(response)
        assert len(statuses) == expected
        assert {status.split(" (")[0] for status in statuses.values()} == {"In edit", "New", "Published"}
        return len(queries)

    client.get(url(people, "runbooks"))  # warm up: the session, content types
    add(0, 3)
    few = measure(3)
    add(3, 30)
    assert measure(30) == few


def test_an_account_without_runbooks_says_how_to_make_one(people, client_for):
    html = client_for(people.operator).get(url(people, "runbooks")).content.decode()

    assert "No runbooks yet." in html and "Create a runbook" in html


@pytest.mark.parametrize(("role", "expected"), [("owner", True), ("operator", True), ("reader", False)])
def test_create_is_offered_to_operators_and_owners_only(people, client_for, role, expected):
    response = client_for(people.by_role[role]).get(url(people, "runbooks"))

    assert ("Create a runbook" in commands(response)) is expected
    assert ("Create a runbook" in response.content.decode()) is expected


# ---- create --------------------------------------------------------------------------------------


def test_the_create_dialog_comes_as_a_page_or_an_htmx_partial(people, client_for):
    client = client_for(people.operator)

    page = client.get(url(people, "runbook_create"))
    partial = client.get(url(people, "runbook_create"), headers=HTMX)

    assert "shell/dialog_page.html" in templates(page)
    assert "shell/dialog_page.html" not in templates(partial)
    assert b"<html" not in partial.content
    for response in (page, partial):
        html = response.content.decode()
        assert 'name="name"' in html and 'name="runbook_type"' in html and 'name="description"' in html
        assert "Create a runbook" in html
        assert {"Python 3", "Bash", "PowerShell"} <= set(re.findall(r'<option value="[^"]+"[^>]*>([^<]+)<', html))


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_creating_a_runbook_goes_to_its_blade(people, client_for, role):
    client = client_for(people.by_role[role])

    response = client.post(
        url(people, "runbook_create"),
        {"name": "Restart web.service v2", "runbook_type": "bash", "description": "Restarts it."},
    )

    runbook = Runbook.objects.get(name="Restart web.service v2")
    assert response.status_code == 302
    assert response["Location"] == url(people, "runbook", runbook)
    assert (runbook.runbook_type, runbook.description, runbook.draft, runbook.parameters) == (
        "bash",
        "Restarts it.",
        "",
        [],
    )
    assert runbook.created_by == people.by_role[role].username
    page = client.get(response["Location"])
    assert "Created runbook Restart web.service v2" in page.content.decode()


def test_creating_from_the_htmx_dialog_redirects_the_whole_page(people, client_for):
    response = client_for(people.operator).post(
        url(people, "runbook_create"), {"name": "new", "runbook_type": "python3"}, headers=HTMX
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == url(people, "runbook", Runbook.objects.get(name="new"))


@pytest.mark.parametrize("name", ["", " lead", "a/b", "...", "x" * 129, "naïve"])
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_name_shows_the_rule_with_a_400_and_writes_nothing(people, client_for, name, htmx):
    before = state()

    response = client_for(people.operator).post(
        url(people, "runbook_create"), {"name": name, "runbook_type": "bash"}, headers=htmx_headers(htmx)
    )

    assert response.status_code == 400
    errors = field_errors(response, "name")
    assert errors and (escape(NAME_RULE) in errors or name == "" or len(name) > 128)
    assert state() == before


def test_a_duplicate_name_is_a_form_error_with_a_400(people, client_for):
    make(people, "hello")
    before = state()

    response = client_for(people.operator).post(
        url(people, "runbook_create"), {"name": "hello", "runbook_type": "bash"}
    )

    assert response.status_code == 400
    assert any("already exists" in e for e in field_errors(response, "name"))
    assert state() == before


def test_an_unknown_type_is_a_form_error(people, client_for):
    before = state()

    response = client_for(people.operator).post(url(people, "runbook_create"), {"name": "x", "runbook_type": "perl"})

    assert response.status_code == 400
    assert field_errors(response, "runbook_type")
    assert state() == before


# ---- the runbook's blade: edit and save the draft ------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", ["Save", "Publish", "Start", "Test pane", "Delete", "Jobs"]),
        ("operator", ["Save", "Publish", "Start", "Test pane", "Delete", "Jobs"]),
        ("reader", ["Jobs"]),
    ],
)
def test_the_commands_follow_the_role(people, client_for, role, expected):
    runbook = make(people)

    response = client_for(people.by_role[role]).get(url(people, "runbook", runbook))

    assert commands(response) == expected
    html = response.content.decode()
    if role == "reader":
        for word in (">Save<", ">Publish<", ">Start<", ">Test pane<", ">Delete<"):
            assert word not in html
        assert url(people, "runbook_publish", runbook) not in html
        assert url(people, "runbook_start", runbook) not in html
        assert url(people, "runbook_delete", runbook) not in html
        assert url(people, "runbook_test", runbook) not in html


def test_start_is_offered_only_once_published(people, client_for):
    runbook = make(people, publish=False)

    assert commands(client_for(people.owner).get(url(people, "runbook", runbook))) == [
        "Save",
        "Publish",
        "Test pane",
        "Delete",
        "Jobs",
    ]


def test_the_blade_shows_the_draft_its_declaration_and_versions(people, client_for):
    runbook = make(people, content="print('<b>hi</b>')\n")
    publish_runbook(runbook=runbook, actor=SYSTEM)

    response = client_for(people.reader).get(url(people, "runbook", runbook))

    html = response.content.decode()
    assert "print(&#x27;&lt;b&gt;hi&lt;/b&gt;&#x27;)" in field_block(response, "content")
    assert "<b>hi</b>" not in html
    assert "&quot;name&quot;: &quot;service&quot;" in field_block(response, "parameters")
    assert "Published (version 2)" in text(html)
    versions = re.search(r'<table class="grid" id="versions">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"<tr><td>(\d+)</td>", versions) == ["2", "1"]
    assert versions.count(hashlib.sha256(b"print('<b>hi</b>')\n").hexdigest()) == 2


@pytest.mark.sqlite
def test_the_blade_says_in_edit_while_the_saved_draft_differs_from_the_published_version(people, client_for):
    runbook = make(people)
    client = client_for(people.reader)
    status = re.compile(r"<dt>Authoring status</dt><dd>(.*?)</dd>", re.S)

    def shown() -> str:
        return text(status.search(client.get(url(people, "runbook", runbook)).content.decode())[1])

    assert shown() == "Published (version 1)"
    client_for(people.operator).post(url(people, "runbook", runbook), editor_form(runbook, content="echo changed"))
    assert shown() == "In edit (version 1 is published)"
    client_for(people.operator).post(url(people, "runbook_publish", runbook))
    assert shown() == "Published (version 2)"


def test_a_runbook_never_published_says_so(people, client_for):
    html = client_for(people.reader).get(url(people, "runbook", make(people, publish=False))).content.decode()

    assert "New (not published)" in text(html) and "Not published yet" in html


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_saving_the_draft_keeps_it_exactly(people, client_for, role):
    runbook = make(people, publish=False)
    content = '  #!/bin/bash\n\necho "<tab>\there"  \n'

    response = client_for(people.by_role[role]).post(
        url(people, "runbook", runbook),
        {
            "description": "New words",
            "parameters": '[{"name": "who", "type": "string", "required": true}]',
            "content": content,
        },
    )

    assert response.status_code == 302 and response["Location"] == url(people, "runbook", runbook)
    runbook.refresh_from_db()
    assert (runbook.draft, runbook.description) == (content, "New words")
    assert runbook.parameters == [{"name": "who", "type": "string", "required": True}]
    assert not runbook.versions.exists()


def test_saving_from_htmx_redirects_the_whole_page(people, client_for):
    runbook = make(people)

    response = client_for(people.operator).post(
        url(people, "runbook", runbook), {"content": "echo", "parameters": ""}, headers=HTMX
    )

    assert response["HX-Redirect"] == url(people, "runbook", runbook)
    runbook.refresh_from_db()
    assert (runbook.draft, runbook.parameters) == ("echo", [])


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ("[{not json", "Not valid JSON"),
        ('{"name": "x"}', "parameters is a list"),
        ('[{"name": "bad name"}]', "parameters[0].name"),
        ('[{"name": "n", "type": "int", "default": "3"}]', escape("The default of 'n' must be a whole number")),
        ('[{"name": "x"}, {"name": "x"}]', escape("Parameter 'x' is declared twice")),
    ],
)
def test_a_bad_declaration_is_a_400_naming_the_problem_and_nothing_is_saved(people, client_for, parameters, words):
    runbook = make(people)
    before = state()

    response = client_for(people.operator).post(
        url(people, "runbook", runbook), {"content": "echo changed", "parameters": parameters}
    )

    assert response.status_code == 400
    assert any(words in e for e in field_errors(response, "parameters")), field_errors(response, "parameters")
    # What was typed stays in the form.
    assert "echo changed" in field_block(response, "content")
    assert state() == before


def test_a_draft_over_the_limit_is_a_400_on_the_draft(people, client_for):
    runbook = make(people)
    before = state()

    response = client_for(people.operator).post(
        url(people, "runbook", runbook), {"content": "x" * (1024 * 1024 + 1), "parameters": ""}
    )

    assert response.status_code == 400
    assert any("1024 KiB" in e for e in field_errors(response, "content"))
    assert state() == before


# ---- publish --------------------------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_publishing_makes_the_next_version(people, client_for, role):
    runbook = make(people)
    client = client_for(people.by_role[role])

    response = client.post(url(people, "runbook_publish", runbook))

    assert response.status_code == 302 and response["Location"] == url(people, "runbook", runbook)
    version = RunbookVersion.objects.get(runbook=runbook, number=2)
    assert (version.content, version.sha256) == (CONTENT, hashlib.sha256(CONTENT.encode()).hexdigest())
    assert version.published_by == people.by_role[role].username
    assert "Published version 2 of hello." in client.get(response["Location"]).content.decode()


def test_publishing_an_empty_draft_says_why_and_makes_nothing(people, client_for):
    runbook = make(people, content="", publish=False)
    client = client_for(people.operator)
    before = state()

    response = client.post(url(people, "runbook_publish", runbook), follow=True)

    assert response.status_code == 200
    assert "The draft is empty: write the runbook before publishing it." in response.content.decode()
    assert state() == before


def editor_form(runbook, **changes) -> dict:
    """What the runbook blade's form posts: every field as the page shows it, with the changes typed in."""
    import json

    fields = {
        "description": runbook.description,
        "parameters": json.dumps(runbook.parameters, indent=2) if runbook.parameters else "",
        "retries": str(runbook.retries),
        "timeout_seconds": "" if runbook.timeout_seconds is None else str(runbook.timeout_seconds),
        "content": runbook.draft,
    }
    return {**fields, **changes}


@pytest.mark.sqlite
@pytest.mark.parametrize("saved", ["", CONTENT], ids=["empty draft", "saved draft"])
def test_publish_saves_the_editors_text_and_publishes_exactly_that(people, client_for, saved):
    runbook = make(people, content=saved, publish=False)
    typed = "print('typed, not saved')\r\n\tprint('kept exactly')  \r\n"
    client = client_for(people.operator)

    response = client.post(url(people, "runbook_publish", runbook), editor_form(runbook, content=typed))

    assert response.status_code == 302 and response["Location"] == url(people, "runbook", runbook)
    typed = typed.replace("\r\n", "\n")  # a browser posts CRLF; the form field keeps lines as \n
    version = RunbookVersion.objects.get(runbook=runbook)
    assert (version.number, version.content) == (1, typed)
    assert version.sha256 == hashlib.sha256(typed.encode()).hexdigest()
    runbook.refresh_from_db()
    assert runbook.draft == typed
    page = client.get(response["Location"]).content.decode()
    assert "Saved the editor&#x27;s changes and published them as version 1 of hello." in page
    assert 'Authoring status</dt><dd><span class="status ok">Published</span>' in page


def test_publish_without_changes_publishes_the_saved_draft_and_writes_no_edit(people, client_for):
    runbook = make(people)
    client = client_for(people.operator)

    response = client.post(url(people, "runbook_publish", runbook), editor_form(runbook), follow=True)

    assert "Published version 2 of hello." in response.content.decode()
    assert RunbookVersion.objects.get(runbook=runbook, number=2).content == CONTENT
    assert not AuditEvent.objects.filter(action="runbook.edit").exists()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"content": "  \n"}, "content", "The draft is empty"),
        ({"content": "echo new", "parameters": "[{not json"}, "parameters", "Not valid JSON"),
        ({"content": "echo new", "parameters": '[{"name": "bad name"}]'}, "parameters", "parameters[0].name"),
        ({"content": "echo new", "timeout_seconds": "0"}, "timeout_seconds", "greater than or equal to 1"),
    ],
)
def test_a_refused_publish_keeps_the_editors_text_on_screen_and_writes_nothing(
    people, client_for, changes, field, words
):
    runbook = make(people)
    before = state()

    response = client_for(people.operator).post(
        url(people, "runbook_publish", runbook), editor_form(runbook, **changes)
    )

    assert response.status_code == 400
    assert "runbooks/detail.html" in templates(response)
    assert any(words in e for e in field_errors(response, field)), field_errors(response, field)
    assert escape(changes["content"]) in field_block(response, "content")
    html = response.content.decode()
    assert "The draft was not saved and nothing was published." in html
    # The page is at the publish address now: Save (and Ctrl+S) must still post to the blade's, and the
    # editor must know that what it holds is not saved.
    editor = re.search(r'<form method="post"[^>]* id="runbook-form"[^>]*>', html).group(0)
    assert f'action="{url(people, "runbook", runbook)}"' in editor and "data-unsaved" in editor
    assert state() == before


def test_the_publish_command_posts_the_editors_form_and_says_so(people, client_for):
    runbook = make(people)

    html = client_for(people.operator).get(url(people, "runbook", runbook)).content.decode()

    # Without JavaScript too, the button submits the editor's form to the publish address.
    button = re.search(r"<button [^>]*>(?:<svg.*?</svg>)?Publish</button>", html).group(0)
    assert 'form="runbook-form"' in button and 'type="submit"' in button
    assert f'formaction="{url(people, "runbook_publish", runbook)}"' in button
    assert "Publish saves the editor's changes and publishes them as version 2." in text(html)
    # What the page shows is what is saved.
    assert "data-unsaved" not in re.search(r'<form [^>]*id="runbook-form"[^>]*>', html).group(0)


# ---- delete ------------------------------------------------------------------------------------------------


def test_the_delete_dialog_asks_yes_or_no(people, client_for):
    runbook = make(people, "Old one.v1")
    client = client_for(people.operator)

    page = client.get(url(people, "runbook_delete", runbook))
    partial = client.get(url(people, "runbook_delete", runbook), headers=HTMX)

    assert "shell/dialog_page.html" in templates(page)
    assert b"<html" not in partial.content
    for response in (page, partial):
        html = response.content.decode()
        assert "Are you sure you want to delete runbook" in html and "Old one.v1" in html
        assert buttons(html) == ["Yes", "No"]
    assert Runbook.objects.filter(pk=runbook.pk).exists()


@pytest.mark.sqlite
@pytest.mark.parametrize("htmx", [False, True])
def test_deleting_a_runbook_goes_back_to_the_list(people, client_for, htmx):
    runbook = make(people)
    client = client_for(people.owner)

    response = client.post(url(people, "runbook_delete", runbook), headers=htmx_headers(htmx))

    target = url(people, "runbooks")
    assert (response["HX-Redirect"] if htmx else response["Location"]) == target
    assert not Runbook.objects.filter(pk=runbook.pk).exists()
    assert "Deleted runbook hello." in client.get(target).content.decode()


def test_a_runbook_with_a_queued_job_is_kept_and_the_reason_is_shown(people, client_for):
    runbook = make(people)
    lab(people)
    start_job(account=people.account, runbook_name="hello", group_name="lab", parameters={"service": "x"}, actor=SYSTEM)
    before = state()

    response = client_for(people.owner).post(url(people, "runbook_delete", runbook), follow=True)

    assert response.redirect_chain[-1][0] == url(people, "runbook", runbook)
    assert "1 job(s) queued or running; stop them first." in response.content.decode()
    assert state() == before


def test_a_refused_delete_from_the_dialog_says_why_in_the_dialog_and_leaves_the_blade(people, client_for):
    runbook = make(people)
    lab(people)
    start_job(account=people.account, runbook_name="hello", group_name="lab", parameters={"service": "x"}, actor=SYSTEM)
    before = state()

    response = client_for(people.owner).post(url(people, "runbook_delete", runbook), headers=HTMX)

    # No redirect: the blade behind the dialog keeps what its editor holds.
    assert response.status_code == 400 and "HX-Redirect" not in response
    assert "runbooks/partials/delete_dialog.html" in templates(response)
    html = response.content.decode()
    assert "was not deleted: Runbook &#x27;hello&#x27; has 1 job(s) queued or running; stop them first." in html
    assert "data-discards-draft" not in html and buttons(html) == ["Close"]
    assert state() == before


# ---- start ---------------------------------------------------------------------------------------------------


def test_the_start_form_has_the_groups_and_a_field_per_declared_parameter(people, client_for):
    runbook = make(people)
    lab(people, "lab")
    create_group(account=people.account, name="empty", actor=SYSTEM)
    create_group(account=people.account, name="leaving", actor=SYSTEM)
    HybridWorkerGroup.objects.filter(name="leaving").update(deleting_since="2026-01-01T00:00:00Z")
    create_group(account=people.other_account, name="theirs", actor=SYSTEM)
    client = client_for(people.operator)

    for response in (
        client.get(url(people, "runbook_start", runbook)),
        client.get(url(people, "runbook_start", runbook), headers=HTMX),
    ):
        assert response.status_code == 200
        html = response.content.decode()
        run_on = field_block(response, "run_on")
        assert re.findall(r'<option value="([^"]*)"', run_on) == ["empty", "lab"]
        assert "Run on: Hybrid Worker group" in run_on
        names = re.findall(r'name="(param_[^"]+)"', html)
        assert names == ["param_service", "param_count", "param_force", "param_extra"]
        assert "service (string, required)" in field_block(response, "param_service")
        assert 'value="3"' in field_block(response, "param_count")
        assert re.findall(r'<option value="([^"]*)"', field_block(response, "param_force")) == ["", "true", "false"]
        assert re.search(r'<option value="false" selected', field_block(response, "param_force"))
        assert "<textarea" in field_block(response, "param_extra")
        assert 'name="timeout_seconds"' in html
        assert buttons(html) == ["OK", "Cancel"]


def test_the_start_form_of_an_unpublished_runbook_says_publish_first(people, client_for):
    runbook = make(people, publish=False)
    lab(people)
    before = state()
    client = client_for(people.operator)

    html = client.get(url(people, "runbook_start", runbook)).content.decode()
    posted = client.post(url(people, "runbook_start", runbook), {"run_on": "lab"})

    assert "has no published version: publish it first." in html
    assert 'name="run_on"' not in html
    assert posted.status_code in (200, 400)
    assert state() == before


def test_the_start_form_without_groups_says_how_to_get_one(people, client_for):
    runbook = make(people)

    html = client_for(people.operator).get(url(people, "runbook_start", runbook)).content.decode()

    assert "There is no hybrid worker group to run on yet." in html
    assert 'name="run_on"' not in html


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_starting_goes_to_the_new_jobs_blade(people, client_for, role):
    runbook = make(people)
    lab(people)
    client = client_for(people.by_role[role])

    response = client.post(
        url(people, "runbook_start", runbook),
        {
            "run_on": "lab",
            "param_service": "web",
            "param_count": "42",
            "param_force": "true",
            "param_extra": '{"a": [1, 2]}',
            "timeout_seconds": "120",
        },
    )

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:job", args=[people.account.pk, job.pk])
    assert job.status == JobStatus.QUEUED
    assert job.parameters == {"service": "web", "count": 42, "force": True, "extra": {"a": [1, 2]}}
    assert (job.group_name, job.timeout_seconds, job.started_by) == ("lab", 120, people.by_role[role].username)
    assert "Started hello on lab." in client.get(response["Location"]).content.decode()


def test_left_empty_the_optional_fields_take_their_defaults(people, client_for):
    runbook = make(people)
    lab(people)

    client_for(people.operator).post(
        url(people, "runbook_start", runbook),
        {"run_on": "lab", "param_service": "web", "param_count": "", "param_force": "", "param_extra": ""},
    )

    job = Job.objects.get()
    assert (job.parameters, job.timeout_seconds) == ({"service": "web", "count": 3, "force": False}, None)


def test_starting_from_the_htmx_dialog_redirects_the_whole_page(people, client_for):
    runbook = make(people)
    lab(people)

    response = client_for(people.operator).post(
        url(people, "runbook_start", runbook), {"run_on": "lab", "param_service": "web"}, headers=HTMX
    )

    assert response["HX-Redirect"] == reverse("portal:job", args=[people.account.pk, Job.objects.get().pk])


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"param_count": "4.2"}, "param_count", "Parameter 'count' must be a whole number."),
        ({"param_count": "many"}, "param_count", "Parameter 'count' must be a whole number."),
        ({"param_extra": "{not json"}, "param_extra", "Parameter 'extra' must be valid JSON."),
        ({"param_service": ""}, "param_service", None),
        ({"param_force": "yes"}, "param_force", "Select a valid choice."),
        ({"run_on": "nope"}, "run_on", "Select a valid choice."),
        ({"timeout_seconds": "0"}, "timeout_seconds", None),
        ({"timeout_seconds": "soon"}, "timeout_seconds", "Enter a whole number."),
        ({"timeout_seconds": str(7 * 24 * 3600 + 1)}, "timeout_seconds", "timeout_seconds is 1 to 604800."),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_a_wrong_value_is_a_400_form_error_on_its_field(people, client_for, values, field, words, htmx):
    runbook = make(people)
    lab(people)
    before = state()
    body = {"run_on": "lab", "param_service": "web", "param_count": "1", **values}

    response = client_for(people.operator).post(url(people, "runbook_start", runbook), body, headers=htmx_headers(htmx))

    assert response.status_code == 400
    errors = field_errors(response, field)
    assert errors, response.content.decode()
    if words is not None:
        assert any(escape(words) in e for e in errors), errors
    # The other values stay as typed.
    assert 'value="web"' in field_block(response, "param_service") or field == "param_service"
    assert state() == before


def test_a_required_parameter_left_empty_is_named(people, client_for):
    runbook = make(people)
    lab(people)

    response = client_for(people.operator).post(url(people, "runbook_start", runbook), {"run_on": "lab"})

    assert response.status_code == 400
    assert field_errors(response, "param_service") == [escape("Parameter 'service' is required.")]
    assert not Job.objects.exists()


def test_a_group_deleted_after_the_form_was_shown_is_an_error(people, client_for):
    runbook = make(people)
    lab(people)
    client = client_for(people.operator)
    client.get(url(people, "runbook_start", runbook))
    HybridWorkerGroup.objects.filter(name="lab").update(deleting_since="2026-01-01T00:00:00Z")

    response = client.post(url(people, "runbook_start", runbook), {"run_on": "lab", "param_service": "web"})

    assert response.status_code == 400
    assert not Job.objects.exists()


def test_an_operator_sets_the_retries_and_default_timeout_and_bad_values_change_nothing(people, client_for):
    """The job policy sits with the draft; a bad value is an error on its field and nothing is saved."""
    book = make(people, parameters=[])
    client = client_for(people.operator)
    fields = {"description": "", "parameters": "", "content": CONTENT}

    response = client.post(url(people, "runbook", book), {**fields, "retries": "2", "timeout_seconds": "90"})
    assert response.status_code == 302, response.content.decode()[:2000]
    book.refresh_from_db()
    assert (book.retries, book.timeout_seconds) == (2, 90)

    bad = {**fields, "content": "echo changed", "retries": "7", "timeout_seconds": "0"}
    response = client.post(url(people, "runbook", book), bad)
    assert response.status_code == 400
    assert field_errors(response, "retries") and field_errors(response, "timeout_seconds")
    book.refresh_from_db()
    assert (book.retries, book.timeout_seconds, book.draft) == (2, 90, CONTENT)

    response = client.post(url(people, "runbook", book), {**fields, "retries": "0", "timeout_seconds": ""})
    assert response.status_code == 302
    book.refresh_from_db()
    assert (book.retries, book.timeout_seconds) == (0, None)
