from django import forms

from automation.models import Role, RunbookType
from automation.services.errors import ServiceError
from automation.validators import NAME_HINT, NAME_MAX_LENGTH
from portal.service_calls import attempt


class ServiceForm(forms.Form):
    def call(self, action, /, **kwargs):
        """Run a service on the form's behalf: a refusal of the input lands on the form (and None is
        returned); not being allowed or not finding the account is raised, for the error page."""
        outcome = attempt(action, **kwargs)
        if outcome.refused:
            self.add_service_error(outcome.error)
        return outcome.value

    def submit(self, action, /, **kwargs):
        """For a posted form: when it is valid, call() the service with its fields and `kwargs`. None when
        nothing was posted, or the form or the service refused it (the form then says why)."""
        return self.call(action, **self.cleaned_data, **kwargs) if self.is_valid() else None

    def add_service_error(self, error: ServiceError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.detail)


def name_field(**kwargs) -> forms.CharField:
    """Every name the portal asks for. The service checks the rule, length included, and says it
    (validators.NAME_RULE); the browser only stops typing at the limit."""
    widget = forms.TextInput(attrs={"maxlength": NAME_MAX_LENGTH})
    return forms.CharField(widget=widget, help_text=NAME_HINT, **kwargs)


class CreateAccountForm(ServiceForm):
    name = name_field()
    owner = forms.CharField(max_length=150, label="Owner", help_text="Username of the account's first Owner.")


class AddMemberForm(ServiceForm):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.READER)


class ChangeRoleForm(ServiceForm):
    role = forms.ChoiceField(choices=Role.choices)


class ApiTokenForm(ServiceForm):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI pipeline'.")
    expires_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires after (days)", help_text="Empty: never expires."
    )


class GroupForm(ServiceForm):
    name = name_field(strip=False)


class GroupRunAsForm(ServiceForm):
    """Hybrid worker group settings: Run as Default (each agent's own run-as user) or Custom (a credential)."""

    run_as = forms.ChoiceField(label="Run as", choices=[("default", "Default"), ("custom", "Custom")])
    run_as_credential = forms.ChoiceField(
        label="Credential",
        required=False,
        help_text="Jobs run as the local account its user name names, on agents started with --allow-run-as "
        "naming it; elsewhere they fail at once, saying so. Its password is not used.",
    )

    def __init__(self, *args, credentials: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["run_as_credential"].choices = [("", "Choose a credential"), *((n, n) for n in credentials)]
        # The select shows the credential picker only for Custom (static/js/portal.js).
        self.fields["run_as"].widget.attrs["data-chooses"] = "true"
        self.fields["run_as_credential"].shown_for = "custom"

    def clean(self):
        data = super().clean()
        if data.get("run_as") == "custom" and not data.get("run_as_credential"):
            self.add_error("run_as_credential", "Choose the credential whose user the group's jobs run as.")
        return data

    def credential_name(self) -> str | None:
        return self.cleaned_data["run_as_credential"] if self.cleaned_data["run_as"] == "custom" else None


class RunbookCreateForm(ServiceForm):
    name = name_field(strip=False)
    runbook_type = forms.ChoiceField(label="Runbook type", choices=RunbookType.choices)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class RunbookEditForm(ServiceForm):
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    parameters = forms.CharField(
        required=False,
        label="Parameters (JSON)",
        widget=forms.Textarea(attrs={"rows": 4, "class": "code", "spellcheck": "false"}),
        help_text='A list like [{"name": "service", "type": "string", "required": true}, '
        '{"name": "force", "type": "bool", "default": false}]; types: string, int, bool, json, and secret '
        "(masked everywhere but in the runbook, no default).",
    )
    retries = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(0, "0: fail the job"), (1, "1"), (2, "2"), (3, "3")],
        label="Retries when its worker is lost",
        help_text="Queued again if its worker is lost while it runs.",
    )
    timeout_seconds = forms.IntegerField(
        required=False,
        min_value=1,
        label="Default timeout (seconds)",
        help_text="Unless a job is started with its own. Empty: none.",
    )
    content = forms.CharField(
        required=False,
        label="Draft",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "class": "code", "spellcheck": "false", "wrap": "off"}),
    )

    def clean_parameters(self):
        import json

        raw = self.cleaned_data["parameters"].strip()
        if not raw:
            return []
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        except RecursionError:
            raise forms.ValidationError("Not valid JSON: it is nested too deep.") from None

    def clean_content(self):
        # Browsers send a textarea's line ends as CRLF; a Bash runbook would see a '\r' on every line.
        return self.cleaned_data["content"].replace("\r\n", "\n")


class StartJobForm(ServiceForm):
    """The Start blade: where to run, then one field per declared parameter."""

    run_on = forms.ChoiceField(label="Run on: Hybrid Worker group")
    timeout_seconds = forms.IntegerField(
        required=False, min_value=1, label="Timeout (seconds)", help_text="Empty: no timeout."
    )

    def __init__(self, *args, groups: list[str], declared: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["run_on"].choices = [(name, name) for name in groups]
        self.declared = declared
        for spec in declared:
            label = f"{spec['name']} ({spec['type']}{', required' if spec.get('required') else ''})"
            initial = spec.get("default")
            if spec["type"] == "bool":
                field = forms.ChoiceField(
                    choices=[("", "—"), ("true", "true"), ("false", "false")], required=False, label=label
                )
                initial = "" if initial is None else str(initial).lower()
            elif spec["type"] == "json":
                import json

                field = forms.CharField(required=False, label=label, widget=forms.Textarea(attrs={"rows": 2}))
                initial = "" if initial is None else json.dumps(initial)
            elif spec["type"] == "secret":
                # Never rendered back: a form shown again after an error asks for the secret again.
                # "new-password" keeps the browser from filling in the portal password it saved.
                widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
                field = forms.CharField(required=False, label=label, strip=False, widget=widget)
            else:
                field = forms.CharField(required=False, label=label, strip=False)
            field.initial = initial
            self.fields[f"param_{spec['name']}"] = field
        # Where, with what, then for how long at most.
        self.order_fields(["run_on", *(f"param_{spec['name']}" for spec in declared), "timeout_seconds"])

    def parameter_values(self) -> dict:
        values = {}
        for spec in self.declared:
            raw = self.cleaned_data.get(f"param_{spec['name']}")
            if raw not in (None, ""):
                values[spec["name"]] = raw
        return values

    def add_service_error(self, error: ServiceError) -> None:
        if error.field and f"param_{error.field}" in self.fields:
            self.add_error(f"param_{error.field}", error.detail)
        else:
            super().add_service_error(error)
