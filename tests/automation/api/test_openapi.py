"""The OpenAPI document: served to anyone, valid OpenAPI 3, complete, and its viewer works offline."""

import json
import re

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from automation.api.schema import NAME_PATTERN
from automation.models import JobStatus, JobStream, Role
from automation.models.jobs import FINAL_STATUSES
from automation.validators import validate_name

pytestmark = pytest.mark.django_db

AGENT_OPERATIONS = {
    ("post", "/agentsvc/accounts/{account_id}/v1/register"): "agent_register",
    ("post", "/agentsvc/accounts/{account_id}/v1/heartbeat"): "agent_heartbeat",
    ("post", "/agentsvc/accounts/{account_id}/v1/leave"): "agent_leave",
    ("post", "/agentsvc/accounts/{account_id}/v1/deregister"): "agent_deregister",
    ("post", "/agentsvc/accounts/{account_id}/v1/jobs/next"): "agent_next_jobs",
    ("post", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/records"): "agent_job_records",
    ("post", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/finish"): "agent_job_finish",
    ("get", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/variables/{name}"): "agent_job_variable_get",
    ("put", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/variables/{name}"): "agent_job_variable_set",
    ("get", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/credentials/{name}"): "agent_job_credential_get",
    ("get", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/connections/{name}"): "agent_job_connection_get",
    ("get", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/certificates/{name}"): "agent_job_certificate_get",
    ("post", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/children"): "agent_job_child_start",
    ("get", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/children/{child_id}"): "agent_job_child_get",
}
# The job-side operations: each states the lease header it needs, and answers 409 when the lease is lost.
JOB_SIDE = {
    key
    for key, operation_id in AGENT_OPERATIONS.items()
    if operation_id.startswith(("agent_job_variable", "agent_job_c"))
}
MANAGEMENT_OPERATIONS = {
    ("get", "/api/v1/accounts/"),
    ("get", "/api/v1/accounts/{account_id}/"),
    ("get", "/api/v1/accounts/{account_id}/groups/"),
    ("post", "/api/v1/accounts/{account_id}/groups/"),
    ("get", "/api/v1/accounts/{account_id}/groups/{group_name}/"),
    ("patch", "/api/v1/accounts/{account_id}/groups/{group_name}/"),
    ("delete", "/api/v1/accounts/{account_id}/groups/{group_name}/"),
    ("get", "/api/v1/accounts/{account_id}/groups/{group_name}/workers/"),
    ("get", "/api/v1/accounts/{account_id}/workers/{worker_id}/"),
    ("delete", "/api/v1/accounts/{account_id}/workers/{worker_id}/"),
    ("post", "/api/v1/accounts/{account_id}/keys/{slot}/regenerate/"),
    ("get", "/api/v1/notifications/"),
    ("get", "/api/v1/notifications/{notification_id}/"),
    ("get", "/api/v1/accounts/{account_id}/runbooks/"),
    ("post", "/api/v1/accounts/{account_id}/runbooks/"),
    ("get", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/"),
    ("patch", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/"),
    ("delete", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/"),
    ("post", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/publish/"),
    ("get", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/versions/"),
    ("get", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/"),
    ("post", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/"),
    ("get", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/{webhook_id}/"),
    ("patch", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/{webhook_id}/"),
    ("delete", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/{webhook_id}/"),
    ("post", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/{webhook_id}/rotate/"),
    ("post", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/{webhook_id}/extend/"),
    ("post", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/{webhook_id}/signing/"),
    ("delete", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/webhooks/{webhook_id}/signing/"),
    ("get", "/api/v1/accounts/{account_id}/jobs/"),
    ("post", "/api/v1/accounts/{account_id}/jobs/"),
    ("get", "/api/v1/accounts/{account_id}/jobs/{job_id}/"),
    ("post", "/api/v1/accounts/{account_id}/jobs/{job_id}/stop/"),
    ("get", "/api/v1/accounts/{account_id}/jobs/{job_id}/streams/"),
    *(
        (method, f"/api/v1/accounts/{{account_id}}/{kind}s/{suffix}")
        for kind in ("variable", "credential", "certificate", "connection")
        for method, suffix in (
            ("get", ""),
            ("post", ""),
            ("get", f"{{{kind}_name}}/"),
            ("patch", f"{{{kind}_name}}/"),
            ("delete", f"{{{kind}_name}}/"),
        )
    ),
    ("get", "/api/v1/accounts/{account_id}/connection-types/"),
    ("post", "/api/v1/accounts/{account_id}/connection-types/"),
    ("get", "/api/v1/accounts/{account_id}/connection-types/{connection_type_name}/"),
    ("delete", "/api/v1/accounts/{account_id}/connection-types/{connection_type_name}/"),
    ("get", "/api/v1/accounts/{account_id}/schedules/"),
    ("post", "/api/v1/accounts/{account_id}/schedules/"),
    ("get", "/api/v1/accounts/{account_id}/schedules/{schedule_name}/"),
    ("patch", "/api/v1/accounts/{account_id}/schedules/{schedule_name}/"),
    ("delete", "/api/v1/accounts/{account_id}/schedules/{schedule_name}/"),
    ("get", "/api/v1/accounts/{account_id}/schedules/{schedule_name}/next-runs/"),
    ("get", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/schedules/"),
    ("post", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/schedules/"),
    ("delete", "/api/v1/accounts/{account_id}/runbooks/{runbook_name}/schedules/{link_id}/"),
}


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    return yaml.safe_load(response.content)


def operations(schema: dict) -> dict[tuple[str, str], dict]:
    methods = {"get", "post", "put", "patch", "delete"}
    return {(m, path): op for path, item in schema["paths"].items() for m, op in item.items() if m in methods}


def test_the_schema_is_served_to_anyone_as_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_the_schema_is_served_as_json_too():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    validate_schema(json.loads(response.content))


def test_the_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    validate_schema(yaml.safe_load((tmp_path / "schema.yaml").read_text()))


def test_the_schema_has_every_agent_operation_with_its_id(schema):
    ops = operations(schema)
    for key, operation_id in AGENT_OPERATIONS.items():
        assert key in ops, key
        assert ops[key]["operationId"] == operation_id


def test_the_schema_has_every_management_operation(schema):
    ops = operations(schema)
    assert ops.keys() >= MANAGEMENT_OPERATIONS, MANAGEMENT_OPERATIONS - ops.keys()
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids)), "operationIds are unique"


def test_the_schema_documents_requests_answers_and_errors(schema):
    ops = operations(schema)
    register = ops[("post", "/agentsvc/accounts/{account_id}/v1/register")]
    assert {"200", "201", "400", "401", "409", "413", "429"} <= register["responses"].keys()
    assert "application/json" in register["requestBody"]["content"]
    regenerate = ops[("post", "/api/v1/accounts/{account_id}/keys/{slot}/regenerate/")]
    assert {"200", "403", "404"} <= regenerate["responses"].keys()
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    worker = schema["components"]["schemas"]["Worker"]
    assert set(worker["properties"]) == {
        "id",
        "name",
        "group",
        "status",
        "last_seen",
        "registered",
        "ip",
        "os",
        "version",
        "facts",
    }


def test_every_operation_lists_its_error_answers_with_the_error_body(schema):
    ops = operations(schema)
    assert len(ops) == len(AGENT_OPERATIONS) + len(MANAGEMENT_OPERATIONS) == 81
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "detail"}
    for (method, path), operation in ops.items():
        statuses = operation["responses"].keys()
        assert {"400", "401", "429"} <= statuses, (method, path)
        if path.startswith("/api/") and "{" in path:
            assert "404" in statuses, (method, path)
        if operation.get("requestBody"):
            assert {"400", "413", "415"} <= statuses, (method, path)
        if method != "get" and path.startswith("/api/"):
            assert "403" in statuses, (method, path)
        for status, answer in operation["responses"].items():
            if status.startswith("2") or (status, path) == ("409", "/agentsvc/accounts/{account_id}/v1/heartbeat"):
                continue
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                method,
                path,
                status,
            )
    for operation in ("records", "finish"):
        assert {"404", "409"} <= ops[("post", f"/agentsvc/accounts/{{account_id}}/v1/jobs/{{job_id}}/{operation}")][
            "responses"
        ].keys()
    assert "404" in ops[("post", "/agentsvc/accounts/{account_id}/v1/deregister")]["responses"]


def test_each_job_side_operation_states_the_lease_header_and_the_lost_lease(schema):
    ops = operations(schema)
    assert len(JOB_SIDE) == 7
    for key in JOB_SIDE:
        operation = ops[key]
        (lease,) = [p for p in operation["parameters"] if p["in"] == "header"]
        assert (lease["name"], lease["required"], lease["schema"]["format"]) == ("X-Job-Lease", True, "uuid"), key
        assert "409" in operation["responses"], key
        if "{name}" in key[1]:
            (name,) = [p for p in operation["parameters"] if p["name"] == "name"]
            assert name["schema"]["pattern"] == NAME_PATTERN, key
    child = ops[("get", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/children/{child_id}")]
    (wait,) = [p for p in child["parameters"] if p["name"] == "wait"]
    assert (wait["schema"]["minimum"], wait["schema"]["maximum"]) == (0, 60)


def test_each_agent_operation_names_the_secret_it_takes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["agentKey"]["scheme"] == schemes["workerCredential"]["scheme"] == "bearer"
    ops = operations(schema)
    for (method, path), operation_id in AGENT_OPERATIONS.items():
        security = ops[(method, path)]["security"]
        if operation_id == "agent_register":
            assert security == [{"agentKey": []}]
        elif operation_id == "agent_deregister":
            assert security == [{"agentKey": []}, {"workerCredential": []}]
        else:
            assert security == [{"workerCredential": []}], operation_id


def test_the_schema_states_the_checks_the_server_makes(schema):
    ops = operations(schema)
    parameters = {
        (method, path, p["name"]): p["schema"] for (method, path), op in ops.items() for p in op.get("parameters", [])
    }
    assert parameters[("post", "/api/v1/accounts/{account_id}/keys/{slot}/regenerate/", "slot")]["enum"] == [
        "primary",
        "secondary",
    ]
    created_after = parameters[("get", "/api/v1/accounts/{account_id}/jobs/", "created_after")]
    assert {"type": "string", "format": "date-time"} in created_after["anyOf"]
    assert parameters[("get", "/api/v1/accounts/", "page")] == {"type": "integer", "minimum": 1}
    components = schema["components"]["schemas"]
    for name in ("RegisterRequestRequest", "GroupCreateRequest", "RunbookCreateRequest", "JobStartRequest"):
        for field in ("group", "name", "runbook", "run_on"):
            if field in components[name]["properties"]:
                prop = components[name]["properties"][field]
                assert (prop["pattern"], prop["maxLength"]) == (NAME_PATTERN, 128), (name, field)
    record = components["JobRecordsRequestRequest"]["properties"]["records"]["items"]
    assert record == {"$ref": "#/components/schemas/RecordRequest"}
    assert components["RecordRequest"]["properties"]["seq"]["maximum"] == 2**31 - 1
    assert components["RecordRequest"]["properties"]["time"]["format"] == "date-time"
    create = components["RunbookCreateRequest"]["properties"]
    assert create["retries"]["maximum"] == 3 and create["timeout_seconds"]["maximum"] == 7 * 24 * 3600
    assert {item["properties"]["type"]["enum"][0] for item in create["parameters"]["items"]["oneOf"]} == {
        "string",
        "int",
        "bool",
        "json",
        "secret",
    }
    assert components["DeregisterRequestRequest"]["required"] == ["machine_id"]


def test_a_name_in_a_path_is_stated_as_the_name_in_a_body(schema):
    """One name rule: the path parameters of groups and runbooks say what the body fields say."""
    body = schema["components"]["schemas"]["GroupCreateRequest"]["properties"]["name"]
    in_paths = [
        p["schema"]
        for item in schema["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
        if p["name"] in ("group_name", "runbook_name")
    ]
    # groups: GET, PATCH, DELETE, workers; runbooks: GET, PATCH, DELETE, publish, versions; their webhooks: 9;
    # their schedules: GET, POST, DELETE
    assert len(in_paths) == 21
    assert all(s == {"type": "string", "minLength": 1, "maxLength": 128, "pattern": NAME_PATTERN} for s in in_paths)
    assert {k: body[k] for k in ("minLength", "maxLength", "pattern")} == {
        "minLength": 1,
        "maxLength": 128,
        "pattern": NAME_PATTERN,
    }


@pytest.mark.parametrize(
    "name",
    ["a", "web-01", "A.b_c-d", "x y", ". .", "..a", "a..", "-", "_", "9" * 128, "a" + " " * 126 + "b"],
)
def test_the_name_pattern_takes_every_name_the_server_takes(name):
    validate_name(name)
    assert re.fullmatch(NAME_PATTERN.removeprefix("^").removesuffix("$"), name)


@pytest.mark.parametrize("name", ["", ".", "..", " a", "a ", "a/b", "a\nb", "é", "a\x00", "9" * 129, "a\tb"])
def test_the_name_pattern_refuses_every_name_the_server_refuses(name):
    with pytest.raises(ValidationError):
        validate_name(name)
    assert not re.fullmatch(NAME_PATTERN.removeprefix("^").removesuffix("$"), name) or len(name) > 128


@pytest.mark.parametrize(
    "value", ["a", " a ", "x\ty", " ", "\t", "\xa0", "\u3000", "\x85", "a\x00", "a\nb", "\u00e9t\u00e9"]
)
def test_a_host_fact_matches_its_pattern_exactly_when_the_server_takes_it(value):
    from rest_framework.exceptions import ValidationError as Invalid

    from automation.api.agent.serializers import FactsSerializer
    from automation.api.schema import NOT_BLANK_PATTERN

    try:
        FactsSerializer().fields["os"].run_validation(value)
        taken = True
    except Invalid:
        taken = False
    assert taken == bool(re.search(NOT_BLANK_PATTERN, value)), value


def test_the_docs_page_is_served_and_uses_only_local_files():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    # Its start-up script is a file of its own (the Content-Security-Policy runs no inline script).
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    script = APIClient().get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"'<>]+", html)
    assert "cdn" not in html.lower()
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert sources and all(s.startswith("/") for s in sources), sources


def test_the_files_the_docs_page_loads_are_served(client):
    html = APIClient().get("/api/docs/").content.decode()
    paths = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert any(p.endswith("swagger-ui-bundle.js") for p in paths) and any(p.endswith(".css") for p in paths)
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 0, path


def test_enums_are_the_models_choices(schema):
    """Status, stream, role and final-state lists come from the models, so the document cannot drift from them."""
    components = schema["components"]["schemas"]

    def enum_of(prop: dict) -> list:
        ref = prop.get("$ref") or prop["allOf"][0]["$ref"]
        return components[ref.rsplit("/", 1)[1]]["enum"]

    assert enum_of(components["Account"]["properties"]["role"]) == Role.values
    assert enum_of(components["Job"]["properties"]["status"]) == JobStatus.values
    assert enum_of(components["StreamRecord"]["properties"]["stream"]) == JobStream.Stream.values
    assert enum_of(components["RecordRequest"]["properties"]["stream"]) == JobStream.Stream.values
    assert enum_of(components["JobFinishRequestRequest"]["properties"]["status"]) == [s.value for s in FINAL_STATUSES]


def test_a_groups_run_as_is_in_the_schema_and_deleting_the_credential_it_names_states_its_409(schema):
    ops = operations(schema)
    assert "409" in ops[("delete", "/api/v1/accounts/{account_id}/credentials/{credential_name}/")]["responses"]
    patch = ops[("patch", "/api/v1/accounts/{account_id}/groups/{group_name}/")]
    assert {"200", "400", "403", "404"} <= patch["responses"].keys()
    group = schema["components"]["schemas"]["Group"]["properties"]
    assert group["run_as_credential"]["nullable"] is True
