"""Hybrid worker groups: created from the portal or by the first agent registering into one, deleted
(empty, as in Azure) by a Celery task that reports its progress in Notifications."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from automation import live, tasks
from automation.models import AutomationAccount, Credential, HybridWorkerGroup, Notification, Role
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.checks import checked_name
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.notifications import create_notification, update_notification
from automation.validators import LINE, NAME_MAX_LENGTH, text_problem


def create_group(*, account: AutomationAccount, name: str, actor: Actor) -> HybridWorkerGroup:
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    checked_name(name)
    try:
        with transaction.atomic():
            group = HybridWorkerGroup.objects.create(account=account, name=name, created_by=actor.name)
            record_event(actor=actor, action="group.create", account=account, target=group)
            live.after_commit(live.push_to_account, account.pk, {"type": "group-created", "group_id": str(group.pk)})
    except IntegrityError:
        raise Conflict(
            f"A hybrid worker group named {name!r} already exists in {account.name}.", field="name"
        ) from None
    return group


def group_for_registration(*, account: AutomationAccount, name: str, worker_name: str) -> HybridWorkerGroup:
    """The group an agent registers into: created on the first registration naming it, as in Azure."""
    group = HybridWorkerGroup.objects.filter(account=account, name=name).first()
    if group is None:
        try:
            with transaction.atomic():
                group = HybridWorkerGroup.objects.create(account=account, name=name, created_by=f"worker {worker_name}")
                live.after_commit(
                    live.push_to_account, account.pk, {"type": "group-created", "group_id": str(group.pk)}
                )
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


def set_group_run_as(
    *, account: AutomationAccount, group_name: str, credential_name: str | None, actor: Actor
) -> HybridWorkerGroup:
    """Hybrid worker group settings: run the group's jobs as the agent's default user (None), or as the local
    account a credential's user name names. Agents get the user name alone, with each job they claim; an agent
    runs the job as that user only if its machine allows it (`hybridworker run --allow-run-as`)."""
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    if credential_name is not None and (
        not isinstance(credential_name, str)
        or not credential_name.strip()
        or len(credential_name) > NAME_MAX_LENGTH
        # PostgreSQL refuses a NUL in a query, where SQLite would just find nothing.
        or text_problem(credential_name, LINE)
    ):
        raise InvalidInput(
            "Run as names a credential of this account, or is null for the agent's default.", field="run_as_credential"
        )
    with transaction.atomic():
        group = HybridWorkerGroup.objects.select_for_update().filter(account=account, name=group_name).first()
        if group is None:
            raise NotFound(f"No hybrid worker group named {group_name!r} in {account.name}.")
        credential = None
        if credential_name is not None:
            # Locked, so a deletion of the credential running at the same time sees this group use it.
            credential = (
                Credential.objects.select_for_update().filter(account=account, name__iexact=credential_name).first()
            )
            if credential is None:
                raise InvalidInput(
                    f"There is no credential named {credential_name!r} in {account.name}: add it under "
                    "Shared resources > Credentials first.",
                    field="run_as_credential",
                )
        if group.run_as_credential_id == (credential.pk if credential else None):
            group.run_as_credential = credential
            return group
        group.run_as_credential = credential
        group.save(update_fields=["run_as_credential"])
        runs_as = f"credential {credential.name}" if credential else "the agent's default"
        record_event(
            actor=actor, action="group.run_as", account=account, target=group, details={"runs_jobs_as": runs_as}
        )
        live.after_commit(live.push_to_account, account.pk, {"type": "group-changed", "group_id": str(group.pk)})
    return group


def request_group_deletion(*, account: AutomationAccount, group_name: str, actor: Actor):
    """Delete-after-confirmation: refuse while the group has workers, else queue the deletion task.

    Returns the notification that tracks it (in progress, then succeeded or failed).
    """
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
            lambda: tasks.delete_group.delay(
                str(group.pk), str(notification.pk), actor.user.pk if actor.user else None, actor.ip
            )
        )
    return notification


def delete_group(*, group_id, notification_id, actor: Actor) -> bool:
    """The deletion itself (a Celery task runs it). Returns whether the group is gone."""
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
            live.after_commit(
                live.push_to_account, group.account_id, {"type": "group-deleted", "group_id": str(group_id)}
            )
            return True
        if notification is not None:
            update_notification(
                notification=notification,
                state="failed",
                title="Failed to delete hybrid worker group",
                message=f"Failed: {reason}.",
            )
    return False
