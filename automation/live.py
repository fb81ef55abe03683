"""The one place that pushes to browsers and wakes waiting agents: every group_send goes through here.

Group names are built here and nowhere else: `account-<id>` and `user-<id>` (browsers, joined by
portal.consumers), `jobs-<group id>` (agents of a hybrid worker group waiting in a long-poll for work)
and `worker-<id>` (one agent's long-poll, woken for a stop request, a freed slot or a dead credential).

Pushes are best effort: the row is already stored, so a page that missed the push shows it on its next
load, and a waiting agent polls again soon. A Redis outage must not fail the change itself. Services push
with `after_commit`, so nobody is told about a change that is rolled back, and a reader woken by the push
reads the new rows.
"""

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def account_group(account_id) -> str:
    return f"account-{account_id}"


def user_group(user_id) -> str:
    return f"user-{user_id}"


def jobs_waiters(group_id) -> str:
    """The long-polls of a hybrid worker group's agents: woken when a job is queued on the group."""
    return f"jobs-{group_id}"


def worker_waiters(worker_id) -> str:
    """The long-poll of one agent: woken for a stop request, a freed slot or a credential that stopped working."""
    return f"worker-{worker_id}"


def after_commit(send: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Call one of the senders below once the current transaction commits (at once outside of one)."""
    transaction.on_commit(lambda: send(*args, **kwargs))


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # the change is committed; live delivery is a courtesy
        logger.warning("Could not push to %s", group, exc_info=True)


def push_to_account(account_id, payload: dict[str, Any]) -> None:
    group = account_group(account_id)
    # The group travels with the message: a socket that has just left the account drops it.
    _send(group, {"type": "push.message", "group": group, "payload": payload})


def push_to_user(user_id, payload: dict[str, Any]) -> None:
    _send(user_group(user_id), {"type": "push.message", "payload": payload})


def membership_changed(user_id, account_id, *, joined: bool) -> None:
    _send(user_group(user_id), {"type": "membership.changed", "account_id": str(account_id), "joined": joined})


def session_ended(user_id, session_key: str | None) -> None:
    _send(user_group(user_id), {"type": "session.ended", "session_key": session_key})


def wake_waiters(group: str) -> None:
    """Wake the agents waiting in a long-poll of `group` (jobs_waiters or worker_waiters)."""
    _send(group, {"type": "wake"})


def wake_group_agents(group_id) -> None:
    """After commit: new work on a hybrid worker group, its waiting agents look at once."""
    after_commit(wake_waiters, jobs_waiters(group_id))


def wake_worker(worker_id) -> None:
    """After commit: the long-poll this worker has waiting looks again at once."""
    after_commit(wake_waiters, worker_waiters(worker_id))


def push_job_status(job) -> None:
    """After commit: open pages of the job's account show its new status."""
    payload = {
        "type": "job-status",
        "job_id": str(job.pk),
        "status": job.status,
        "worker": job.worker_name or None,
        "runbook_id": str(job.runbook_id) if job.runbook_id else None,
    }
    after_commit(push_to_account, job.account_id, payload)


def notification_payload(notification, *, event: str) -> dict[str, Any]:
    return {
        "type": "notification",
        "event": event,
        "notification": {
            "id": str(notification.id),
            "account_id": str(notification.account_id) if notification.account_id else None,
            "title": notification.title,
            "message": notification.message,
            "level": notification.level,
            "state": notification.state,
        },
    }
