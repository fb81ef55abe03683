"""Helpers for Python runbooks run by a Hybrid Runbook Worker: `import hybridworker_runbook`.

The agent sorts a runbook's output into streams: standard output is Output, standard error is Error,
and a line that starts with `WARNING:`, `VERBOSE:`, `ERROR:` or `PROGRESS:` goes to that stream. These
functions write such lines (every line of a multi-line text gets the prefix) and flush them at once:

    import hybridworker_runbook as hrw

    params = hrw.parameters()          # {"name": value, ...}, also passed as --name value arguments
    call = hrw.webhook_data()          # a webhook's call: {"WebhookName", "RequestBody", "RequestHeader"}
    hrw.write_verbose("connecting to " + params["server"])
    hrw.write_progress(50)             # a Progress record "50%"
    hrw.write_warning("disk almost full")
    hrw.write_output({"state": "ok"})  # a dict or list is written as JSON
    hrw.write_error("could not reach the share")

The account's assets and child runbooks, with Azure's names (see automationassets, which has the same):

    login = hrw.get_automation_credential("ServiceLogin")     # {"username", "password"}
    child = hrw.start_automation_runbook("Child", {"Count": 3}, wait=True)

This module uses the standard library only, and works outside a worker too (it just prints; the asset
functions raise AutomationAssetError there).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

# Imported as a runbook's top-level module, or as part of the agent's package (its tests, the CLI).
if __package__:
    from .automationassets import (
        AutomationAssetError,
        AutomationAssetNotFound,
        get_automation_certificate,
        get_automation_connection,
        get_automation_credential,
        get_automation_variable,
        get_webhook_data,
        set_automation_variable,
        start_automation_runbook,
    )
else:
    from automationassets import (
        AutomationAssetError,
        AutomationAssetNotFound,
        get_automation_certificate,
        get_automation_connection,
        get_automation_credential,
        get_automation_variable,
        get_webhook_data,
        set_automation_variable,
        start_automation_runbook,
    )

__all__ = [
    "AutomationAssetError",
    "AutomationAssetNotFound",
    "get_automation_certificate",
    "get_automation_connection",
    "get_automation_credential",
    "get_automation_variable",
    "get_webhook_data",
    "job_id",
    "parameters",
    "sandbox",
    "set_automation_variable",
    "start_automation_runbook",
    "webhook_data",
    "write_error",
    "write_output",
    "write_progress",
    "write_verbose",
    "write_warning",
]


def _write(stream: Any, prefix: str, text: Any) -> None:
    lines = str(text).split("\n")
    stream.write("".join(f"{prefix}{line}\n" for line in lines))
    stream.flush()


def write_output(value: Any) -> None:
    """An Output record per line; a dict or list is written as JSON."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, default=str)
    _write(sys.stdout, "", value)


def write_error(text: Any) -> None:
    """An Error record per line (standard error)."""
    _write(sys.stderr, "", text)


def write_warning(text: Any) -> None:
    _write(sys.stdout, "WARNING: ", text)


def write_verbose(text: Any) -> None:
    _write(sys.stdout, "VERBOSE: ", text)


def write_progress(value: Any) -> None:
    """A Progress record: a number is a percentage (`write_progress(40)` is "40%"), anything else is text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = f"{value:g}%"
    _write(sys.stdout, "PROGRESS: ", value)


def parameters() -> dict[str, Any]:
    """The job's parameter values, from the file named by HYBRIDWORKER_PARAMETERS_FILE ({} outside a job)."""
    path = os.environ.get("HYBRIDWORKER_PARAMETERS_FILE")
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def webhook_data() -> dict[str, Any] | None:
    """The call that started the job, when a webhook did: {"WebhookName", "RequestBody" (the body as sent, as
    text), "RequestHeader" ({name: value}, less the redacted ones)}; None otherwise."""
    return get_webhook_data()


def job_id() -> str | None:
    return os.environ.get("HYBRIDWORKER_JOB_ID")


def sandbox() -> str | None:
    """The job's folder (also its working folder and HOME)."""
    return os.environ.get("HYBRIDWORKER_SANDBOX")
