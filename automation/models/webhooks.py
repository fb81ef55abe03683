"""Webhooks: a URL that starts a runbook, carrying a 256-bit random token of which only a SHA-256 is kept."""

import uuid
from datetime import timedelta

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from automation.validators import NAME_MAX_LENGTH, validate_name

# Azure's default: a webhook works for one year unless its expiry is set or extended.
DEFAULT_LIFETIME = timedelta(days=365)


def _a_year_from_now():
    return timezone.now() + DEFAULT_LIFETIME


class Webhook(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("automation.AutomationAccount", on_delete=models.CASCADE, related_name="webhooks")
    runbook = models.ForeignKey("automation.Runbook", on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    enabled = models.BooleanField(default=True)
    expiry_time = models.DateTimeField(default=_a_year_from_now)
    # Fixed values, as a job's: secrets masked here, their values encrypted in secret_parameters.
    parameters = models.JSONField(default=dict, blank=True)
    secret_parameters = models.TextField(blank=True)
    # A group's name, resolved at each call as Start resolves it: the group may be deleted and made again.
    run_on = models.CharField(max_length=NAME_MAX_LENGTH)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The Standard Webhooks signing secret, sealed (automation.services.sealing); empty: calls are not signed.
    sealed_signing_secret = models.TextField(blank=True, editable=False)
    # Of the last call that started a job; refused calls are kept in Redis only (queries.webhooks.last_call).
    last_called_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.CharField(max_length=150, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = [Lower("name"), "name"]
        constraints = [models.UniqueConstraint(Lower("name"), "runbook", name="webhook_name_unique_in_runbook")]

    def __str__(self) -> str:
        return self.name

    @property
    def signed(self) -> bool:
        return bool(self.sealed_signing_secret)

    def is_expired(self, now=None) -> bool:
        return self.expiry_time <= (now or timezone.now())
