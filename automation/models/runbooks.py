import uuid

from django.db import models

from automation.validators import NAME_MAX_LENGTH, validate_name


class RunbookType(models.TextChoices):
    PYTHON3 = "python3", "Python 3"
    BASH = "bash", "Bash"
    POWERSHELL = "powershell", "PowerShell"


class Runbook(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="runbooks")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    runbook_type = models.CharField(max_length=16, choices=RunbookType.choices)
    description = models.TextField(blank=True)
    # Declared parameters: [{"name", "type": string|int|bool|json, "required", "default"}].
    parameters = models.JSONField(default=list, blank=True)
    draft = models.TextField(blank=True)
    # A job whose worker was lost while running it is queued again this many times (0 to 3).
    retries = models.PositiveSmallIntegerField(default=0)
    # Jobs end "timed out" after this long unless started with a timeout of their own; null: no limit.
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="runbook_name_unique_in_account")]

    def __str__(self) -> str:
        return self.name


class RunbookVersion(models.Model):
    """A published runbook: immutable, identified by its number and the SHA-256 of its content."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    runbook_type = models.CharField(max_length=16, choices=RunbookType.choices)
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    parameters = models.JSONField(default=list, blank=True)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["runbook", "number"], name="version_number_unique")]

    def __str__(self) -> str:
        return f"{self.runbook.name} v{self.number}"
