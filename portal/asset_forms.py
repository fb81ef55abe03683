"""The forms of the Shared resources blades (variables, credentials, certificates, connections).

A form turns what a person typed into the arguments of its service (`arguments()`), so a typed input
(a number, a date-time, a JSON object, a file) reaches the service as the value it means. A properties
form passes only what changed, and a secret input left empty keeps the secret as it is. Nothing secret
is ever rendered back: password inputs are not, and a refused encrypted value is asked for again.
"""

import json
import re
from datetime import UTC, datetime
from typing import Any

from django import forms

from automation.models import Certificate, Connection, ConnectionType, Credential, Variable
from automation.services.certificates import MAX_CONTENT_BYTES
from automation.services.connections import MAX_FIELDS
from automation.services.errors import ServiceError
from portal.forms import ServiceForm, name_field

DESCRIPTION_HELP = "At most 512 characters."
KEEP = ""  # a secret input left empty: the secret stays as it is
KEEP_VALUE = "keep"  # an encrypted variable's type select: its hidden value stays
YES_NO = [("no", "No"), ("yes", "Yes")]


def description_field() -> forms.CharField:
    # The service says what is wrong with a long one; the browser only stops typing at the limit.
    return forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "maxlength": 512}))


def yes_no_field(label: str, help_text: str = "") -> forms.TypedChoiceField:
    """Azure's Yes / No radio buttons, as a bool."""
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        # Left out (an API-like post, a browser that sent none): No.
        required=False,
        empty_value=False,
        initial="no",
        widget=forms.RadioSelect(attrs={"class": "radio"}),
        help_text=help_text,
    )


def secret_input() -> forms.PasswordInput:
    # "new-password": the browser must not fill in the portal password it saved for this site.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class AssetForm(ServiceForm):
    """A form whose service takes other arguments than its fields."""

    # The service's (and the API's) names of fields that the form names otherwise.
    service_fields: dict[str, str] = {}

    def arguments(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    def submit(self, action, /, **kwargs):
        made = self.call(action, **self.arguments(), **kwargs) if self.is_valid() else None
        if made is None:
            self.forget_secrets()
        return made

    def add_service_error(self, error: ServiceError) -> None:
        field = self.service_fields.get(error.field, error.field)
        self.add_error(field if field in self.fields else None, error.detail)

    def secret_inputs(self) -> list[str]:
        """Inputs whose posted text is a secret that a refused form must not show again."""
        return []

    def forget_secrets(self) -> None:
        names = self.secret_inputs() if self.is_bound else []
        if names:
            self.data = self.data.copy()
            for name in names:
                self.data.pop(name, None)


class PropertiesForm(AssetForm):
    """The form on an asset's properties blade: what it holds now, and only what changed goes to the service."""

    def __init__(self, data=None, files=None, *, row, **kwargs):
        self.row = row
        super().__init__(data, files, initial=self.current(row), **kwargs)

    def current(self, row) -> dict[str, Any]:
        return {"description": row.description}

    def arguments(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if value != self.initial.get(name)}


# ---- variables -------------------------------------------------------------------------------------------

# Azure's words for a variable's type; the value of each is read from the input of that type.
VALUE_TYPES = [
    ("string", "String"),
    ("integer", "Integer"),
    ("boolean", "Boolean"),
    ("datetime", "DateTime"),
    ("object", "Object (JSON)"),
    ("null", "Not specified"),
]
TYPE_WORDS = dict(VALUE_TYPES) | {"object": "Object", "number": "Number", "": "—"}
DATETIME_TEXT = re.compile(r'"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"')
DATETIME_INPUT = "%Y-%m-%dT%H:%M:%S"


def value_type(text: str | None) -> str:
    """The type of a stored JSON text, read from its first characters (a value may be a megabyte long);
    "" for an encrypted variable, whose value is not on the row."""
    if text is None:
        return ""
    first = text[:1]
    if first == '"':
        # The pattern leaves no JSON escapes inside, so the text between the quotes is the string itself;
        # only a real moment is a DateTime ("2024-13-45T99:99" is text).
        moment = DATETIME_TEXT.fullmatch(text) and _parsed_datetime(text[1:-1])
        return "datetime" if moment else "string"
    if first in "tf":
        return "boolean"
    if first == "n":
        return "null"
    if first in "{[":
        return "object"
    return "integer" if re.fullmatch(r"-?\d+", text) else "number"


def _parsed_datetime(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def value_inputs(text: str) -> dict[str, Any]:
    """The type select and the typed input that show a stored plain value for editing."""
    kind = value_type(text)
    value = json.loads(text)
    if kind == "datetime":
        moment = _parsed_datetime(value)
        return {"type": kind, "value_datetime": moment.astimezone(UTC).strftime(DATETIME_INPUT)}
    if kind in ("string", "integer"):
        return {"type": kind, f"value_{kind}": value}
    if kind == "boolean":
        return {"type": kind, "value_boolean": "true" if value else "false"}
    if kind == "null":
        return {"type": kind}
    # A number with a fraction is edited as JSON, like an object.
    return {"type": "object", "value_object": json.dumps(value, ensure_ascii=False, indent=2)}


def same_json(old: Any, new: Any) -> bool:
    """Whether two JSON values are one (True is not 1, 1 is not 1.0)."""
    return json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True)


def same_value(old: Any, new: Any) -> bool:
    """Whether a posted variable value is the stored one: a date-time is the same moment however written, to
    the second (what the date-time input holds)."""
    if isinstance(old, str) and isinstance(new, str) and old != new:
        moments = _parsed_datetime(old), _parsed_datetime(new)
        return None not in moments and moments[0].replace(microsecond=0) == moments[1].replace(microsecond=0)
    return same_json(old, new)


class VariableValueForm(AssetForm):
    """A type and one input per type; `value` is what the chosen input says, as a JSON value."""

    type = forms.ChoiceField(label="Type", choices=VALUE_TYPES, initial="string", widget=forms.Select())
    value_string = forms.CharField(
        label="Value", required=False, strip=False, widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"})
    )
    value_integer = forms.IntegerField(label="Value", required=False)
    value_boolean = forms.ChoiceField(label="Value", required=False, choices=[("true", "true"), ("false", "false")])
    value_datetime = forms.DateTimeField(
        label="Value (UTC)",
        required=False,
        input_formats=[DATETIME_INPUT, "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=DATETIME_INPUT),
    )
    value_object = forms.CharField(
        label="Value (JSON)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "code", "spellcheck": "false"}),
        help_text='Any JSON: an object such as {"region": "westeurope"}, an array, a number.',
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The select shows only the chosen type's input (static/js/portal.js); without JavaScript all are shown.
        self.fields["type"].widget.attrs["data-chooses"] = "true"
        for name in self.value_fields():
            self.fields[name].shown_for = name.removeprefix("value_")

    def typed_value(self) -> Any:
        """The chosen input's value as JSON; a form error on that input when it has none (None: keep)."""
        kind = self.cleaned_data.get("type")
        if kind in (None, "null"):
            return None
        raw = self.cleaned_data.get(f"value_{kind}")
        if kind == "string":
            return raw
        if raw in (None, ""):
            self.add_error(f"value_{kind}", f"Enter the {TYPE_WORDS[kind]} value.")
            return None
        if kind == "boolean":
            return raw == "true"
        if kind == "datetime":
            return raw.astimezone(UTC).isoformat()
        if kind == "object":
            try:
                return json.loads(raw)
            except ValueError as exc:
                self.add_error("value_object", f"Not valid JSON: {exc}")
            except RecursionError:
                self.add_error("value_object", "Not valid JSON: it is nested too deep.")
            return None
        return raw

    def add_service_error(self, error: ServiceError) -> None:
        if error.field == "value":
            kind = self.cleaned_data.get("type", "string")
            self.add_error(f"value_{kind}" if kind != "null" else "type", error.detail)
        else:
            super().add_service_error(error)

    def value_fields(self) -> list[str]:
        return [name for name in self.fields if name.startswith("value_")]


class VariableAddForm(VariableValueForm):
    name = name_field(strip=False)
    description = description_field()
    encrypted = yes_no_field(
        "Encrypted", "An encrypted value is never shown again, here or in the API: only running jobs read it."
    )
    field_order = ["name", "description", "type", "value_string", "value_integer", "value_boolean"]

    def clean(self):
        cleaned = super().clean()
        cleaned["value"] = self.typed_value()
        return cleaned

    def arguments(self) -> dict[str, Any]:
        keep = ("name", "description", "value", "encrypted")
        return {name: self.cleaned_data[name] for name in keep}

    def secret_inputs(self) -> list[str]:
        return self.value_fields() if self.data.get("encrypted") == "yes" else []


class VariablePropertiesForm(VariableValueForm, PropertiesForm):
    """Description and value. An encrypted variable's value is not shown: its type starts at "keep", and a
    type chosen replaces the value with the one entered."""

    description = description_field()
    field_order = ["description", "type"]

    def __init__(self, data=None, files=None, *, row: Variable, **kwargs):
        super().__init__(data, files, row=row, **kwargs)
        if row.encrypted:
            self.fields["type"].choices = [(KEEP_VALUE, "Keep the hidden value"), *VALUE_TYPES]
            self.fields["type"].help_text = "The value is hidden; choose its type and enter a new value to replace it."

    def current(self, row: Variable) -> dict[str, Any]:
        values = {"description": row.description}
        return values | ({"type": KEEP_VALUE} if row.encrypted else value_inputs(row.value))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("type") != KEEP_VALUE:
            cleaned["value"] = self.typed_value()
        return cleaned

    def arguments(self) -> dict[str, Any]:
        changes = {}
        if self.cleaned_data["description"] != self.row.description:
            changes["description"] = self.cleaned_data["description"]
        if "value" in self.cleaned_data:
            value = self.cleaned_data["value"]
            if self.row.encrypted or not same_value(json.loads(self.row.value), value):
                changes["value"] = value
        return changes

    def secret_inputs(self) -> list[str]:
        return self.value_fields() if self.row.encrypted else []


# ---- credentials -----------------------------------------------------------------------------------------


def _password_fields(*, required: bool) -> tuple[forms.CharField, forms.CharField]:
    help_text = "" if required else "Leave both empty to keep the current password."
    password = forms.CharField(
        label="Password", required=required, strip=False, widget=secret_input(), help_text=help_text
    )
    confirm = forms.CharField(label="Confirm password", required=required, strip=False, widget=secret_input())
    return password, confirm


class CredentialForm(AssetForm):
    username = forms.CharField(label="User name", max_length=256, strip=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password", "") != cleaned.get("confirm_password", ""):
            self.add_error("confirm_password", "The passwords do not match.")
        return cleaned


class CredentialAddForm(CredentialForm):
    name = name_field(strip=False)
    description = description_field()
    password, confirm_password = _password_fields(required=True)
    field_order = ["name", "description", "username"]

    def arguments(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in ("name", "description", "username", "password")}


class CredentialPropertiesForm(CredentialForm, PropertiesForm):
    description = description_field()
    password, confirm_password = _password_fields(required=False)
    field_order = ["username", "description"]

    def current(self, row: Credential) -> dict[str, Any]:
        return {"description": row.description, "username": row.username}

    def arguments(self) -> dict[str, Any]:
        changes = super().arguments()
        changes.pop("confirm_password", None)
        if not changes.get("password"):
            changes.pop("password", None)
        return changes


# ---- certificates ----------------------------------------------------------------------------------------

CERTIFICATE_FILES = ".cer,.crt,.pem,.der,.pfx,.p12"
CERTIFICATE_HELP = (
    f"A .cer (public certificate, DER or PEM) or a .pfx / .p12 (PKCS#12, with its private key), at most "
    f"{MAX_CONTENT_BYTES // 1024} KiB."
)


class CertificateForm(AssetForm):
    service_fields = {"content_base64": "content"}
    password = forms.CharField(
        label="Password", required=False, strip=False, widget=secret_input(), help_text="The .pfx file's password."
    )
    exportable = yes_no_field("Exportable", "Whether a running job may read the certificate (and its private key).")

    def uploaded(self) -> bytes | None:
        upload = self.cleaned_data.get("content")
        # One byte past the limit is enough for the service to refuse it; no more is read into memory.
        return upload.read(MAX_CONTENT_BYTES + 1) if upload else None


class CertificateAddForm(CertificateForm):
    name = name_field(strip=False)
    description = description_field()
    content = forms.FileField(
        label="Upload a certificate file",
        help_text=CERTIFICATE_HELP,
        widget=forms.FileInput(attrs={"accept": CERTIFICATE_FILES}),
    )
    field_order = ["name", "description", "content", "password", "exportable"]

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "content": self.uploaded(),
            "password": data["password"] or None,
            "exportable": data["exportable"],
        }


class CertificatePropertiesForm(CertificateForm, PropertiesForm):
    description = description_field()
    content = forms.FileField(
        label="Replace with a new file",
        required=False,
        help_text=CERTIFICATE_HELP + " Empty: keep the current certificate.",
        widget=forms.FileInput(attrs={"accept": CERTIFICATE_FILES}),
    )
    field_order = ["description", "exportable", "content", "password"]

    def current(self, row: Certificate) -> dict[str, Any]:
        return {"description": row.description, "exportable": "yes" if row.exportable else "no"}

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes = {}
        if data["description"] != self.row.description:
            changes["description"] = data["description"]
        if data["exportable"] != self.row.exportable:
            changes["exportable"] = data["exportable"]
        if data.get("content"):
            changes |= {"content": self.uploaded(), "password": data["password"] or None}
        return changes


# ---- connection types and connections -------------------------------------------------------------------

FIELD_TYPE_WORDS = {"string": "String", "int": "Integer", "bool": "Boolean"}
BLANK_FIELD_ROWS = 5


class ConnectionTypeForm(AssetForm):
    """A name, a description and rows of fields (name, type, encrypted): blank rows for a browser without
    JavaScript; with it, "Add a field" adds more. Rows without a name are left out."""

    service_fields = {"fields": "__all__"}
    name = name_field(strip=False)
    description = description_field()

    def __init__(self, data=None, files=None, **kwargs):
        super().__init__(data, files, **kwargs)
        posted = sum(1 for key in (data or {}) if re.fullmatch(r"field_name_\d+", key))
        self.rows = min(max(posted, BLANK_FIELD_ROWS), MAX_FIELDS)
        for i in range(self.rows):
            self.fields[f"field_name_{i}"] = forms.CharField(label=f"Field {i + 1} name", required=False)
            # Blank rows need not say a type.
            self.fields[f"field_type_{i}"] = forms.ChoiceField(
                label=f"Field {i + 1} type", choices=list(FIELD_TYPE_WORDS.items()), initial="string", required=False
            )
            self.fields[f"field_encrypted_{i}"] = forms.BooleanField(label=f"Field {i + 1} encrypted", required=False)
            # The rows are a table whose header names the columns: each input says which row and column it is.
            for name in ("name", "type", "encrypted"):
                field = self.fields[f"field_{name}_{i}"]
                field.widget.attrs["aria-label"] = field.label

    def field_rows(self) -> list[tuple]:
        return [
            (self[f"field_name_{i}"], self[f"field_type_{i}"], self[f"field_encrypted_{i}"]) for i in range(self.rows)
        ]

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = [
            {
                "name": data[f"field_name_{i}"],
                "type": data[f"field_type_{i}"] or "string",
                "encrypted": data[f"field_encrypted_{i}"],
            }
            for i in range(self.rows)
            if data[f"field_name_{i}"]
        ]
        return {"name": data["name"], "description": data["description"], "fields": fields}


def _field_input(field: dict[str, Any], *, keep: bool) -> forms.Field:
    """The input of one field of a connection type. `keep`: an encrypted field on the properties blade,
    whose value is hidden and kept unless a new one is entered."""
    label = f"{field['name']} ({FIELD_TYPE_WORDS[field['type']]}{', encrypted' if field['encrypted'] else ''})"
    help_text = "Hidden. Leave empty to keep it." if keep else ""
    if field["type"] == "bool":
        choices = [("true", "true"), ("false", "false")]
        if keep:
            choices = [(KEEP, "Keep the hidden value"), *choices]
        return forms.ChoiceField(label=label, choices=choices, required=not keep, help_text=help_text)
    widget = secret_input() if field["encrypted"] else None
    if field["type"] == "int":
        return forms.IntegerField(label=label, required=not keep, widget=widget, help_text=help_text)
    return forms.CharField(label=label, required=False, strip=False, widget=widget, help_text=help_text)


class ConnectionValuesForm(AssetForm):
    """One input per field of the connection's type."""

    def add_value_fields(self, connection_type: ConnectionType, *, keep_secrets: bool) -> None:
        self.type_fields = connection_type.fields
        for field in self.type_fields:
            self.fields[f"field_{field['name']}"] = _field_input(field, keep=keep_secrets and field["encrypted"])

    def values(self, *, omit_kept: bool) -> dict[str, Any]:
        values = {}
        for field in self.type_fields:
            value = self.cleaned_data.get(f"field_{field['name']}")
            if omit_kept and field["encrypted"] and value in (None, KEEP):
                continue
            if field["type"] == "bool":
                value = value == "true"
            values[field["name"]] = value
        return values


class ConnectionAddForm(ConnectionValuesForm):
    """Made for the type chosen above it (`chosen`, from the chooser's select): a new choice shows the
    dialog again with that type's fields."""

    service_fields = {"values": "__all__", "connection_type": "__all__"}
    name = name_field(strip=False)
    description = description_field()

    def __init__(self, data=None, files=None, *, types: list[ConnectionType], chosen: ConnectionType | None, **kwargs):
        super().__init__(data, files, **kwargs)
        self.types, self.chosen = types, chosen
        self.type_fields = []
        if chosen is not None:
            self.add_value_fields(chosen, keep_secrets=False)

    def clean(self):
        cleaned = super().clean()
        if self.chosen is None:
            self.add_error(None, "Choose a connection type.")
        return cleaned

    def arguments(self) -> dict[str, Any]:
        return {
            "name": self.cleaned_data["name"],
            "description": self.cleaned_data["description"],
            "connection_type": self.chosen.name,
            "values": self.values(omit_kept=False),
        }


class ConnectionPropertiesForm(ConnectionValuesForm, PropertiesForm):
    service_fields = {"values": "__all__"}
    description = description_field()

    def __init__(self, data=None, files=None, *, row: Connection, **kwargs):
        super().__init__(data, files, row=row, **kwargs)
        self.add_value_fields(row.connection_type, keep_secrets=True)

    def current(self, row: Connection) -> dict[str, Any]:
        values = {f"field_{name}": value for name, value in row.values.items()}
        # A select shows a bool as its text.
        values = {name: ("true" if v else "false") if isinstance(v, bool) else v for name, v in values.items()}
        return {"description": row.description, **values}

    def arguments(self) -> dict[str, Any]:
        changes = {}
        if self.cleaned_data["description"] != self.row.description:
            changes["description"] = self.cleaned_data["description"]
        values = self.values(omit_kept=True)
        changed = {
            name: value
            for name, value in values.items()
            if name not in self.row.values or not same_json(self.row.values[name], value)
        }
        if changed:
            changes["values"] = changed
        return changes
