import uuid

from django.db import models


class StartedBy(models.TextChoices):
    """How a job came to be: its `started_by` names the person, schedule, webhook or parent job."""

    USER = "user", "User"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    PARENT = "parent", "Parent job"


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
# A stop request is taken until the job ends or is already stopping (see services.jobs.request_stop).
STOPPABLE_STATUSES = [JobStatus.NEW, JobStatus.QUEUED, JobStatus.ACTIVATING, JobStatus.RUNNING]
# How pages show a status: the colour of its badge (a class of `.status`), and the tone of the reason beside
# it (why it failed, why it still waits). Pages read these, so a new status is drawn by adding it here.
STATUS_BADGES = {
    JobStatus.NEW: "offline",
    JobStatus.QUEUED: "running",
    JobStatus.ACTIVATING: "running",
    JobStatus.RUNNING: "running",
    JobStatus.STOPPING: "running",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "stopped",
}
REASON_TONES = {JobStatus.FAILED: "failed", JobStatus.QUEUED: "waiting"}


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
    # Secret parameters appear here masked; their values are in secret_parameters, encrypted, until the job ends.
    parameters = models.JSONField(default=dict, blank=True)
    secret_parameters = models.TextField(blank=True)
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Changes with every claim: reports carrying an older lease are from a worker that lost the job.
    lease_id = models.UUIDField(null=True, blank=True)
    # Which run this is (a lost worker's job may be queued again) and how many more runs it may get.
    attempt = models.PositiveSmallIntegerField(default=1)
    retries_left = models.PositiveSmallIntegerField(default=0)
    # Agents number each attempt's records from 0 (up to 2**31 - 1); a retry's records are stored after the
    # earlier attempts' ones and their retry markers, so the stored, job-wide seq needs 64 bits.
    seq_base = models.PositiveBigIntegerField(default=0)
    # A Test pane run of a draft: {runbook_type, content, sha256, parameters}; such jobs stay out of the Jobs list.
    is_test = models.BooleanField(default=False)
    test_snapshot = models.JSONField(null=True, blank=True)
    started_by = models.CharField(max_length=150, blank=True)
    started_by_kind = models.CharField(max_length=16, choices=StartedBy.choices, default=StartedBy.USER)
    # The job whose runbook started this one (Start-AutomationRunbook); kept when the parent's row goes.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    # The webhook whose call started this job, and that call's WebhookData ({"WebhookName", "RequestBody",
    # "RequestHeader"}) sealed (automation.services.sealing): a caller's body may carry secrets of its own,
    # so it reaches the runbook and nobody else.
    webhook = models.ForeignKey(
        "automation.Webhook", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    sealed_webhook_data = models.TextField(blank=True)
    # The fire time of a scheduled job: queued later than this, it ran late (after a scheduler outage).
    scheduled_for = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    # Queued to claimed, kept at the claim: the Overview's pickup latency figures.
    pickup_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["group", "status", "queued_at"], name="job_claim_order"),
            models.Index(fields=["account", "-created_at"], name="job_account_recent"),
            models.Index(fields=["worker", "status"], name="job_worker_status"),
            models.Index(fields=["ended_at"], name="job_ended"),
            models.Index(fields=["account", "claimed_at"], name="job_account_claimed"),
        ]

    def __str__(self) -> str:
        return f"{self.runbook_name} {self.id}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def run_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def pickup_seconds(self) -> float | None:
        return None if self.pickup_ms is None else self.pickup_ms / 1000


class JobStream(models.Model):
    class Stream(models.TextChoices):
        OUTPUT = "output", "Output"
        ERROR = "error", "Error"
        WARNING = "warning", "Warning"
        VERBOSE = "verbose", "Verbose"
        PROGRESS = "progress", "Progress"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="streams")
    # Job-wide: the attempt's own seq plus the job's seq_base when the attempt ran.
    seq = models.PositiveBigIntegerField()
    stream = models.CharField(max_length=10, choices=Stream.choices)
    text = models.TextField()
    time = models.DateTimeField()

    class Meta:
        ordering = ["job", "seq"]
        # A retried batch adds nothing twice: the agent numbers its records.
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="one_record_per_seq")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq}"
