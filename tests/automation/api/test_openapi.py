"""The OpenAPI document: served to anyone, valid OpenAPI 3, complete, and its viewer works offline."""

import json
import re

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

AGENT_OPERATIONS = {
    ("post", "/agentsvc/accounts/{account_id}/v1/register"): "agent_register",
    ("post", "/agentsvc/accounts/{account_id}/v1/heartbeat"): "agent_heartbeat",
    ("post", "/agentsvc/accounts/{account_id}/v1/deregister"): "agent_deregister",
}
MANAGEMENT_OPERATIONS = {
    ("get", "/api/v1/accounts/"),
    ("get", "/api/v1/accounts/{account_id}/"),
    ("get", "/api/v1/accounts/{account_id}/groups/"),
    ("post", "/api/v1/accounts/{account_id}/groups/"),
    ("get", "/api/v1/accounts/{account_id}/groups/{group_name}/"),
    ("delete", "/api/v1/accounts/{account_id}/groups/{group_name}/"),
    ("get", "/api/v1/accounts/{account_id}/groups/{group_name}/workers/"),
    ("get", "/api/v1/accounts/{account_id}/workers/{worker_id}/"),
    ("delete", "/api/v1/accounts/{account_id}/workers/{worker_id}/"),
    ("post", "/api/v1/accounts/{account_id}/keys/{slot}/regenerate/"),
    ("get", "/api/v1/notifications/"),
    ("get", "/api/v1/notifications/{notification_id}/"),
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


def test_the_docs_page_is_served_and_uses_only_local_files():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert "/api/schema/" in html
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
