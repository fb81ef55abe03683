"""Azure Automation's `automationassets` module for Python runbooks on a Hybrid Runbook Worker.

A runbook written for Azure runs here unchanged:

    import automationassets

    server = automationassets.get_automation_variable("ServerName")
    login = automationassets.get_automation_credential("ServiceLogin")   # {"username", "password"}
    automationassets.set_automation_variable("LastRun", "2026-12-06T09:00:00Z")
    result = automationassets.start_automation_runbook("Child", {"Count": 3}, wait=True)
    call = automationassets.get_webhook_data()  # a webhook's call, or None

A runbook a webhook starts gets the call as Azure's WebhookData ({"WebhookName", "RequestBody",
"RequestHeader"}): as the named argument `--WebhookData <JSON>` when it declares that parameter, and always in the
parameters file, which get_webhook_data() reads (it asks no server).

Every call is one HTTP request to the agent that runs the job (HYBRIDWORKER_ASSETS_URL, with the job's token
HYBRIDWORKER_ASSETS_TOKEN, both in the runbook's environment only), which asks the server under the job's lease:
the calls work while the job runs, and only then. A value read from an encrypted asset is masked (`******`) in the
job's streams if the runbook prints it. The standard library only, so any Python 3 the worker runs has it.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = [
    "AutomationAssetError",
    "AutomationAssetNotFound",
    "get_automation_certificate",
    "get_automation_connection",
    "get_automation_credential",
    "get_automation_variable",
    "get_webhook_data",
    "set_automation_variable",
    "start_automation_runbook",
]

URL_VARIABLE = "HYBRIDWORKER_ASSETS_URL"
TOKEN_VARIABLE = "HYBRIDWORKER_ASSETS_TOKEN"
OUTSIDE_A_JOB = "Automation assets can be used only inside a job run by a Hybrid Runbook Worker"
FINAL_STATUSES = ("Completed", "Failed", "Stopped")
# How long one wait for a child job lasts at the server; the answer's travel time comes on top.
CHILD_WAIT_SECONDS = 30
REQUEST_SECONDS = 60


class AutomationAssetError(Exception):
    """The asset could not be read or set; the message is the server's (or the agent's) explanation."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AutomationAssetNotFound(AutomationAssetError):
    """No asset of that kind and name in the job's account (Azure's name for the error)."""


def get_webhook_data() -> dict[str, Any] | None:
    """The WebhookData of the call that started this job; None when no webhook started it (or outside a job)."""
    path = os.environ.get("HYBRIDWORKER_PARAMETERS_FILE")
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle).get("WebhookData")
    return data if isinstance(data, dict) else None


def inside_job() -> bool:
    return bool(os.environ.get(URL_VARIABLE) and os.environ.get(TOKEN_VARIABLE))


def _segment(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise AutomationAssetError("an asset name must be a non-empty string")
    return urllib.parse.quote(name, safe="")


def _jsonable(value: Any) -> Any:
    # A date-time is one of Azure's variable types; JSON has no such type, so it travels as ISO 8601 text.
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} cannot be stored in an Automation variable")


def _request(method: str, path: str, body: Any = None, timeout: float = REQUEST_SECONDS) -> Any:
    """One request to the job's relay; its JSON answer, or AutomationAssetError with the server's detail."""
    url, token = os.environ.get(URL_VARIABLE), os.environ.get(TOKEN_VARIABLE)
    if not url or not token:
        raise AutomationAssetError(OUTSIDE_A_JOB)
    data = None if body is None else json.dumps(body, default=_jsonable).encode("utf-8")
    # The URL is the agent's relay (http://127.0.0.1:PORT), from the job's environment.
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)  # noqa: S310
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    # The relay is on this machine's loopback: a proxy the runbook set for the world must not carry the token.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise _error(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AutomationAssetError(f"cannot reach the worker's asset service at {url}: {reason}") from None


def _error(status: int, raw: bytes) -> AutomationAssetError:
    try:
        answer = json.loads(raw.decode("utf-8"))
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("detail"), str):
        code = str(answer.get("code") or "")
        kind = AutomationAssetNotFound if code == "asset_not_found" else AutomationAssetError
        return kind(answer["detail"], status=status, code=code)
    return AutomationAssetError(f"the worker's asset service answered HTTP {status}", status=status)


def get_automation_variable(name: str) -> Any:
    """The variable's value, in its JSON type (an encrypted variable's too: this job may read it)."""
    return _request("GET", f"/variables/{_segment(name)}")["value"]


def set_automation_variable(name: str, value: Any) -> None:
    """Replace an existing variable's value (an encrypted variable stays encrypted)."""
    _request("PUT", f"/variables/{_segment(name)}", {"value": value})


def get_automation_credential(name: str) -> dict[str, str]:
    answer = _request("GET", f"/credentials/{_segment(name)}")
    return {"username": answer["username"], "password": answer["password"]}


def get_automation_connection(name: str) -> dict[str, Any]:
    """The connection's fields, `{field: value}`."""
    return dict(_request("GET", f"/connections/{_segment(name)}")["values"])


def get_automation_certificate(name: str) -> bytes:
    """The certificate as PKCS#12 bytes without a password (with its private key if it has one).

    Only an exportable certificate can be read; any other raises AutomationAssetError (code `not_exportable`).
    """
    answer = _request("GET", f"/certificates/{_segment(name)}")
    return base64.b64decode(answer["pkcs12_base64"])


def start_automation_runbook(
    name: str, parameters: dict[str, Any] | None = None, run_on: str | None = None, wait: bool = False
) -> Any:
    """Start a published runbook of this account as a child job (by default on this job's group).

    Returns the child's job id; with `wait`, waits until the child ends and returns
    `{"id", "status", "status_reason", "output": [text, ...]}`.
    """
    body = {"runbook": name, "parameters": parameters or {}, "run_on": run_on}
    child = _request("POST", "/children", body)["id"]
    if not wait:
        return child
    while True:
        answer = _request(
            "GET", f"/children/{_segment(child)}?wait={CHILD_WAIT_SECONDS}", timeout=CHILD_WAIT_SECONDS + 30
        )
        if answer.get("status") in FINAL_STATUSES:
            return answer
        # The server answers early only when the child ended; a quick non-final answer (an older server) must
        # not turn this loop into a busy one.
        time.sleep(1)
