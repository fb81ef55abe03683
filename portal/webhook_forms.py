"""The forms of a runbook's webhooks: Add webhook, its properties, Extend."""

import json

from django import forms
from django.utils import timezone

from automation.models.webhooks import DEFAULT_LIFETIME
from automation.services.jobs import WEBHOOK_DATA
from automation.services.runbooks import MASK
from portal.forms import ServiceForm, StartJobForm, name_field

# What a datetime-local input sends (seconds only when the browser adds them).
MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class MaskedSecretInput(forms.PasswordInput):
    """A secret parameter a webhook holds: the input shows ****** (the mask, never the value), and a form sent
    back with it untouched keeps the secret. A value typed in is not shown back when the form comes again."""

    def __init__(self):
        super().__init__(render_value=True, attrs={"autocomplete": "new-password"})

    def get_context(self, name, value, attrs):
        return super().get_context(name, value if value == MASK else None, attrs)


def moment_field(**kwargs) -> forms.DateTimeField:
    """A date and time in the portal's time zone (the one its pages show dates in), as a datetime-local input."""
    zone = timezone.get_current_timezone_name()
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    return forms.DateTimeField(input_formats=MOMENT_FORMATS, widget=widget, label=f"Expires ({zone})", **kwargs)


def _a_year_from_now():
    return timezone.localtime(timezone.now() + DEFAULT_LIFETIME).replace(second=0, microsecond=0)


def _without_webhook_data(declared: list[dict]) -> list[dict]:
    # Each call fills it with the request: it is no fixed value to ask for.
    return [spec for spec in declared if spec.get("name") != WEBHOOK_DATA]


class WebhookForm(StartJobForm):
    """Add webhook: name, enabled, expiry, the runbook's parameters (as Start asks for them), Run on, and
    whether calls must be signed."""

    name = name_field(strip=False)
    enabled = forms.BooleanField(required=False, initial=True, help_text="A disabled webhook refuses its calls.")
    expiry_time = moment_field(help_text="Calls are refused after it; Extend sets a later one, even once expired.")
    signed = forms.BooleanField(
        required=False,
        label="Require signed calls",
        help_text="Calls must carry a Standard Webhooks signature (webhook-signature), made with a secret shown "
        "once after Create.",
    )

    def __init__(self, *args, groups: list[str], declared: list[dict], **kwargs):
        super().__init__(*args, groups=groups, declared=_without_webhook_data(declared), **kwargs)
        del self.fields["timeout_seconds"]
        self.fields["expiry_time"].initial = _a_year_from_now
        self.order_fields(["name", "enabled", "expiry_time", *self.parameter_names(), "run_on", "signed"])

    def parameter_names(self) -> list[str]:
        return [f"param_{spec['name']}" for spec in self.declared]


def _shown(value, kind: str) -> str:
    """A held value as its input shows it (the Start form's spelling)."""
    if kind == "bool":
        return str(value).lower() if isinstance(value, bool) else ""
    if kind == "json":
        return json.dumps(value)
    return "" if value is None else str(value)


class WebhookPropertiesForm(WebhookForm):
    """A webhook's properties: enabled, its parameters (secrets kept while left masked) and Run on. The name
    and the URL stay; the expiry changes with Extend."""

    def __init__(self, *args, webhook, groups: list[str], declared: list[dict], **kwargs):
        initial = {"enabled": webhook.enabled, "run_on": webhook.run_on}
        for spec in _without_webhook_data(declared):
            if spec["name"] in webhook.parameters:
                initial[f"param_{spec['name']}"] = _shown(webhook.parameters[spec["name"]], spec["type"])
        super().__init__(*args, groups=groups, declared=declared, initial=initial, **kwargs)
        for name in ("name", "expiry_time", "signed"):
            del self.fields[name]
        for spec in self.declared:
            if spec["type"] == "secret":
                field = self.fields[f"param_{spec['name']}"]
                field.widget = MaskedSecretInput()
                field.help_text = "****** keeps the value it holds; type a new one to change it."
        if webhook.run_on not in groups:
            # Its group is gone (or being deleted): the select offers the others, and says so.
            self.fields["run_on"].help_text = f"Its group {webhook.run_on!r} is gone: choose another."


class WebhookExtendForm(ServiceForm):
    expiry_time = moment_field(help_text="Calls are taken until then, also when the webhook has expired.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expiry_time"].initial = _a_year_from_now
        self.fields["expiry_time"].label = f"New expiry ({timezone.get_current_timezone_name()})"
