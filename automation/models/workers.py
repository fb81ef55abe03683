import uuid

from django.db import models

from automation.validators import MACHINE_ID_MAX_LENGTH, NAME_MAX_LENGTH, validate_name


class HybridWorkerGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="worker_groups")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, help_text="A user, or the worker that created it.")
    # Set when a deletion is queued: the group is going away and takes no new members.
    deleting_since = models.DateTimeField(null=True, blank=True)
    # The latest last_seen_at of the workers removed from it: the group's Last seen is this or a current
    # worker's, whichever is later, so an emptied group still says when it last saw a worker.
    removed_workers_last_seen_at = models.DateTimeField(null=True, blank=True)
    # Hybrid worker group settings (Azure's "Run as"): None runs jobs as each agent's own run-as user; a
    # credential runs them as the local account its user name names, where the agent allows it. Only the user
    # name goes to agents. RESTRICT, not PROTECT: deleting the account takes its groups and credentials together.
    run_as_credential = models.ForeignKey(
        "automation.Credential", null=True, blank=True, on_delete=models.RESTRICT, related_name="run_as_groups"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "Hybrid worker group"
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="group_name_unique_in_account")]

    def __str__(self) -> str:
        return self.name


class HybridWorker(models.Model):
    """One registered machine in one group. Online/offline is derived from last_seen_at."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="workers")
    group = models.ForeignKey(HybridWorkerGroup, on_delete=models.PROTECT, related_name="workers")
    # Generated once by the agent and kept in its state folder: the machine's identity.
    machine_id = models.CharField(max_length=MACHINE_ID_MAX_LENGTH, unique=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    credential_id = models.CharField(max_length=32, unique=True, editable=False)
    credential_hash = models.CharField(max_length=128, editable=False)
    registered_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)
    capacity = models.PositiveIntegerField(default=1)
    os = models.CharField(max_length=200, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    version = models.CharField(max_length=32, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    # What people were last told (online or not); the presence sweep compares it with last_seen_at
    # to notice each transition once. The truth is always derived from last_seen_at.
    announced_online = models.BooleanField(default=True)
    # Set when the agent said it is stopping (SIGTERM): offline at once, until its next heartbeat.
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Hybrid worker"
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="worker_name_unique_in_group")]

    def __str__(self) -> str:
        return self.name
