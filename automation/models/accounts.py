import uuid

from django.conf import settings
from django.db import models

from automation.validators import NAME_MAX_LENGTH, validate_name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    OPERATOR = "operator", "Operator"
    READER = "reader", "Reader"

    @property
    def rank(self) -> int:
        return {Role.READER: 1, Role.OPERATOR: 2, Role.OWNER: 3}[self]

    def allows(self, needed: "Role") -> bool:
        return self.rank >= Role(needed).rank


class AutomationAccount(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True, validators=[validate_name])
    region = models.CharField(max_length=64, default="On-premises")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The 256-bit key that seals this account's shared resources, wrapped under ACCOUNT_KEY_ENCRYPTION_KEYS
    # (automation.services.sealing); empty until first used.
    data_key = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "Automation account"

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    account = models.ForeignKey(AutomationAccount, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="one_membership_per_user")]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.get_role_display()})"
