"""Hybrid worker groups and workers: registration, heartbeats, removal."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from automation.models import AutomationAccount, HybridWorker, HybridWorkerGroup, Role
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.crypto import hash_secret, issue_credential, same, split_credential
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.validators import machine_id_problem, validate_name

CREDENTIAL_PREFIX = "hrw"
_FACT_LIMITS = {"os": 200, "ip": 64, "version": 32}


def _push(account_id, payload: dict[str, Any]) -> None:
    """Open pages of the account refresh what changed; sent after commit, so they read the new rows."""
    from portal import notify

    transaction.on_commit(lambda: notify.push_to_account(account_id, payload))


def _wake_long_poll(worker_id) -> None:
    """A long-poll this worker has waiting looks again at once: its credential just stopped working."""
    from portal import notify

    transaction.on_commit(lambda: notify.wake_waiters(f"worker-{worker_id}"))


@dataclass(frozen=True)
class Registration:
    worker: HybridWorker
    credential: str
    renewed: bool


def _checked_name(value: Any, field: str) -> str:
    try:
        validate_name(value)
    except ValidationError as exc:
        raise InvalidInput(exc.messages[0], field=field) from None
    return value


def _checked_machine_id(value: Any) -> str:
    problem = machine_id_problem(value)
    if problem:
        raise InvalidInput(f"machine_id {problem}.", field="machine_id")
    return value


def _summary(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts shown in lists get columns of their own; all of them stay in `facts`."""
    addresses = facts.get("ip_addresses") or []
    return {
        "os": str(facts.get("os") or "")[: _FACT_LIMITS["os"]],
        "ip": str(addresses[0] if addresses else "")[: _FACT_LIMITS["ip"]],
        "version": str(facts.get("agent_version") or "")[: _FACT_LIMITS["version"]],
    }


# The most jobs a worker runs at once; a heartbeat and a long-poll may list as many of its jobs.
MAX_CAPACITY = 1024


def _capacity(facts: dict[str, Any]) -> int:
    capacity = facts.get("capacity") or facts.get("cpu_count") or 1
    return max(1, min(int(capacity), MAX_CAPACITY))


def create_group(*, account: AutomationAccount, name: str, actor: Actor) -> HybridWorkerGroup:
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    _checked_name(name, "name")
    try:
        with transaction.atomic():
            group = HybridWorkerGroup.objects.create(account=account, name=name, created_by=actor.name)
            record_event(actor=actor, action="group.create", account=account, target=group)
            _push(account.pk, {"type": "group-created", "group_id": str(group.pk)})
    except IntegrityError:
        raise Conflict(
            f"A hybrid worker group named {name!r} already exists in {account.name}.", field="name"
        ) from None
    return group


def _group_for_registration(account: AutomationAccount, name: str, worker_name: str) -> HybridWorkerGroup:
    group = HybridWorkerGroup.objects.filter(account=account, name=name).first()
    if group is None:
        try:
            with transaction.atomic():
                group = HybridWorkerGroup.objects.create(account=account, name=name, created_by=f"worker {worker_name}")
                _push(account.pk, {"type": "group-created", "group_id": str(group.pk)})
                record_event(
                    actor=Actor.for_system(),
                    action="group.create",
                    account=account,
                    target=group,
                    details={"by_worker": worker_name},
                )
        except IntegrityError:  # a second agent registering into the same new group at once
            group = HybridWorkerGroup.objects.get(account=account, name=name)
    if group.deleting_since is not None:
        raise Conflict(f"Hybrid worker group {name!r} is being deleted; register into another group.", field="group")
    return group


def register_worker(
    *,
    account: AutomationAccount,
    group_name: str,
    machine_id: str,
    name: str,
    facts: dict[str, Any],
    source_ip: str | None = None,
) -> Registration:
    """Add-HybridRunbookWorker: join (or create) a group; the same machine again renews its registration."""
    _checked_name(group_name, "group")
    _checked_name(name, "name")
    _checked_machine_id(machine_id)
    credential = issue_credential(CREDENTIAL_PREFIX)
    now = timezone.now()
    actor = Actor(user=None, ip=source_ip)
    with transaction.atomic():
        existing = (
            HybridWorker.objects.select_for_update().select_related("group", "account").filter(machine_id=machine_id)
        )
        existing = existing.first()
        if existing is not None and (existing.account_id != account.pk or existing.group.name != group_name):
            if existing.account_id == account.pk:
                detail = (
                    f"This machine is already registered as worker {existing.name!r} in hybrid worker group "
                    f"{existing.group.name!r}. Run 'hybridworker remove --endpoint URL --token -' (it asks for the "
                    f"key) first, or register with --group {existing.group.name!r}."
                )
            else:
                # Nothing about the other account is told: the caller holds no key of it.
                detail = (
                    "This machine is already registered in another Automation account. Run 'hybridworker remove "
                    "--endpoint URL --token -' with that account's URL and key first."
                )
            raise Conflict(
                detail,
                code="registered_elsewhere",
            )
        group = _group_for_registration(account, group_name, name)
        clash = HybridWorker.objects.filter(group=group, name=name).exclude(machine_id=machine_id).exists()
        if clash:
            raise Conflict(
                f"Another worker in hybrid worker group {group_name!r} is already named {name!r}. "
                "Choose another name with --name.",
                field="name",
                code="name_taken",
            )
        fields = {
            "name": name,
            "facts": {**facts, "reported_at": now.timestamp()},
            "credential_id": credential.lookup,
            "credential_hash": credential.secret_hash,
            "last_seen_at": now,
            "capacity": _capacity(facts),
            **_summary(facts),
        }
        if existing is not None:
            HybridWorker.objects.filter(pk=existing.pk).update(**fields)
            worker = HybridWorker.objects.select_related("group").get(pk=existing.pk)
            action = "worker.renew"
            _wake_long_poll(worker.pk)
        else:
            worker = HybridWorker.objects.create(account=account, group=group, machine_id=machine_id, **fields)
            action = "worker.register"
        record_event(actor=actor, action=action, account=account, target=worker, details={"group": group_name})
        _push(account.pk, {"type": "worker-registered", "group_id": str(group.pk), "worker_id": str(worker.pk)})
    return Registration(worker=worker, credential=credential.token, renewed=existing is not None)


def worker_for_credential(token: str) -> HybridWorker | None:
    parts = split_credential(token or "", CREDENTIAL_PREFIX)
    if parts is None:
        return None
    lookup, secret = parts
    worker = HybridWorker.objects.select_related("group", "account").filter(credential_id=lookup).first()
    if worker is None or not same(worker.credential_hash, hash_secret(secret)):
        return None
    return worker


def record_heartbeat(*, worker: HybridWorker, facts: dict[str, Any]) -> None:
    """last_seen_at as a single-column write; the facts only when they are due or their summary changed."""
    now = timezone.now()
    if not facts:  # an agent that sent none keeps what it reported before
        HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=now)
        return
    summary = _summary(facts)
    capacity = _capacity(facts)
    facts_due = (
        worker.last_seen_at is None
        or any(getattr(worker, k) != v for k, v in summary.items())
        or capacity != worker.capacity
        or (worker.facts or {}).get("reported_at", 0) + settings.FACTS_REFRESH_SECONDS < now.timestamp()
    )
    if facts_due:
        facts = {**facts, "reported_at": now.timestamp()}
        HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=now, facts=facts, capacity=capacity, **summary)
    else:
        HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=now)


def _remember_last_seen(worker_pk) -> None:
    """Before a worker row goes: its group keeps the latest last seen of the workers it had."""
    seen = HybridWorker.objects.filter(pk=worker_pk).values_list("group_id", "last_seen_at").first()
    if seen is None or seen[1] is None:
        return
    group_id, last_seen = seen
    HybridWorkerGroup.objects.filter(pk=group_id).filter(
        Q(removed_workers_last_seen_at__isnull=True) | Q(removed_workers_last_seen_at__lt=last_seen)
    ).update(removed_workers_last_seen_at=last_seen)


def deregister_worker(*, worker: HybridWorker, source_ip: str | None = None) -> None:
    """Remove-HybridRunbookWorker from the machine itself (with its credential or an account key)."""
    with transaction.atomic():
        record_event(
            actor=Actor(user=None, ip=source_ip),
            action="worker.deregister",
            account=worker.account,
            target=worker,
            details={"group": worker.group.name},
        )
        _remember_last_seen(worker.pk)
        HybridWorker.objects.filter(pk=worker.pk).delete()
        _wake_long_poll(worker.pk)
        _push(
            worker.account_id,
            {"type": "worker-removed", "group_id": str(worker.group_id), "worker_id": str(worker.pk)},
        )


def remove_worker(*, account: AutomationAccount, worker_id, actor: Actor) -> HybridWorker:
    """An operator removes a worker: its credential stops working at once."""
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        worker = HybridWorker.objects.select_related("group").filter(account=account, pk=worker_id).first()
        if worker is None:
            raise NotFound("No such hybrid worker in this account.")
        record_event(
            actor=actor, action="worker.remove", account=account, target=worker, details={"group": worker.group.name}
        )
        worker_id, group_id = str(worker.pk), str(worker.group_id)
        _remember_last_seen(worker.pk)
        worker.delete()
        _wake_long_poll(worker_id)
        _push(account.pk, {"type": "worker-removed", "group_id": group_id, "worker_id": worker_id})
    return worker


def offline_after() -> timedelta:
    return timedelta(seconds=settings.HEARTBEAT_INTERVAL_SECONDS * settings.OFFLINE_AFTER_MISSED_HEARTBEATS)


def online_q(now=None, prefix: str = "") -> Q:
    """Online: heartbeated within the limit, and not since said it was leaving (the heartbeat after a
    restart is later than left_at, which makes it online again)."""
    now = now or timezone.now()
    return Q(**{f"{prefix}last_seen_at__gt": now - offline_after()}) & (
        Q(**{f"{prefix}left_at__isnull": True}) | Q(**{f"{prefix}left_at__lt": F(f"{prefix}last_seen_at")})
    )


def is_online(worker: HybridWorker, now=None) -> bool:
    now = now or timezone.now()
    # The same boundary as online_q (last_seen_at > now - offline_after): offline at the limit.
    if worker.left_at is not None and worker.last_seen_at is not None and worker.left_at >= worker.last_seen_at:
        return False
    return worker.last_seen_at is not None and now - worker.last_seen_at < offline_after()


def request_group_deletion(*, account: AutomationAccount, group_name: str, actor: Actor):
    """Delete-after-confirmation: refuse while the group has workers, else queue the deletion task.

    Returns the notification that tracks it (in progress, then succeeded or failed).
    """
    from automation import tasks
    from automation.services.notifications import create_notification

    require_role(account=account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        group = HybridWorkerGroup.objects.select_for_update().filter(account=account, name=group_name).first()
        if group is None:
            raise NotFound(f"No hybrid worker group named {group_name!r} in {account.name}.")
        members = list(group.workers.order_by("name").values_list("name", flat=True))
        if members:
            raise Conflict(
                f"Hybrid worker group {group_name!r} still has {len(members)} worker(s): {', '.join(members)}. "
                "Run 'hybridworker remove' on each of them first.",
                code="group_not_empty",
            )
        if group.deleting_since is not None:
            raise Conflict(f"Hybrid worker group {group_name!r} is already being deleted.", code="already_deleting")
        HybridWorkerGroup.objects.filter(pk=group.pk).update(deleting_since=timezone.now())
        notification = create_notification(
            account=account,
            title="Deleting hybrid worker group",
            message=f'Deleting hybrid worker group "{group_name}"…',
            state="in_progress",
        )
        record_event(actor=actor, action="group.delete_requested", account=account, target=group)
        transaction.on_commit(
            lambda: tasks.delete_worker_group.delay(
                str(group.pk), str(notification.pk), actor.user.pk if actor.user else None, actor.ip
            )
        )
    return notification


def delete_group(*, group_id, notification_id, actor: Actor) -> bool:
    """The deletion itself (a Celery task runs it). Returns whether the group is gone."""
    from automation.models import Notification
    from automation.services.notifications import update_notification

    notification = Notification.objects.filter(pk=notification_id).first()
    with transaction.atomic():
        group = HybridWorkerGroup.objects.select_for_update().select_related("account").filter(pk=group_id).first()
        if group is None:
            reason = "it no longer exists"
        elif group.workers.exists():
            reason = "a worker registered into it meanwhile"
            HybridWorkerGroup.objects.filter(pk=group.pk).update(deleting_since=None)
        else:
            name = group.name
            record_event(actor=actor, action="group.delete", account=group.account, target=group)
            group.delete()
            if notification is not None:
                update_notification(
                    notification=notification,
                    state="succeeded",
                    title=f"Deleted hybrid worker group {name}",
                    message=f'Hybrid worker group "{name}" was deleted.',
                )
            _push(group.account_id, {"type": "group-deleted", "group_id": str(group_id)})
            return True
        if notification is not None:
            update_notification(
                notification=notification,
                state="failed",
                title="Failed to delete hybrid worker group",
                message=f"Failed: {reason}.",
            )
    return False
