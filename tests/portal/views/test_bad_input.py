"""The portal's forms and filters refuse what the management API refuses, with the same words (one
rule, automation/validators.py, applied by the services): control characters in descriptions,
parameter defaults and values, token names; numbers past 64 bits; JSON a page cannot show. The
error lands on the form's field with a 400, nothing is written; ordinary multi-line text is kept.
Filters with garbage are a 400, never an error page."""

import json
from urllib.parse import quote

import pytest
from django.urls import reverse

from automation.models import ApiToken, AuditEvent, Job, Runbook
from automation.services.actor import Actor
from automation.services.jobs import start_job
from tests.support.builders import make_group, make_runbook
from tests.support.htmx import HTMX, htmx_headers

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SYSTEM = Actor.for_system()
DECLARED = [
    {"name": "message", "type": "string"},
    {"name": "count", "type": "int"},
    {"name": "options", "type": "json"},
    {"name": "token", "type": "secret"},
]
# A form post cannot carry a lone surrogate (the body is decoded as UTF-8, errors replaced), so these are
# what a browser or a script posting a form can send.
CONTROLS = ["\x01", "\x07", "\x08", "\x0b", "\x1b", "\x7f", "\x85", "\x9b"]
MULTI_LINE = "First line\r\n\tindented\r\nünïcödé ✓\r\n\r\nlast"


@pytest.fixture
def runbook(people):
    book = make_runbook(people.account, "deploy", description="Deploys.", content="echo deploy", parameters=DECLARED)
    make_group(people.account, "lab")
    return book


def url(people, route: str, *args) -> str:
    return reverse(f"portal:{route}", args=[people.account.pk, *args])


def written() -> tuple:
    return (
        sorted(Runbook.objects.values_list("name", "description", "draft", "parameters")),
        Job.objects.count(),
        ApiToken.objects.count(),
        AuditEvent.objects.count(),
    )


def field_errors(response, field: str) -> list[str]:
    assert response.status_code == 400, response.status_code
    errors = response.context["form"].errors
    assert field in errors, errors
    return errors[field]


def code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


# ---- runbooks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", CONTROLS, ids=code_point)
@pytest.mark.parametrize("htmx", [False, True])
def test_the_create_dialog_refuses_a_control_character_in_the_description(people, client_for, char, htmx):
    before = written()

    response = client_for(people.operator).post(
        url(people, "runbook_create"),
        {"name": "new", "runbook_type": "bash", "description": f"Restarts{char}it"},
        headers=htmx_headers(htmx),
    )

    (error,) = field_errors(response, "description")
    assert code_point(char) in error
    assert written() == before


def test_the_create_dialog_refuses_a_nul_in_the_description(people, client_for):
    before = written()

    response = client_for(people.operator).post(
        url(people, "runbook_create"), {"name": "new", "runbook_type": "bash", "description": "a\x00b"}
    )

    assert field_errors(response, "description")
    assert written() == before


def test_a_multi_line_description_is_kept(people, client_for):
    response = client_for(people.operator).post(
        url(people, "runbook_create"), {"name": "new", "runbook_type": "bash", "description": MULTI_LINE}
    )

    assert response.status_code == 302, response.content
    assert Runbook.objects.get(name="new").description == MULTI_LINE


EDITS = [
    ({"description": "bell\x07"}, "description", "U+0007"),
    ({"description": "esc\x1b[0m"}, "description", "U+001B"),
    ({"parameters": '[{"name": "m", "type": "string", "default": "a\\u0000b"}]'}, "parameters", "U+0000"),
    ({"parameters": '[{"name": "m", "type": "string", "default": "a\\ud800"}]'}, "parameters", "U+D800"),
    ({"parameters": '[{"name": "o", "type": "json", "default": {"k": ["\\u001b"]}}]'}, "parameters", "U+001B"),
    ({"parameters": '[{"name": "o", "type": "json", "default": NaN}]'}, "parameters", "nan"),
    ({"parameters": '[{"name": "n", "type": "int", "default": 9223372036854775808}]'}, "parameters", "whole number"),
    ({"parameters": '[{"name": "n", "type": "int", "default": Infinity}]'}, "parameters", "whole number"),
    ({"parameters": "[" * 5000 + "]" * 5000}, "parameters", "JSON"),
]


@pytest.mark.parametrize(("change", "field", "words"), EDITS)
def test_the_editor_refuses_what_the_api_refuses(people, client_for, runbook, change, field, words):
    before = written()
    posted = {"description": "Deploys.", "parameters": json.dumps(DECLARED), "content": "echo new", **change}

    response = client_for(people.operator).post(url(people, "runbook", runbook.pk), posted)

    assert any(words in error for error in field_errors(response, field)), response.context["form"].errors
    assert written() == before


def test_the_editor_keeps_a_multi_line_description(people, client_for, runbook):
    posted = {"description": MULTI_LINE, "parameters": json.dumps(DECLARED), "content": "echo new"}

    response = client_for(people.operator).post(url(people, "runbook", runbook.pk), posted)

    assert response.status_code == 302, response.content
    assert Runbook.objects.get(pk=runbook.pk).description == MULTI_LINE


# ---- starting a job (the Start dialog and the Test pane) ---------------------------------------------------


STARTS = [
    ("message", "a\x1bb", "U+001B"),
    ("message", "bell\x07", "U+0007"),
    ("message", "c1\x9b", "U+009B"),
    ("token", "s3cr\x01t", "U+0001"),
    ("options", '{"list": ["ok", "a\\u0000b"]}', "U+0000"),
    ("options", '{"k\\u001b": 1}', "U+001B"),
    ("options", "NaN", "nan"),
    ("options", '[1, {"x": -Infinity}]', "-inf"),
    ("options", "[" * 5000 + "]" * 5000, "JSON"),
    ("options", "[" * 100 + "]" * 100, "levels"),
    ("count", "9223372036854775808", "whole number"),
    ("count", "-9223372036854775809", "whole number"),
    ("count", "1" * 40, "whole number"),
    ("count", "\u0661\u0662", "whole number"),  # Arabic-Indic digits: not what a form's number is written in
]


@pytest.mark.parametrize(("name", "value", "words"), STARTS)
def test_the_start_dialog_refuses_what_the_api_refuses(people, client_for, runbook, name, value, words):
    before = written()

    response = client_for(people.operator).post(
        url(people, "runbook_start", runbook.pk), {"run_on": "lab", f"param_{name}": value}
    )

    errors = field_errors(response, f"param_{name}")
    assert any(words in error for error in errors), errors
    if name == "token":
        assert "s3cr" not in response.content.decode()
    assert written() == before


@pytest.mark.parametrize(("name", "value", "words"), STARTS[:1] + STARTS[4:5] + STARTS[10:11])
def test_the_test_pane_refuses_what_the_api_refuses(people, client_for, runbook, name, value, words):
    before = written()

    response = client_for(people.operator).post(
        url(people, "runbook_test", runbook.pk), {"run_on": "lab", f"param_{name}": value}, headers=HTMX
    )

    errors = field_errors(response, f"param_{name}")
    assert any(words in error for error in errors), errors
    assert written() == before


def test_the_start_dialog_takes_every_64_bit_number_and_multi_line_text(people, client_for, runbook):
    posted = {
        "run_on": "lab",
        "param_message": MULTI_LINE,
        "param_count": "-9223372036854775808",
        "param_options": json.dumps({"text": MULTI_LINE, "big": 10**30}),
    }

    response = client_for(people.operator).post(url(people, "runbook_start", runbook.pk), posted)

    assert response.status_code == 302, response.content
    job = Job.objects.get()
    assert job.parameters == {
        "message": MULTI_LINE,
        "count": -(2**63),
        "options": {"text": MULTI_LINE, "big": 10**30},
    }


# ---- tokens and groups ----------------------------------------------------------------------------------


@pytest.mark.parametrize("char", [*CONTROLS, "\t", "\u2028", "\u2029"], ids=code_point)
def test_a_token_name_is_one_line_of_printable_characters(people, client_for, char):
    before = written()

    response = client_for(people.owner).post(reverse("portal:token_new"), {"name": f"ci{char}pipeline"})

    (error,) = field_errors(response, "name")
    assert code_point(char) in error
    assert written() == before


def test_a_token_name_may_be_any_printable_text(people, client_for):
    response = client_for(people.owner).post(reverse("portal:token_new"), {"name": "CI \u2013 déploiement ✓ \u202eok"})

    assert response.status_code == 200, response.content
    assert ApiToken.objects.get().name == "CI \u2013 déploiement ✓ \u202eok"


@pytest.mark.parametrize("name", ["lab\x1b", "lab\x00", "lab\u2028"])
def test_a_group_name_with_a_control_character_is_refused(people, client_for, name):
    before = written()

    response = client_for(people.operator).post(url(people, "group_add"), {"name": name})

    assert field_errors(response, "name")
    assert written() == before


@pytest.mark.parametrize("username", ["rita\x00", "rita\x1b", "rita\u2028"])
def test_adding_a_member_named_with_a_control_character_is_refused(people, client_for, username):
    before = written()

    response = client_for(people.owner).post(url(people, "access_add"), {"username": username, "role": "reader"})

    assert field_errors(response, "username")
    assert written() == before


# ---- the Jobs blade's filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["runbook=a%00b", "run_on=%00", "runbook=%1B%5B0m", "status=%00", "status=Done", "status=" + "x" * 3000],
)
def test_a_jobs_filter_with_garbage_is_a_400(people, client_for, runbook, query):
    response = client_for(people.reader).get(url(people, "jobs") + "?" + query)

    assert response.status_code == 400


@pytest.mark.parametrize("query", ["runbook=nope", "run_on=" + "x" * 3000, "runbook=%25", "page=99999999999999999999"])
def test_a_jobs_filter_that_matches_nothing_is_an_empty_list(people, client_for, runbook, query):
    start_job(account=people.account, runbook_name="deploy", group_name="lab", parameters={}, actor=SYSTEM)

    response = client_for(people.reader).get(url(people, "jobs") + "?" + query)

    assert response.status_code == 200
    assert (len(response.context["page"].object_list) == 0) == (not query.startswith("page="))


@pytest.mark.parametrize("after", ["²", "--5", "1e3", str(10**30), str(2**63)])
def test_a_job_streams_position_that_is_not_a_sequence_number_is_a_400(people, client_for, runbook, after):
    job = start_job(account=people.account, runbook_name="deploy", group_name="lab", parameters={}, actor=SYSTEM)

    response = client_for(people.reader).get(url(people, "job_streams", job.pk) + "?after=" + quote(after))

    assert response.status_code == 400


# ---- the other lists' name filters ---------------------------------------------------------------------


@pytest.mark.parametrize("query", ["%00", "lab%00", "%1B", "a%E2%80%A8b"])
@pytest.mark.parametrize("route", ["groups", "home"])
def test_a_name_filter_with_a_control_character_finds_nothing(people, client_for, runbook, route, query):
    """No name holds one, so nothing matches; and PostgreSQL refuses a NUL in a query rather than finding
    nothing, which was an error page."""
    target = reverse("portal:home") if route == "home" else url(people, "groups")

    response = client_for(people.owner).get(f"{target}?q={query}")

    assert response.status_code == 200
    rows = response.context["accounts"] if route == "home" else response.context["page"].object_list
    assert len(rows) == 0
