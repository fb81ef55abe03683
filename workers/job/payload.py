"""A job as the server hands it out (`jobs/next`, or claimed by an end report), read defensively.

A job that cannot even be reported on (no usable id or lease) is refused outright; any other flaw is kept
as its `problem`, so the job is reported Failed with the reason instead of being dropped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

WEBHOOK_DATA = "WebhookData"


@dataclass(frozen=True)
class JobPayload:
    id: str
    lease: str
    runbook: str
    version: Any
    runbook_type: str
    content: str
    sha256: str
    parameters: dict[str, Any]
    declared: list[dict[str, Any]]
    timeout_seconds: int | None
    problem: str | None = None
    # The server runs a job again (as a new attempt, under a new lease) when its worker was lost.
    attempt: int = 1
    # A webhook's call ({"WebhookName", "RequestBody", "RequestHeader"}); None for a job nobody called.
    webhook_data: dict[str, Any] | None = None
    # The user the job's group runs its jobs as (its Run as credential's user name); None: the agent's default.
    run_as: str | None = None

    @classmethod
    def parse(cls, data: Any) -> JobPayload:
        """Raises ValueError when the job cannot even be reported on (no usable id or lease)."""
        if not isinstance(data, dict):
            raise ValueError("a job is not an object")
        job_id, lease = str(uuid.UUID(str(data.get("id")))), str(data.get("lease") or "")
        if not lease:
            raise ValueError(f"job {job_id} comes without a lease")
        problem = None
        content, sha256 = data.get("content"), data.get("sha256")
        parameters, declared = data.get("parameters") or {}, data.get("declared") or []
        timeout = data.get("timeout_seconds")
        attempt = data.get("attempt")
        run_as = data.get("run_as")
        if not isinstance(content, str) or not isinstance(sha256, str):
            problem = "the job's payload has no runbook content or SHA-256"
        elif not isinstance(parameters, dict) or not isinstance(declared, list):
            problem = "the job's parameters are not an object"
        elif timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
            problem = "the job's timeout is not a whole number of seconds"
        elif run_as is not None and (not isinstance(run_as, str) or not run_as):
            # Never fall back to the default user for a job its group says to run as someone else.
            problem = "the job's Run as user is not a name"
        return cls(
            id=job_id,
            lease=lease,
            runbook=str(data.get("runbook") or "?"),
            version=data.get("version"),
            runbook_type=str(data.get("runbook_type") or ""),
            content=content if isinstance(content, str) else "",
            sha256=sha256 if isinstance(sha256, str) else "",
            parameters=parameters if isinstance(parameters, dict) else {},
            declared=declared if isinstance(declared, list) else [],
            timeout_seconds=timeout if problem is None else None,
            problem=problem,
            attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 1 else 1,
            webhook_data=data.get("webhook_data") if isinstance(data.get("webhook_data"), dict) else None,
            run_as=run_as if problem is None else None,
        )

    def file_parameters(self) -> dict[str, Any]:
        """What parameters.json holds: the parameters, and WebhookData whether the runbook declares it or not
        (hybridworker_runbook.webhook_data() and automationassets.get_webhook_data() read it there)."""
        if self.webhook_data is None:
            return self.parameters
        return {**self.parameters, WEBHOOK_DATA: self.webhook_data}
