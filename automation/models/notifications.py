import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Notification(models.Model):
    """What the bell shows: to one user, or to every member of an account."""

    class Level(models.TextChoices):
        INFO = "info", "Information"
        SUCCESS = "success", "Success"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    class State(models.TextChoices):
        NONE = "", "None"
        IN_PROGRESS = "in_progress", "In progress"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        "automation.AutomationAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        help_text="Empty: every member of the account.",
    )
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    state = models.CharField(max_length=16, choices=State.choices, default=State.NONE, blank=True)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(account__isnull=False) | Q(recipient__isnull=False),
                name="notification_has_audience",
            )
        ]

    def __str__(self) -> str:
        return self.title


class NotificationReceipt(models.Model):
    """That one user has read (or dismissed) one notification.

    Kept per user because a notification for all members is read by each of them separately.
    """

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="receipts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(auto_now_add=True)
    dismissed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notification", "user"], name="one_receipt_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.notification}"
