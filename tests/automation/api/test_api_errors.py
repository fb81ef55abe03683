"""One error path for both APIs: whatever goes wrong in a request under /agentsvc/ or /api/ (a body the
parser cannot take, a body over any limit, an unknown URL under any method, a fault before or inside a
view) answers JSON {"code", "detail"} with the right status, never an HTML page; a 500 that still
happens names a request id that its log line carries."""

import json
import logging
import uuid
from urllib.parse import quote

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.test import AsyncClient, RequestFactory
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from automation.models import HybridWorker, Notification, Runbook
from automation.services.actor import Actor
from automation.services.jobs import start_job
from automation.services.notifications import create_notification
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.tokens import create_token
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error, call, register_body, registered, rows
from tests.support.daphne import start_daphne_at

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SYSTEM = Actor.for_system()
DEEP = {"arrays": "[" * 2000 + "]" * 2000, "objects": '{"a":' * 2000 + "1" + "}" * 2000}
MIB = 1024 * 1024


def token_client(user, **extra) -> APIClient:
    client = APIClient(REMOTE_ADDR="198.51.100.20", **extra)
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {create_token(user=user, name='t', expires_days=None, actor=SYSTEM).plain}"
    )
    return client


@pytest.fixture
def worker(agent, people, keys) -> dict:
    return registered(agent, people.account, keys["a"]["primary"])


@pytest.fixture
def owner(people) -> APIClient:
    return token_client(people.owner)


def api(people, rest: str = "") -> str:
    return f"/api/v1/accounts/{people.account.pk}/{rest}"


# ---- bodies the parser cannot take ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", DEEP)
@pytest.mark.parametrize("operation", ["register", "heartbeat", "records", "runbook create"])
def test_a_deeply_nested_body_is_a_400_parse_error(agent, owner, people, keys, worker, operation, shape):
    raw = DEEP[shape]
    assert len(raw) < 12 * 1024
    before = rows()
    if operation == "runbook create":
        response = owner.post(api(people, "runbooks/"), data=raw, content_type="application/json")
    elif operation == "records":
        response = call(agent, people.account.pk, f"jobs/{uuid.uuid4()}/records", raw, token=worker["credential"])
    else:
        token = keys["a"]["primary"] if operation == "register" else worker["credential"]
        response = call(agent, people.account.pk, operation, raw, token=token)

    body = assert_error(response, 400, "parse_error")

    assert "deep" in body["detail"]
    assert rows() == before


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ('{"group": "lab", "group": "prod", "machine_id": "machine-0002", "name": "web-02"}', "group"),
        ('{"group": "lab", "machine_id": "machine-0002", "name": "web-02", "name": "web-02"}', "name"),
        ('{"group": "lab", "machine_id": "machine-0002", "name": "w", "facts": {"os": "a", "os": "b"}}', "os"),
    ],
    ids=["group twice", "the same value twice", "in a nested object"],
)
def test_a_registration_naming_a_key_twice_is_refused_and_joins_no_group(agent, people, keys, worker, raw, key):
    before = rows()

    response = call(agent, people.account.pk, "register", raw, token=keys["a"]["primary"])

    body = assert_error(response, 400, "parse_error")
    assert f'"{key}"' in body["detail"] and "once" in body["detail"]
    assert rows() == before


def test_a_key_twice_in_a_record_or_a_runbook_is_refused_too(agent, owner, people, worker):
    record = f'{{"lease": "{uuid.uuid4()}", "records": [{{"seq": 0, "stream": "output", "text": "a", "text": "b"}}]}}'
    response = call(agent, people.account.pk, f"jobs/{uuid.uuid4()}/records", record, token=worker["credential"])
    assert '"text"' in assert_error(response, 400, "parse_error")["detail"]

    runbook = '{"name": "one", "name": "two", "runbook_type": "bash"}'
    response = owner.post(api(people, "runbooks/"), data=runbook, content_type="application/json")
    assert '"name"' in assert_error(response, 400, "parse_error")["detail"]
    assert not Runbook.objects.exists()


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"], ids=lambda n: n.replace("-", "minus ")
)
def test_numbers_json_does_not_have_are_a_400_parse_error(agent, people, worker, number):
    """Python's json reads NaN and Infinity (and 1e400 as infinity); JSON has neither."""
    response = call(
        agent, people.account.pk, "heartbeat", f'{{"facts": {{"clock": {number}}}}}', token=worker["credential"]
    )

    body = assert_error(response, 400, "parse_error")

    assert number.lstrip("-") in body["detail"]


@pytest.mark.parametrize("escape", [r"\ud800", r"\udfff", r"a\ud83d", r"\ude00b"])
def test_a_lone_surrogate_escape_is_a_400_parse_error(agent, people, keys, worker, escape):
    """Not a character: it cannot be stored (UTF-8 has no encoding for it)."""
    raw = json.dumps(register_body(machine_id="machine-0002")).replace('"web-01"', f'"{escape}"')
    before = rows()

    response = call(agent, people.account.pk, "register", raw, token=keys["a"]["primary"])

    assert "surrogate" in assert_error(response, 400, "parse_error")["detail"]
    assert rows() == before


def test_an_escaped_surrogate_pair_and_an_escaped_backslash_are_fine(agent, people, keys):
    raw = json.dumps(register_body(facts={"os": "Linux \U0001f600 \\ud800"}))
    assert "\\ud83d\\ude00" in raw and "\\\\ud800" in raw

    response = call(agent, people.account.pk, "register", raw, token=keys["a"]["primary"])

    assert response.status_code == 201, response.content
    assert HybridWorker.objects.get().facts["os"] == "Linux \U0001f600 \\ud800"


# ---- bodies over the limit -------------------------------------------------------------------------------


def oversized(size: int) -> bytes:
    """Valid JSON of `size` bytes: whatever refuses it, refuses it for its size."""
    return b'{"padding": "' + b"x" * (size - 15) + b'"}'


# Just over Django's own cap (which the largest limit, a variable's, sets) and far over it.
@pytest.mark.parametrize(
    "size", [settings.DATA_UPLOAD_MAX_MEMORY_SIZE + MIB, 20 * MIB], ids=["over the global cap", "20 MiB"]
)
@pytest.mark.parametrize(
    ("operation", "limit"),
    [
        ("register", "AGENT_MAX_BODY_BYTES"),
        ("heartbeat", "AGENT_MAX_BODY_BYTES"),
        ("records", "AGENT_STREAM_MAX_BODY_BYTES"),
        ("finish", "AGENT_STREAM_MAX_BODY_BYTES"),
        ("runbook create", "API_MAX_BODY_BYTES"),
        ("runbook edit", "API_MAX_BODY_BYTES"),
    ],
)
def test_a_body_over_every_limit_is_a_413_naming_the_operations_limit(
    agent, owner, people, keys, worker, operation, limit, size
):
    raw = oversized(size)
    assert len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    create_runbook(account=people.account, name="rb", runbook_type="bash", actor=SYSTEM)
    before = rows()
    if operation == "runbook create":
        response = owner.post(api(people, "runbooks/"), data=raw, content_type="application/json")
    elif operation == "runbook edit":
        response = owner.patch(api(people, "runbooks/rb/"), data=raw, content_type="application/json")
    elif operation in ("records", "finish"):
        response = call(agent, people.account.pk, f"jobs/{uuid.uuid4()}/{operation}", raw, token=worker["credential"])
    else:
        token = keys["a"]["primary"] if operation == "register" else worker["credential"]
        response = call(agent, people.account.pk, operation, raw, token=token)

    body = assert_error(response, 413, "payload_too_large")

    assert str(getattr(settings, limit)) in body["detail"]
    assert rows() == before


@pytest.fixture
def live(server_env, log_dir, transactional_db):
    process, url = start_daphne_at(server_env, log_dir)
    yield url
    process.stop()


@pytest.mark.parametrize("size", [9 * MIB, 20 * MIB], ids=["9 MiB", "20 MiB"])
def test_a_live_server_answers_a_huge_body_with_a_json_413(live, people, keys, size):
    """What the agent sees: it halves a batch only on a 413."""
    worker = register_worker(account=people.account, group_name="lab", machine_id="machine-0001", name="w", facts={})
    token = create_token(user=people.owner, name="t", expires_days=None, actor=SYSTEM).plain
    base = f"{live}/agentsvc/accounts/{people.account.pk}/v1"
    targets = [
        (f"{base}/jobs/{uuid.uuid4()}/records", worker.credential, settings.AGENT_STREAM_MAX_BODY_BYTES),
        (f"{base}/heartbeat", worker.credential, settings.AGENT_MAX_BODY_BYTES),
        (f"{base}/register", keys["a"]["primary"], settings.AGENT_MAX_BODY_BYTES),
        (f"{live}{api(people, 'runbooks/')}", token, settings.API_MAX_BODY_BYTES),
    ]
    raw = oversized(size)
    with httpx.Client(timeout=120) as http:
        for url, secret, limit in targets:
            headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
            response = http.post(url, content=raw, headers=headers)
            assert response.status_code == 413, (url, response.status_code, response.text[:300])
            assert response.headers["content-type"].startswith("application/json")
            body = response.json()
            assert body["code"] == "payload_too_large" and str(limit) in body["detail"], body


def test_a_live_server_answers_json_to_deep_nesting_unknown_urls_and_a_body_without_a_type(live, people, keys):
    base = f"{live}/agentsvc/accounts/{people.account.pk}/v1"
    headers_only = {"Authorization": f"Bearer {keys['a']['primary']}"}
    headers = {**headers_only, "Content-Type": "application/json"}
    with httpx.Client(timeout=30) as http:
        deep = http.post(f"{base}/register", content=DEEP["arrays"], headers=headers)
        unknown = http.post(f"{base}/nothing", content=b"{}", headers=headers)
        management = http.post(f"{live}/api/v1/nothing", content=b"{}", headers=headers)
        untyped = http.post(f"{base}/register", content=json.dumps(register_body()).encode(), headers=headers_only)
    assert (deep.status_code, deep.json()["code"]) == (400, "parse_error")
    assert (untyped.status_code, untyped.json()["code"]) == (415, "unsupported_media_type")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert (management.status_code, management.json()["code"]) == (404, "not_found")


# ---- unknown URLs, every method ---------------------------------------------------------------------------

METHODS = ["get", "post", "put", "patch", "delete", "head", "options"]
UNKNOWN = [
    ("/agentsvc", "agent"),
    ("/agentsvc/", "agent"),
    ("/agentsvc/accounts/{account}/v1/nothing", "agent"),
    ("/agentsvc/accounts/{account}/v2/register", "agent"),
    ("/api", "management"),
    ("/api/", "management"),
    ("/api/v2/accounts/", "management"),
    ("/api/schema/nothing", "management"),
    ("/api/v1/nothing", "management"),
    ("/api/v1/accounts/{account}/no-such-resource/", "management"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "api_name"), UNKNOWN, ids=[p for p, _ in UNKNOWN])
def test_an_unknown_url_is_a_json_404_for_every_method_even_with_a_session_and_no_csrf_token(
    people, method, path, api_name
):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(people.owner)
    path = path.format(account=people.account.pk)

    response = client.generic(method.upper(), path, data=b"{}", content_type="application/json")

    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/json"
    if method != "head":
        body = assert_error(response, 404, "not_found")
        assert body["detail"].startswith(f"There is no {api_name} API operation at {path}")


WRONG_METHODS = [
    ("get", "agent register"),
    ("put", "agent register"),
    ("delete", "agent register"),
    ("put", "jobs"),
    ("delete", "jobs"),
    ("post", "account"),
    ("patch", "account"),
]


@pytest.mark.parametrize(("method", "target"), WRONG_METHODS)
def test_a_known_url_under_a_method_it_does_not_take_is_a_json_405(agent, owner, people, method, target):
    client, path = {
        "agent register": (agent, f"/agentsvc/accounts/{people.account.pk}/v1/register"),
        "jobs": (owner, api(people, "jobs/")),
        "account": (owner, api(people)),
    }[target]

    response = getattr(client, method)(path)

    assert_error(response, 405, "method_not_allowed")
    assert method.upper() not in response["Allow"]


def test_the_schema_answers_its_errors_in_json_not_yaml():
    response = APIClient().post("/api/schema/")

    assert_error(response, 405, "method_not_allowed")


# ---- 404 wording ---------------------------------------------------------------------------------------------


@pytest.fixture
def lookups(people):
    runbook = create_runbook(account=people.account, name="rb", runbook_type="bash", content="echo", actor=SYSTEM)
    publish_runbook(runbook=runbook, actor=SYSTEM)
    register_worker(account=people.account, group_name="lab", machine_id="machine-0001", name="w", facts={})
    job = start_job(account=people.account, runbook_name="rb", group_name="lab", actor=SYSTEM)
    return job


MISSING = str(uuid.UUID(int=7))
NOT_FOUND = [
    ("get", f"/api/v1/accounts/{MISSING}/", f"Automation account {MISSING} was not found"),
    ("get", f"/api/v1/accounts/{MISSING}/runbooks/", f"Automation account {MISSING} was not found"),
    ("get", "{account}groups/nope/", "Hybrid worker group 'nope' was not found in this Automation account"),
    ("get", "{account}groups/nope/workers/", "Hybrid worker group 'nope' was not found in this Automation account"),
    ("get", f"{{account}}workers/{MISSING}/", f"Hybrid worker {MISSING} was not found in this Automation account"),
    ("get", "{account}runbooks/nope/", "Runbook 'nope' was not found in this Automation account"),
    ("patch", "{account}runbooks/nope/", "Runbook 'nope' was not found in this Automation account"),
    ("delete", "{account}runbooks/nope/", "Runbook 'nope' was not found in this Automation account"),
    ("post", "{account}runbooks/nope/publish/", "Runbook 'nope' was not found in this Automation account"),
    ("get", "{account}runbooks/nope/versions/", "Runbook 'nope' was not found in this Automation account"),
    ("get", f"{{account}}jobs/{MISSING}/", f"Job {MISSING} was not found in this Automation account"),
    ("post", f"{{account}}jobs/{MISSING}/stop/", f"Job {MISSING} was not found in this Automation account"),
    ("get", f"{{account}}jobs/{MISSING}/streams/", f"Job {MISSING} was not found in this Automation account"),
    ("get", f"/api/v1/notifications/{MISSING}/", f"Notification {MISSING} was not found"),
]


@pytest.mark.parametrize(("method", "path", "detail"), NOT_FOUND, ids=[f"{m} {p}" for m, p, _ in NOT_FOUND])
def test_a_management_api_404_names_what_was_not_found_in_the_products_words(
    owner, people, lookups, method, path, detail
):
    response = getattr(owner, method)(path.format(account=api(people)), data={}, format="json")

    body = assert_error(response, 404, "not_found")

    assert body["detail"].startswith(detail), body
    assert "matches the given query" not in body["detail"]


def test_another_users_notification_is_not_found_either(people):
    notification = create_notification(account=people.other_account, title="Theirs")
    assert Notification.objects.filter(pk=notification.pk).exists()

    response = token_client(people.owner).get(f"/api/v1/notifications/{notification.pk}/")

    assert assert_error(response, 404, "not_found")["detail"] == f"Notification {notification.pk} was not found."


# ---- pagination ----------------------------------------------------------------------------------------------


@pytest.fixture
def sixty_groups(people):
    from automation.services.groups import create_group

    for n in range(60):
        create_group(account=people.account, name=f"g{n:02}", actor=SYSTEM)


@pytest.mark.parametrize("page", ["", "abc", "0", "-1", "1.5", "1e1", " 1", "\uff11", "\u00b2", "0x1", "true"])
def test_a_page_that_is_not_a_whole_number_from_1_is_400_naming_page(owner, people, sixty_groups, page):
    response = owner.get(api(people, "groups/"), {"page": page})

    body = assert_error(response, 400, "invalid")

    assert body["detail"].startswith("page:"), body


@pytest.mark.parametrize("page", ["3", "4", "99999999999999999999999999999"])
def test_a_page_past_the_last_is_400_saying_how_many_there_are(owner, people, sixty_groups, page):
    response = owner.get(api(people, "groups/"), {"page": page})

    body = assert_error(response, 400, "invalid")

    assert body["detail"].startswith("page:") and "2 pages" in body["detail"], body


def test_pages_1_to_the_last_are_served_and_an_empty_list_has_a_page_1(owner, people, sixty_groups):
    first, second = (owner.get(api(people, "groups/"), {"page": n}).json() for n in (1, 2))
    runbooks = owner.get(api(people, "runbooks/"), {"page": "1"})

    assert first["count"] == 60 and len(first["results"]) == 50 and len(second["results"]) == 10
    assert runbooks.status_code == 200 and runbooks.json()["results"] == []


def test_every_list_uses_the_one_pagination_of_the_api_and_the_schema_says_how_page_is_checked():
    import yaml
    from django.urls import get_resolver
    from rest_framework.generics import ListAPIView

    from automation.api.pagination import PageNumberPagination

    lists = []

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
            elif isinstance(getattr(pattern.callback, "cls", None), type) and issubclass(
                pattern.callback.cls, ListAPIView
            ):
                lists.append(pattern.callback.cls)

    walk(get_resolver().url_patterns)
    assert len(lists) >= 8
    assert all(view.pagination_class is PageNumberPagination for view in lists)
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    listed = [op for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    paged = [op for op in listed if any(p["name"] == "page" for p in op.get("parameters", []))]
    assert len(paged) == len(lists)
    for op in paged:
        (page,) = (p for p in op["parameters"] if p["name"] == "page")
        assert page["schema"] == {"type": "integer", "minimum": 1}
        assert "400" in page["description"]
        assert "400" in op["responses"], op["operationId"]


# ---- the schema and its viewer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema/?format=json", "/api/docs/"])
def test_the_schema_and_docs_ignore_any_authorization_header(agent, people, keys, settings, path):
    settings.AUTH_FAILURES_PER_MINUTE = 2
    client = APIClient(REMOTE_ADDR="198.51.100.10")
    for _ in range(settings.AUTH_FAILURES_PER_MINUTE + 1):
        assert client.get(path, HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 200

    # No failure was counted against the address either: a wrong key is still only the first.
    response = call(agent, people.account.pk, "register", register_body(), token="wrong")
    assert_error(response, 401, "unauthorized")


# ---- faults: a 500 is JSON with a request id the log carries ---------------------------------------------------


def assert_server_error(response) -> str:
    body = assert_error(response, 500, "server_error")
    request_id = response["X-Request-ID"]
    assert len(request_id) >= 16
    assert f"request id {request_id}" in body["detail"]
    assert "Traceback" not in body["detail"] and "automation_hybridworker" not in body["detail"]
    return request_id


def test_a_fault_inside_a_view_is_a_json_500_whose_id_the_logged_traceback_carries(agent, people, worker, caplog):
    # A real fault: the table the view reads is gone.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE automation_hybridworker RENAME TO automation_hybridworker_gone")
    caplog.set_level(logging.INFO)

    response = call(agent, people.account.pk, "heartbeat", {}, token=worker["credential"])

    request_id = assert_server_error(response)
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1, [r.getMessage() for r in caplog.records]
    assert request_id in with_traceback[0].getMessage()
    assert with_traceback[0].levelno == logging.ERROR
    assert not [r for r in caplog.records if r.name == "django.request"], "logged once, not again by Django"


def failing_middleware(get_response):
    def middleware(request):
        raise RuntimeError("injected fault before any view")

    return middleware


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_fault_before_any_view_is_a_json_500_whose_id_the_logged_traceback_carries(settings, caplog, mode):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.failing_middleware"]
    caplog.set_level(logging.INFO)

    if mode == "sync":
        response = APIClient(raise_request_exception=False).post("/agentsvc/accounts/x/v1/register")
    else:
        response = async_to_sync(AsyncClient(raise_request_exception=False).post)("/agentsvc/accounts/x/v1/register")

    request_id = assert_server_error(response)
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1, [r.getMessage() for r in caplog.records]
    assert request_id in with_traceback[0].getMessage()
    assert "injected fault" in str(with_traceback[0].exc_info[1])


def test_a_fault_before_any_view_of_a_page_is_still_the_html_error_page(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.failing_middleware"]

    response = APIClient(raise_request_exception=False).get("/login/")

    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


def test_a_host_that_is_not_allowed_is_a_json_400_under_the_apis(people):
    response = APIClient().get("/api/v1/accounts/", HTTP_HOST="evil.example")

    assert "evil.example" in assert_error(response, 400)["detail"]


def test_a_csrf_refusal_under_the_apis_is_json(people):
    view = import_string(settings.CSRF_FAILURE_VIEW)

    response = view(RequestFactory().post("/api/v1/accounts/"), reason="CSRF cookie not set.")

    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["code"] == "csrf_failed" and "CSRF" in body["detail"] and "Bearer" in body["detail"]


@pytest.mark.parametrize("segment", ["%00", "a%00b", "%01", "%7F", "%0A"])
def test_a_control_character_in_a_url_is_a_json_400(owner, people, segment):
    for path in (api(people, f"groups/{segment}/"), api(people, f"runbooks/{segment}/versions/")):
        body = assert_error(owner.get(path), 400, "invalid")
        assert "control character" in body["detail"]
    body = assert_error(owner.get(api(people, "jobs/") + f"?runbook={segment}"), 400, "invalid")
    assert "runbook" in body["detail"]


def test_a_name_with_odd_but_printable_characters_in_a_url_is_just_not_found(owner, people):
    for name in ("名前", "a%b", "x" * 300):
        response = owner.get(api(people, f"groups/{quote(name)}/"))
        assert_error(response, 404, "not_found")
