"""Hybrid workers: registration, credentials, heartbeats, removal (their groups: services.groups)."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from automation import live
from automation.models import AutomationAccount, HybridWorker, HybridWorkerGroup, Role
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.checks import checked_name
from automation.services.crypto import constant_time_equal, hash_secret, issue_credential, split_credential
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.groups import group_for_registration
from automation.validators import machine_id_problem

CREDENTIAL_PREFIX = "hrw"
_FACT_LIMITS = {"os": 200, "ip": 64, "version": 32}


@dataclass(frozen=True)
class Registration:
    worker: HybridWorker
    credential: str
    renewed: bool


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
    checked_name(group_name, field="group")
    checked_name(name)
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
        group = group_for_registration(account=account, name=group_name, worker_name=name)
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
            live.wake_worker(worker.pk)
        else:
            worker = HybridWorker.objects.create(account=account, group=group, machine_id=machine_id, **fields)
            action = "worker.register"
        record_event(actor=actor, action=action, account=account, target=worker, details={"group": group_name})
        live.after_commit(
            live.push_to_account,
            account.pk,
            {"type": "worker-registered", "group_id": str(group.pk), "worker_id": str(worker.pk)},
        )
    return Registration(worker=worker, credential=credential.token, renewed=existing is not None)


def worker_for_credential(token: str) -> HybridWorker | None:
    parts = split_credential(token or "", CREDENTIAL_PREFIX)
    if parts is None:
        return None
    lookup, secret = parts
    worker = HybridWorker.objects.select_related("group", "account").filter(credential_id=lookup).first()
    if worker is None or not constant_time_equal(worker.credential_hash, hash_secret(secret)):
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
        live.wake_worker(worker.pk)
        live.after_commit(
            live.push_to_account,
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
        live.wake_worker(worker_id)
        live.after_commit(
            live.push_to_account, account.pk, {"type": "worker-removed", "group_id": group_id, "worker_id": worker_id}
        )
    return worker
