"""Schedules (Shared resources → Schedules), their links to runbooks (Azure's job schedules) and the record
of every fire.

A ScheduleFire is the exactly-once key: one row per (link, fire time), written in the transaction that
queues the fire's job, so however many beats and workers tick at once, a fire starts at most one job.
"""

import uuid

from django.db import models
from django.db.models.functions import Lower

from automation.validators import NAME_MAX_LENGTH, validate_name


class Frequency(models.TextChoices):
    ONE_TIME = "OneTime"
    MINUTE = "Minute"
    HOUR = "Hour"
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"


class Overlap(models.TextChoices):
    """What a fire does while the link's previous job has not ended (Azure has no such choice)."""

    ALLOW = "allow", "Allow: start another job"
    SKIP = "skip", "Skip: start nothing and record why"
    QUEUE = "queue", "Queue: wait for the previous job"


class Schedule(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    description = models.TextField(blank=True)
    start_time = models.DateTimeField()
    time_zone = models.CharField(max_length=64, default="UTC")
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    interval = models.PositiveIntegerField(default=1)
    # ["Monday", ...] for Week; [1, ..., 31, -1 (the last day)] or [{"day", "occurrence"}] for Month.
    week_days = models.JSONField(default=list, blank=True)
    month_days = models.JSONField(default=list, blank=True)
    monthly_occurrences = models.JSONField(default=list, blank=True)
    expiry_time = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    # Derived from the rule and the fires already taken; the beat looks for `next_run <= now`. NULL when nothing
    # more will fire (expired, a one-time schedule that fired), and while disabled.
    next_run = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.CharField(max_length=150, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = [Lower("name"), "name"]
        constraints = [models.UniqueConstraint(Lower("name"), "account", name="schedule_name_unique_in_account")]

    def __str__(self) -> str:
        return self.name


class ScheduleLink(models.Model):
    """A published runbook on a schedule, with its own parameters and Run on group (Azure's job schedule)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="links")
    runbook = models.ForeignKey("automation.Runbook", on_delete=models.CASCADE, related_name="schedule_links")
    # As a job's: secret values masked here, sealed in secret_parameters for the jobs it starts.
    parameters = models.JSONField(default=dict, blank=True)
    secret_parameters = models.TextField(blank=True)
    # Kept by name too: a group deleted later makes the link's fires fail with a reason, not vanish.
    run_on = models.ForeignKey(
        "automation.HybridWorkerGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="schedule_links"
    )
    run_on_name = models.CharField(max_length=NAME_MAX_LENGTH)
    overlap = models.CharField(max_length=8, choices=Overlap.choices, default=Overlap.ALLOW)
    last_job = models.ForeignKey("automation.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["created_at"]
        # As in Azure: a runbook is on a schedule once.
        constraints = [models.UniqueConstraint(fields=["schedule", "runbook"], name="one_link_per_runbook_schedule")]

    def __str__(self) -> str:
        return f"{self.runbook_id} on {self.schedule_id}"


class FireOutcome(models.TextChoices):
    STARTED = "started", "Started"
    SKIPPED = "skipped", "Skipped"
    WAITING = "waiting", "Waiting for the previous job"
    MISSED = "missed", "Missed"
    FAILED = "failed", "Failed"


class ScheduleFire(models.Model):
    link = models.ForeignKey(ScheduleLink, on_delete=models.CASCADE, related_name="fires")
    # UTC. For a missed range: its first fire time, with missed_until its last and missed_count how many.
    fire_time = models.DateTimeField()
    outcome = models.CharField(max_length=8, choices=FireOutcome.choices)
    job = models.ForeignKey("automation.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    missed_count = models.PositiveIntegerField(default=0)
    missed_until = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fire_time"]
        constraints = [models.UniqueConstraint(fields=["link", "fire_time"], name="one_fire_per_link_and_time")]
        indexes = [models.Index(fields=["outcome", "fire_time"], name="schedule_fire_outcome")]

    def __str__(self) -> str:
        return f"{self.link_id}@{self.fire_time.isoformat()}"
