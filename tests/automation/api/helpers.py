"""Small helpers shared by the API tests."""

import json
import uuid

from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup

MACHINE = "machine-0001"


def agent_url(account_id, operation: str) -> str:
    return f"/agentsvc/accounts/{account_id}/v1/{operation}"


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


def call(client, account_id, operation: str, body=None, *, token: str | None = None, **extra):
    """POST a JSON body (a dict or list, or raw str/bytes sent as is) to an agent endpoint."""
    if body is None:
        data = b""
    elif isinstance(body, (str, bytes)):
        data = body
    else:
        data = json.dumps(body)
    content_type = extra.pop("content_type", "application/json")
    return client.post(
        agent_url(account_id, operation), data=data, content_type=content_type, headers=bearer(token), **extra
    )


def register_body(group: str = "lab", machine_id: str = MACHINE, name: str = "web-01", facts=None) -> dict:
    body = {"group": group, "machine_id": machine_id, "name": name}
    if facts is not None:
        body["facts"] = facts
    return body


def register(client, account, key: str, **fields):
    return call(client, account.pk, "register", register_body(**fields), token=key)


def registered(client, account, key: str, **fields) -> dict:
    """Register and return the response body, which must be a success."""
    response = register(client, account, key, **fields)
    assert response.status_code in (200, 201), response.content
    return response.json()


def rows() -> tuple[int, int, int]:
    """What a refused agent request must leave as it was."""
    return HybridWorker.objects.count(), HybridWorkerGroup.objects.count(), AuditEvent.objects.count()


def assert_error(response, status: int, code: str | None = None, *, field: str | None = None) -> dict:
    """A JSON error with a stable code and a message a person can act on (naming `field`, if given: as the
    service's one field or among a body's field errors)."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict)
    assert {"code", "detail"} <= body.keys(), body
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field or field in body.get("fields", {}), body
    return body


def is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
