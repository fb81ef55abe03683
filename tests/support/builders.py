"""Rows for a test, made through the services the way the portal and the APIs make them.

A test that needs a group, a registered worker, a published runbook or a queued job asks for it here,
so the rows it starts from obey the same rules (names, audit events, versions) as real ones. The
defaults are the suite's usual world: group "lab", worker "web-01", runbook "hello".
"""

import uuid
from typing import Any

from automation.models import HybridWorker, HybridWorkerGroup, Job, Runbook
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import Registration, register_worker

SYSTEM = Actor.for_system()


def make_group(account, name: str = "lab", *, actor: Actor = SYSTEM) -> HybridWorkerGroup:
    return create_group(account=account, name=name, actor=actor)


def register(
    account, name: str = "web-01", group: str = "lab", *, machine_id: str | None = None, facts: Any = None
) -> Registration:
    """A worker registered as its agent registers it (its group made if new); the credential is in the answer."""
    return register_worker(
        account=account,
        group_name=group,
        machine_id=machine_id or f"machine-{uuid.uuid4().hex[:12]}",
        name=name,
        facts={} if facts is None else facts,
    )


def make_worker(account, name: str = "web-01", group: str = "lab", **options: Any) -> HybridWorker:
    return register(account, name, group, **options).worker


def make_runbook(
    account,
    name: str = "hello",
    *,
    runbook_type: str = "bash",
    content: str = "echo hi",
    publish: bool = True,
    actor: Actor = SYSTEM,
    **fields: Any,
) -> Runbook:
    """A runbook, published unless `publish=False` (then a draft only); `fields` go to create_runbook."""
    runbook = create_runbook(
        account=account, name=name, runbook_type=runbook_type, content=content, actor=actor, **fields
    )
    if publish:
        publish_runbook(runbook=runbook, actor=actor)
    return runbook


def start(account, runbook: str = "hello", group: str = "lab", *, actor: Actor = SYSTEM, **options: Any) -> Job:
    """A queued job of a published runbook on a group; `options` (parameters, ...) go to start_job."""
    return job_services.start_job(account=account, runbook_name=runbook, group_name=group, actor=actor, **options)
