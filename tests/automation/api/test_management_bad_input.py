"""Management API: text a database or a runbook cannot take (NUL, other control characters, lone
surrogates), numbers past what a column holds, and filters with extreme dates or garbage are refused
with a 400 that names the field, and nothing is written; ordinary multi-line text still works. The same
answers on PostgreSQL and SQLite (on SQLite a NUL used to be stored and the job failed on its worker;
on PostgreSQL the insert failed)."""

import json
from urllib.parse import quote, urlencode

import pytest
from rest_framework.test import APIClient

from automation.models import AuditEvent, HybridWorkerGroup, Job, JobStream, Runbook, RunbookVersion
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.tokens import create_token
from tests.automation.api.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SYSTEM = Actor.for_system()
MAX_INT, MIN_INT = 2**63 - 1, -(2**63)  # what a 64-bit column holds
DECLARED = [
    {"name": "message", "type": "string"},
    {"name": "count", "type": "int"},
    {"name": "options", "type": "json"},
    {"name": "token", "type": "secret"},
]
# Characters no text field takes: NUL, the other C0 controls but tab and line feed, DEL, C1 controls,
# a CR that does not end a line, and lone surrogates (not text at all: they cannot be encoded as UTF-8).
NEVER = [
    "\x00",
    "\x01",
    "\x07",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x85",
    "\x9b",
    "\r",
    "\ud800",
    "\udfff",
]
MULTI_LINE = "First line\n\tindented line\r\nWindows line end\u2028line separator\n\nlast: ünïcödé ✓ \u202eok"


def api(user) -> APIClient:
    client = APIClient(REMOTE_ADDR="198.51.100.30")
    token = create_token(user=user, name="tests", expires_days=None, actor=SYSTEM).plain
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def send(client, method: str, url: str, body) -> object:
    """A JSON body sent as it is written here: Python's json writes NaN, Infinity, huge integers and
    lone surrogates (as \\udxxx escapes), which a strict JSON renderer would refuse to send."""
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


class World:
    def __init__(self, people):
        self.account = people.account
        self.client = api(people.operator)
        self.runbook = create_runbook(
            account=self.account,
            name="deploy",
            runbook_type="bash",
            description="Deploys.",
            content="echo deploy",
            parameters=DECLARED,
            actor=SYSTEM,
        )
        publish_runbook(runbook=self.runbook, actor=SYSTEM)
        create_group(account=self.account, name="lab", actor=SYSTEM)

    def url(self, rest: str = "") -> str:
        return f"/api/v1/accounts/{self.account.pk}/{rest}"

    def start(self, **changes):
        body = {"runbook": "deploy", "run_on": "lab", "parameters": {}, **changes}
        return send(self.client, "post", self.url("jobs/"), body)


@pytest.fixture
def world(people) -> World:
    return World(people)


def written() -> tuple:
    """What a refused request must leave as it was."""
    return (
        sorted(Runbook.objects.values_list("name", "description", "draft", "parameters", "retries", "timeout_seconds")),
        RunbookVersion.objects.count(),
        Job.objects.count(),
        JobStream.objects.count(),
        HybridWorkerGroup.objects.count(),
        AuditEvent.objects.count(),
    )


def refused(response, field: str, before: tuple) -> dict:
    error = assert_error(response, 400)
    # A lone surrogate escape is no character: the JSON parser refuses the body before any field is read.
    if error["code"] != "parse_error" or "surrogate" not in error["detail"]:
        assert error.get("field") == field or field in error.get("fields", {}), error
    assert written() == before
    return error


def not_json(value) -> bool:
    return "NaN" in json.dumps(value) or "Infinity" in json.dumps(value)


def refused_or_unparsed(response, field: str, before: tuple, value) -> dict:
    """NaN and Infinity are not JSON: the body's parser may refuse them before any field is read."""
    if not_json(value) and response.status_code == 400 and response.json().get("code") == "parse_error":
        assert written() == before
        return response.json()
    return refused(response, field, before)


def name_of(char: str) -> str:
    return f"U+{ord(char):04X}"


def names(named: str, error: dict) -> bool:
    """The refusal names the character, or (a lone surrogate, U+D800 to U+DFFF) the parser refused the body."""
    if "U+D800" <= named <= "U+DFFF":
        return error["code"] == "parse_error" and "surrogate" in error["detail"]
    return named in error["detail"]


# ---- text ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", NEVER, ids=name_of)
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_description_with_a_control_character_is_refused(world, method, char):
    before = written()
    description = f"Restarts{char}the service"
    if method == "post":
        response = send(
            world.client,
            "post",
            world.url("runbooks/"),
            {"name": "new", "runbook_type": "bash", "description": description},
        )
    else:
        response = send(world.client, "patch", world.url("runbooks/deploy/"), {"description": description})

    error = refused(response, "description", before)
    assert names(name_of(char), error), error


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\n", "\t"], ids=name_of)
def test_a_line_break_is_refused_where_a_value_is_one_line(world, char):
    """Names are single-line: a line separator in one is refused too (the name rule already holds them
    to ASCII), and an unknown group named with one is not found, not an error page."""
    before = written()

    refused(send(world.client, "post", world.url("groups/"), {"name": f"lab{char}2"}), "name", before)
    refused(world.start(run_on=f"lab{char}"), "run_on", before)


def test_a_multi_line_description_is_kept_as_written(world):
    made = send(
        world.client, "post", world.url("runbooks/"), {"name": "new", "runbook_type": "bash", "description": MULTI_LINE}
    )
    patched = send(world.client, "patch", world.url("runbooks/deploy/"), {"description": MULTI_LINE})

    assert made.status_code == 201, made.content
    assert patched.status_code == 200, patched.content
    assert made.json()["description"] == patched.json()["description"] == MULTI_LINE
    assert Runbook.objects.get(name="new").description == Runbook.objects.get(name="deploy").description == MULTI_LINE


@pytest.mark.parametrize("content", ["echo a\x00b", "echo \ud800"], ids=["NUL", "lone surrogate"])
def test_runbook_content_refuses_only_what_is_not_text(world, content):
    before = written()

    refused(send(world.client, "patch", world.url("runbooks/deploy/"), {"content": content}), "content", before)


def test_runbook_content_keeps_every_other_control_character(world):
    """A script may hold escape sequences, a bell or a form feed: only NUL is refused in content."""
    content = "printf '\x1b[1mbold\x1b[0m\\n'\x07\x0c\r\necho done\x7f\x85\n"

    response = send(world.client, "patch", world.url("runbooks/deploy/"), {"content": content})

    assert response.status_code == 200, response.content
    assert Runbook.objects.get(name="deploy").draft == content


DEFAULTS = [
    ({"name": "m", "type": "string", "default": "a\x00b"}, "U+0000"),
    ({"name": "m", "type": "string", "default": "a\x1bb"}, "U+001B"),
    ({"name": "m", "type": "string", "default": "a\x9bb"}, "U+009B"),
    ({"name": "m", "type": "string", "default": "a\udc00b"}, "U+DC00"),
    ({"name": "o", "type": "json", "default": {"k": ["x", {"deep": "a\x00b"}]}}, "U+0000"),
    ({"name": "o", "type": "json", "default": {"k\x00": 1}}, "U+0000"),
    ({"name": "o", "type": "json", "default": "\x07"}, "U+0007"),
]


@pytest.mark.parametrize(("declaration", "named"), DEFAULTS)
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_parameter_default_with_a_control_character_is_refused(world, method, declaration, named):
    before = written()
    if method == "post":
        body = {"name": "new", "runbook_type": "bash", "parameters": [declaration]}
        response = send(world.client, "post", world.url("runbooks/"), body)
    else:
        response = send(world.client, "patch", world.url("runbooks/deploy/"), {"parameters": [declaration]})

    error = refused(response, "parameters", before)
    assert names(named, error) and (error["code"] == "parse_error" or repr(declaration["name"]) in error["detail"])


VALUES = [
    ("message", "a\x00b", "U+0000"),
    ("message", "tab\tok but bell \x07", "U+0007"),
    ("message", "\x1b[31mred", "U+001B"),
    ("message", "a\x85b", "U+0085"),
    ("message", "half\ud83d", "U+D83D"),
    ("token", "s3cr\x00t", "U+0000"),
    ("options", {"list": ["ok", "a\x00b"]}, "U+0000"),
    ("options", {"nested": {"k\x1b": "v"}}, "U+001B"),
    ("options", ["a\x00"], "U+0000"),
    ("options", "\x00", "U+0000"),
]


@pytest.mark.parametrize(("name", "value", "named"), VALUES)
def test_a_job_parameter_with_a_control_character_is_refused(world, name, value, named):
    before = written()

    error = refused(world.start(parameters={name: value}), name, before)

    assert names(named, error), error
    if name == "token":
        assert "s3cr" not in json.dumps(error)  # a secret is never echoed back


def test_multi_line_job_parameters_are_kept_as_written(world):
    response = world.start(parameters={"message": MULTI_LINE, "options": {"text": MULTI_LINE, "n": [1, 2.5, None]}})

    assert response.status_code == 201, response.content
    job = Job.objects.get()
    assert job.parameters["message"] == MULTI_LINE
    assert job.parameters["options"] == {"text": MULTI_LINE, "n": [1, 2.5, None]}


@pytest.mark.parametrize("where", ["runbook", "run_on"])
@pytest.mark.parametrize("value", ["dep\x00loy", "\ud800", "deploy\x1b"], ids=["NUL", "surrogate", "ESC"])
def test_a_runbook_or_group_named_with_a_control_character_is_a_400_not_a_server_error(world, where, value):
    before = written()

    refused(world.start(**{where: value}), where, before)


@pytest.mark.parametrize(
    "path",
    ["runbooks/dep%00loy/", "runbooks/%00/publish/", "runbooks/%00/versions/", "groups/%00/", "groups/%00/workers/"],
)
@pytest.mark.parametrize("method", ["get", "patch", "delete", "post"])
def test_a_name_with_a_nul_in_the_url_is_refused_not_a_server_error(world, path, method):
    before = written()

    if method == "get":
        response = world.client.get(world.url(path))
    else:
        response = getattr(world.client, method)(world.url(path), data="{}", content_type="application/json")

    # The API refuses a control character anywhere in a URL path (400) before routing; no name can hold one.
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid" and "control character" in response.json()["detail"]
    assert written() == before


# ---- numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "default",
    [MAX_INT + 1, MIN_INT - 1, 10**400, -(10**400), 5.0, 1e300, float("nan"), float("inf"), True],
    ids=["2**63", "-2**63-1", "10**400", "-10**400", "5.0", "1e300", "NaN", "Infinity", "true"],
)
def test_an_int_default_must_fit_64_bits(world, default):
    before = written()
    body = {"parameters": [{"name": "n", "type": "int", "default": default}]}

    error = refused_or_unparsed(
        send(world.client, "patch", world.url("runbooks/deploy/"), body), "parameters", before, default
    )

    assert "'n'" in error["detail"] or error["code"] == "parse_error"


@pytest.mark.parametrize("value", [MIN_INT, MAX_INT, 0, -1])
def test_an_int_parameter_takes_every_64_bit_value(world, value):
    response = world.start(parameters={"count": value})

    assert response.status_code == 201, response.content
    assert Job.objects.get().parameters["count"] == value
    assert response.json()["parameters"]["count"] == value


@pytest.mark.parametrize(
    "value",
    [MAX_INT + 1, MIN_INT - 1, 10**400, 7.0, float("nan"), float("-inf"), "12"],
    ids=["2**63", "-2**63-1", "10**400", "7.0", "NaN", "-Infinity", "a string"],
)
def test_an_int_parameter_past_64_bits_or_not_whole_is_refused(world, value):
    before = written()

    refused_or_unparsed(world.start(parameters={"count": value}), "count", before, value)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf"), {"a": [1, {"b": float("nan")}]}, [float("inf")]],
    ids=["NaN", "Infinity", "-Infinity", "nested NaN", "nested Infinity"],
)
@pytest.mark.parametrize("where", ["value", "default"])
def test_a_json_parameter_refuses_what_json_cannot_say(world, value, where):
    """NaN and Infinity are not JSON: PostgreSQL's jsonb refuses them, and no page or API answer could
    show them again."""
    before = written()
    if where == "value":
        response, field = world.start(parameters={"options": value}), "options"
    else:
        body = {"parameters": [{"name": "o", "type": "json", "default": value}]}
        response, field = send(world.client, "patch", world.url("runbooks/deploy/"), body), "parameters"

    refused_or_unparsed(response, field, before, value)


def test_a_json_parameter_nested_deeper_than_a_page_can_show_is_refused(world):
    deep = "x"
    for _ in range(200):
        deep = [deep]
    before = written()

    refused(world.start(parameters={"options": deep}), "options", before)


def test_a_json_parameter_keeps_ordinary_numbers(world):
    options = {"big": 10**30, "small": -(10**30), "pi": 3.14159, "tiny": 1e-300}

    response = world.start(parameters={"options": options})

    assert response.status_code == 201, response.content
    assert Job.objects.get().parameters["options"] == options


SETTINGS = [
    ("retries", 10**400),
    ("retries", float("nan")),
    ("retries", float("inf")),
    ("retries", 2.0),
    ("retries", MAX_INT + 1),
    ("timeout_seconds", 10**400),
    ("timeout_seconds", -(10**400)),
    ("timeout_seconds", float("nan")),
    ("timeout_seconds", float("inf")),
    ("timeout_seconds", 60.0),
    ("timeout_seconds", MAX_INT + 1),
]


@pytest.mark.parametrize(("field", "value"), SETTINGS, ids=lambda v: str(v)[:12])
@pytest.mark.parametrize("method", ["post", "patch"])
def test_runbook_settings_out_of_range_or_not_whole_are_refused(world, method, field, value):
    before = written()
    if method == "post":
        body = {"name": "new", "runbook_type": "bash", field: value}
        response = send(world.client, "post", world.url("runbooks/"), body)
    else:
        response = send(world.client, "patch", world.url("runbooks/deploy/"), {field: value})

    refused_or_unparsed(response, field, before, value)


@pytest.mark.parametrize("value", [10**400, float("nan"), float("inf"), 30.0, MAX_INT + 1, -1])
def test_a_job_timeout_out_of_range_or_not_whole_is_refused(world, value):
    before = written()

    refused_or_unparsed(world.start(timeout_seconds=value), "timeout_seconds", before, value)


# ---- the jobs list's filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59-00:01",
        "0001-01-01T00:00:00+23:00",
        "0001-01-01T00:00:00+00:01",
        "2026-01-01T10:00:00",  # no offset: which time zone?
        "2026-01-01",
        "9999-99-99T99:99:99Z",
        "2026-01-01T10:00:00\x00Z",
        "",
    ],
)
@pytest.mark.parametrize("key", ["created_after", "created_before"])
def test_an_extreme_or_naive_date_filter_is_400_naming_the_filter(world, key, value):
    job_services.start_job(account=world.account, runbook_name="deploy", group_name="lab", parameters={}, actor=SYSTEM)

    response = world.client.get(world.url("jobs/?" + urlencode({key: value})))

    if value == "":  # an empty filter is no filter
        assert response.status_code == 200, response.content
        assert response.json()["count"] == 1
        return
    error = assert_error(response, 400, "invalid")
    assert key in error["detail"], error


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("created_after", "0001-01-01T00:00:00Z"),
        ("created_before", "9999-12-31T23:59:59Z"),
        ("created_after", "2000-01-01T00:00:00+14:00"),
    ],
)
def test_the_widest_dates_still_filter(world, key, value):
    job_services.start_job(account=world.account, runbook_name="deploy", group_name="lab", parameters={}, actor=SYSTEM)

    response = world.client.get(world.url("jobs/?" + urlencode({key: value})))

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1


@pytest.mark.parametrize("key", ["status", "runbook", "run_on"])
@pytest.mark.parametrize("value", ["a\x00b", "\x1b[0m", "x" * 5000, "%", "'; DROP TABLE automation_job; --"])
def test_garbage_in_any_other_filter_is_400_or_an_honest_empty_list(world, key, value):
    job_services.start_job(account=world.account, runbook_name="deploy", group_name="lab", parameters={}, actor=SYSTEM)

    response = world.client.get(world.url("jobs/?" + urlencode({key: value})))

    if response.status_code == 200:
        assert response.json()["count"] == 0
    else:
        error = assert_error(response, 400, "invalid")
        assert key in error["detail"], error
    assert Job.objects.count() == 1


@pytest.mark.parametrize("after", ["²", "\u0661", "--5", "-", "1e3", "0x10", str(10**30), str(MAX_INT + 1), " 5"])
def test_a_streams_position_that_is_not_a_sequence_number_is_400(world, after):
    job = job_services.start_job(
        account=world.account, runbook_name="deploy", group_name="lab", parameters={}, actor=SYSTEM
    )

    response = world.client.get(world.url(f"jobs/{job.pk}/streams/?after={quote(after)}"))

    error = assert_error(response, 400, "invalid")
    assert "after" in error["detail"]


@pytest.mark.parametrize("after", ["-1", "0", str(MAX_INT)])
def test_every_sequence_number_is_a_streams_position(world, after):
    job = job_services.start_job(
        account=world.account, runbook_name="deploy", group_name="lab", parameters={}, actor=SYSTEM
    )

    response = world.client.get(world.url(f"jobs/{job.pk}/streams/?after={after}"))

    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


@pytest.mark.parametrize("char", [*NEVER, "\u2028", "\n", "\t"], ids=name_of)
def test_a_groups_run_as_credential_with_a_character_no_name_holds_is_400_naming_it(world, char):
    before = written()
    url = world.url("groups/lab/")
    refused(send(world.client, "patch", url, {"run_as_credential": f"de{char}ploy"}), "run_as_credential", before)
