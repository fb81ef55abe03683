"""Bad input to the agent API: every field of every endpoint, and bodies that are not JSON objects.
Each gets a 4xx JSON error with a reason that names what is wrong, and nothing is written."""

import json

import pytest
from django.conf import settings

from automation.models import HybridWorker
from tests.automation.api.helpers import MACHINE, assert_error, call, register_body, registered, rows

pytestmark = pytest.mark.django_db

BAD_NAMES = {
    "empty": "",
    "129 characters": "a" * 129,
    "Japanese": "名前",
    "accented": "café",
    "a newline": "a\nb",
    "a NUL": "\x00",
    "a tab": "a\tb",
    "a leading space": " lab",
    "a trailing space": "lab ",
    "only a space": " ",
    "only dots": "...",
    "one dot": ".",
    "a slash": "lab/prod",
    "a percent sign": "lab%20",
    "an int": 5,
    "a float": 1.5,
    "a bool": True,
    "a list": ["lab"],
    "an object": {"name": "lab"},
    "null": None,
}

BAD_MACHINE_IDS = {
    "too short": "abc1234",
    "65 characters": "m" * 65,
    "with spaces": "machine 0001",
    "non-ASCII": "maschine-grün-01",
    "a slash": "machine/0001",
    "a newline": "machine\n0001",
    "a NUL": "machine\x000001",
    "an int": 12345678,
    "a list": ["machine-0001"],
    "null": None,
    "empty": "",
}

BAD_FACTS = {
    "a string": ("facts", "Debian"),
    "a list": ("facts", ["Debian"]),
    "null": ("facts", None),
    "cpu_count as a string": ("facts.cpu_count", {"cpu_count": "4"}),
    "cpu_count true": ("facts.cpu_count", {"cpu_count": True}),
    "cpu_count -1": ("facts.cpu_count", {"cpu_count": -1}),
    "cpu_count 0": ("facts.cpu_count", {"cpu_count": 0}),
    "cpu_count a float": ("facts.cpu_count", {"cpu_count": 4.0}),
    "cpu_count huge": ("facts.cpu_count", {"cpu_count": 10**30}),
    "ip_addresses not a list": ("facts.ip_addresses", {"ip_addresses": "10.0.0.1"}),
    "ip_addresses an object": ("facts.ip_addresses", {"ip_addresses": {"eth0": "10.0.0.1"}}),
    "ip_addresses of numbers": ("facts.ip_addresses", {"ip_addresses": [10]}),
    "ip_addresses too many": ("facts.ip_addresses", {"ip_addresses": ["10.0.0.1"] * 33}),
    "load with words": ("facts.load", {"load": ["high"]}),
    "load with numeric strings": ("facts.load", {"load": ["0.5", "0.2", "0.1"]}),
    "load with a bool": ("facts.load", {"load": [True]}),
    "load negative": ("facts.load", {"load": [-0.5]}),
    "load not a list": ("facts.load", {"load": 0.5}),
    "load too long": ("facts.load", {"load": [0.1, 0.2, 0.3, 0.4]}),
    "memory_bytes a float": ("facts.memory_bytes", {"memory_bytes": 8.5e9}),
    "memory_bytes a whole float": ("facts.memory_bytes", {"memory_bytes": 8e9}),
    "memory_bytes a string": ("facts.memory_bytes", {"memory_bytes": "8000000000"}),
    "memory_bytes negative": ("facts.memory_bytes", {"memory_bytes": -1}),
    "disk_free_bytes null": ("facts.disk_free_bytes", {"disk_free_bytes": None}),
    "os a number": ("facts.os", {"os": 12}),
    "os too long": ("facts.os", {"os": "L" * 201}),
    "os with a newline": ("facts.os", {"os": "Linux\nrm -rf"}),
    "hostname a list": ("facts.hostname", {"hostname": ["web-01"]}),
    "agent_version too long": ("facts.agent_version", {"agent_version": "1" * 33}),
    "capacity 0": ("facts.capacity", {"capacity": 0}),
    "capacity too big": ("facts.capacity", {"capacity": 1025}),
    "clock a string": ("facts.clock", {"clock": "now"}),
    "clock a numeric string": ("facts.clock", {"clock": "1700000000"}),
}

# Raw bodies, sent as application/json: (body, expected status, expected code)
BAD_BODIES = {
    "malformed JSON": ('{"group": "lab", ', 400, "parse_error"),
    "trailing garbage": ('{"group": "lab"} x', 400, "parse_error"),
    "a JSON array": (json.dumps([register_body()]), 400, None),
    "a JSON string": ('"lab"', 400, None),
    "a JSON number": ("42", 400, None),
    "JSON null": ("null", 400, None),
    "only whitespace": ("   \n", 400, "parse_error"),
    "not UTF-8": (b'{"group": "\xff\xfe"}', 400, "parse_error"),
}

WRONG_CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"]


@pytest.fixture
def worker(agent, people, keys):
    return registered(agent, people.account, keys["a"]["primary"], machine_id=MACHINE, name="web-01", group="lab")


def secret_for(operation: str, keys, worker) -> str:
    return keys["a"]["primary"] if operation in ("register", "deregister-with-key") else worker["credential"]


def endpoint(operation: str) -> str:
    return operation.split("-")[0]


def assert_refused(response, before, *, field: str | None = None, status: int = 400, code: str | None = None):
    body = assert_error(response, status, code)
    if field is not None:
        assert field in body["detail"] or body.get("field") == field, body
    assert rows() == before
    return body


# ---- register: each field -------------------------------------------------------------


@pytest.mark.parametrize("field", ["group", "name"])
@pytest.mark.parametrize("value", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_register_refuses_a_bad_name(agent, people, keys, worker, field, value):
    before = rows()
    body = register_body(machine_id="machine-0002", name="web-02", group="new-group")
    body[field] = value
    assert_refused(call(agent, people.account.pk, "register", body, token=keys["a"]["primary"]), before, field=field)


@pytest.mark.parametrize("value", BAD_MACHINE_IDS.values(), ids=BAD_MACHINE_IDS.keys())
def test_register_refuses_a_bad_machine_id(agent, people, keys, worker, value):
    before = rows()
    body = register_body(machine_id=value, name="web-02", group="new-group")
    response = call(agent, people.account.pk, "register", body, token=keys["a"]["primary"])
    assert_refused(response, before, field="machine_id")


@pytest.mark.parametrize("field", ["group", "machine_id", "name"])
def test_register_refuses_a_missing_field(agent, people, keys, worker, field):
    before = rows()
    body = register_body(machine_id="machine-0002", name="web-02", group="new-group")
    del body[field]
    response = call(agent, people.account.pk, "register", body, token=keys["a"]["primary"])
    body = assert_refused(response, before, field=field)
    assert "required" in body["detail"]


@pytest.mark.parametrize(("field", "facts"), BAD_FACTS.values(), ids=BAD_FACTS.keys())
def test_register_refuses_bad_facts(agent, people, keys, worker, field, facts):
    before = rows()
    body = register_body(machine_id="machine-0002", name="web-02", group="new-group") | {"facts": facts}
    response = call(agent, people.account.pk, "register", body, token=keys["a"]["primary"])
    assert_refused(response, before, field=field)


def test_register_lists_every_bad_field_at_once(agent, people, keys, worker):
    before = rows()
    body = {"group": "", "machine_id": "x", "name": "名前", "facts": {"cpu_count": "4"}}
    response = call(agent, people.account.pk, "register", body, token=keys["a"]["primary"])
    body = assert_refused(response, before)
    for field in ("group", "machine_id", "name", "facts.cpu_count"):
        assert field in body["detail"]
    assert set(body["fields"]) == {"group", "machine_id", "name", "facts"}


def test_register_ignores_unknown_facts_and_fields(agent, people, keys):
    body = register_body(facts={"cpu_count": 2, "gpu": "none"}) | {"extra": 1}
    response = call(agent, people.account.pk, "register", body, token=keys["a"]["primary"])
    assert response.status_code == 201
    facts = HybridWorker.objects.get().facts
    assert facts.pop("reported_at") > 0
    assert facts == {"cpu_count": 2}


def test_register_accepts_every_allowed_name_character(agent, people, keys):
    name = "A-z_0.9 x" + "y" * 119
    assert len(name) == 128
    response = call(
        agent, people.account.pk, "register", register_body(group=name, name=name), token=keys["a"]["primary"]
    )
    assert response.status_code == 201, response.content
    assert response.json()["group"] == name


# ---- heartbeat and deregister: each field ------------------------------------------------


@pytest.mark.parametrize(("field", "facts"), BAD_FACTS.values(), ids=BAD_FACTS.keys())
def test_heartbeat_refuses_bad_facts(agent, people, keys, worker, field, facts):
    stored = HybridWorker.objects.values("last_seen_at", "facts", "os", "ip", "version", "capacity").get()
    before = rows()
    response = call(agent, people.account.pk, "heartbeat", {"facts": facts}, token=worker["credential"])
    assert_refused(response, before, field=field)
    assert HybridWorker.objects.values("last_seen_at", "facts", "os", "ip", "version", "capacity").get() == stored


@pytest.mark.parametrize("operation", ["deregister-with-key", "deregister-with-credential"])
@pytest.mark.parametrize("value", BAD_MACHINE_IDS.values(), ids=BAD_MACHINE_IDS.keys())
def test_deregister_refuses_a_bad_machine_id(agent, people, keys, worker, operation, value):
    before = rows()
    response = call(
        agent, people.account.pk, "deregister", {"machine_id": value}, token=secret_for(operation, keys, worker)
    )
    assert_refused(response, before, field="machine_id")


# ---- whole bodies ---------------------------------------------------------------------

OPERATIONS = ["register", "heartbeat", "deregister-with-key", "deregister-with-credential"]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(("raw", "status", "code"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_that_is_not_a_json_object_is_refused(agent, people, keys, worker, operation, raw, status, code):
    stored = HybridWorker.objects.values("last_seen_at").get()
    before = rows()
    response = call(agent, people.account.pk, endpoint(operation), raw, token=secret_for(operation, keys, worker))
    body = assert_refused(response, before, status=status, code=code)
    if code == "parse_error":
        assert "JSON" in body["detail"]
    assert HybridWorker.objects.values("last_seen_at").get() == stored


def test_an_empty_register_body_names_the_missing_fields(agent, people, keys, worker):
    before = rows()
    body = assert_refused(call(agent, people.account.pk, "register", b"", token=keys["a"]["primary"]), before)
    for field in ("group", "machine_id", "name"):
        assert field in body["detail"]


def test_an_empty_deregister_body_with_a_key_asks_for_the_machine_id(agent, people, keys, worker):
    before = rows()
    response = call(agent, people.account.pk, "deregister", b"", token=keys["a"]["primary"])
    assert_refused(response, before, field="machine_id")


def test_an_empty_heartbeat_body_is_a_heartbeat_without_facts(agent, people, keys, worker):
    """Facts are optional, so no body at all is a valid heartbeat (only whitespace is not: see above)."""
    assert call(agent, people.account.pk, "heartbeat", b"", token=worker["credential"]).status_code == 200


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_body_over_the_limit_is_413(agent, people, keys, worker, operation):
    limit = settings.AGENT_MAX_BODY_BYTES
    raw = json.dumps({"machine_id": MACHINE, "facts": {"padding": "x" * limit}})
    assert len(raw) > limit
    before = rows()
    response = call(agent, people.account.pk, endpoint(operation), raw, token=secret_for(operation, keys, worker))
    body = assert_refused(response, before, status=413, code="payload_too_large")
    assert str(limit) in body["detail"]
    assert HybridWorker.objects.exists()


def test_a_body_exactly_at_the_limit_is_accepted_and_one_byte_more_is_not(agent, people, keys, worker):
    limit = settings.AGENT_MAX_BODY_BYTES
    skeleton = json.dumps({"facts": {"padding": ""}})
    at_limit = json.dumps({"facts": {"padding": "x" * (limit - len(skeleton))}})
    assert len(at_limit.encode()) == limit
    assert call(agent, people.account.pk, "heartbeat", at_limit, token=worker["credential"]).status_code == 200
    over = json.dumps({"facts": {"padding": "x" * (limit - len(skeleton) + 1)}})
    assert_error(call(agent, people.account.pk, "heartbeat", over, token=worker["credential"]), 413)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("content_type", WRONG_CONTENT_TYPES)
def test_a_wrong_content_type_is_415(agent, people, keys, worker, operation, content_type):
    before = rows()
    raw = json.dumps(register_body(machine_id="machine-0002", name="web-02") | {"machine_id": MACHINE})
    response = call(
        agent,
        people.account.pk,
        endpoint(operation),
        raw,
        token=secret_for(operation, keys, worker),
        content_type=content_type,
    )
    body = assert_refused(response, before, status=415, code="unsupported_media_type")
    assert content_type in body["detail"]


def test_json_with_a_charset_is_fine(agent, people, keys):
    response = call(
        agent,
        people.account.pk,
        "register",
        json.dumps(register_body()),
        token=keys["a"]["primary"],
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 201


# ---- unknown paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/agentsvc/",
        "/agentsvc/nothing",
        "/agentsvc/accounts/",
        "/agentsvc/accounts/{account}/v1/",
        "/agentsvc/accounts/{account}/v1/jobs/",
        "/agentsvc/accounts/{account}/v2/register",
        "/agentsvc/accounts/{account}/v1/register/",
        "/agentsvc/accounts/not-a-uuid/v1/register",
        "/api/v1/",
        "/api/v1/nothing",
        "/api/v1/accounts/not-a-uuid/",
        "/api/v1/accounts/{account}/no-such-resource/",
        "/api/v1/accounts/{account}/keys/primary/",
        "/api/v1/accounts",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_paths_under_the_apis_are_json_404s(agent, people, path, method):
    response = getattr(agent, method)(path.format(account=people.account.pk))
    body = assert_error(response, 404, "not_found")
    assert path.split("{")[0].rstrip("/") in body["detail"]
