from django.db import models


class AccountKey(models.Model):
    """One of an account's two access keys, encrypted at rest (it must be shown again to Owners)."""

    class Slot(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="keys")
    slot = models.CharField(max_length=16, choices=Slot.choices)
    ciphertext = models.TextField(editable=False)
    regenerated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "slot"], name="one_key_per_slot")]

    def __str__(self) -> str:
        return f"{self.get_slot_display()} access key of {self.account_id}"
