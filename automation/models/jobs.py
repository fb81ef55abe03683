import uuid

from django.db import models


class JobStatus(models.TextChoices):
    NEW = "New"
    QUEUED = "Queued"
    ACTIVATING = "Activating"
    RUNNING = "Running"
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"


ACTIVE_STATUSES = [JobStatus.ACTIVATING, JobStatus.RUNNING, JobStatus.STOPPING]
OPEN_STATUSES = [JobStatus.NEW, JobStatus.QUEUED, *ACTIVE_STATUSES]
FINAL_STATUSES = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED]


class Job(models.Model):
    """One run of a published runbook version on a group. Names are kept as text too, so the
    history still reads after the runbook, group or worker is gone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="jobs")
    runbook = models.ForeignKey(
        "automation.Runbook", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    runbook_name = models.CharField(max_length=128)
    version = models.ForeignKey(
        "automation.RunbookVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    version_number = models.PositiveIntegerField()
    group = models.ForeignKey(
        "automation.HybridWorkerGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    group_name = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.NEW)
    status_reason = models.TextField(blank=True)
    worker = models.ForeignKey(
        "automation.HybridWorker", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    worker_name = models.CharField(max_length=128, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Changes with every claim: reports carrying an older lease are from a worker that lost the job.
    lease_id = models.UUIDField(null=True, blank=True)
    started_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["group", "status", "queued_at"], name="job_claim_order"),
            models.Index(fields=["account", "-created_at"], name="job_account_recent"),
            models.Index(fields=["worker", "status"], name="job_worker_status"),
        ]

    def __str__(self) -> str:
        return f"{self.runbook_name} {self.id}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class JobStream(models.Model):
    class Stream(models.TextChoices):
        OUTPUT = "output", "Output"
        ERROR = "error", "Error"
        WARNING = "warning", "Warning"
        VERBOSE = "verbose", "Verbose"
        PROGRESS = "progress", "Progress"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="streams")
    seq = models.PositiveIntegerField()
    stream = models.CharField(max_length=10, choices=Stream.choices)
    text = models.TextField()
    time = models.DateTimeField()

    class Meta:
        ordering = ["job", "seq"]
        # A retried batch adds nothing twice: the agent numbers its records.
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="one_record_per_seq")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq}"
