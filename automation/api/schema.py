"""What the OpenAPI document says beyond what drf-spectacular reads from the code.

Every operation lists every status it can answer, each error with the one error body; and the checks
the server makes in its services (name rules, enums, bounds, the shape of JSON fields the serializers
take as "any JSON") are stated here, so a client generated from the document sends what the server
takes. The schema-driven fuzz test (tests/automation/api/test_schema_fuzz.py) holds the two together.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from automation import validators
from automation.api.agent import serializers as agent
from automation.api.pagination import PAGE_RULE
from automation.models import AccountKey, JobStatus, JobStream, RunbookType, StartedBy
from automation.services import runbooks as runbook_services

NAME_PATTERN = f"^{validators.NAME_PATTERN}$"
NAME_MAX = validators.NAME_MAX_LENGTH
# StrictStringField: no control characters but the tab, and (trimmed of white space) not blank.
_NO_CONTROL = r"[^\u0000-\u0008\u000a-\u001f]"
_NOT_SPACE = r"[^\u0000-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
NO_CONTROL_PATTERN = f"^{_NO_CONTROL}*$"
NOT_BLANK_PATTERN = f"^{_NO_CONTROL}*{_NOT_SPACE}{_NO_CONTROL}*$"
# The kinds of text of automation.validators: a line (filters) has no control character at all; text
# (descriptions, parameter values) may hold tabs and line ends (LF, CR LF); code (a runbook) anything but NUL.
LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
TEXT_PATTERN = r"^(?:[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]|\r\n)*$"
CODE_PATTERN = r"^[^\u0000]*$"
MIN_INT, MAX_INT, MAX_JSON_DEPTH = validators.MIN_INT, validators.MAX_INT, validators.MAX_JSON_DEPTH
MACHINE_ID_PATTERN = f"^{validators.MACHINE_ID_PATTERN}$"
PARAMETER_NAME_PATTERN = f"^{validators.PARAMETER_NAME_PATTERN}$"
PARAMETER_NAME_MAX = validators.PARAMETER_NAME_MAX_LENGTH


# ---- errors -------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. invalid, not_found, stale_lease.")
    detail = serializers.CharField(help_text="What went wrong, in words a person can act on.")
    field = serializers.CharField(required=False, help_text="The input field at fault, when there is one.")
    fields = serializers.JSONField(
        required=False, help_text="What is at fault with its messages (400): by field, or a list for the request."
    )


ERROR_DESCRIPTIONS = {
    400: "Invalid input (a parameter, the body, or a control character in the URL): `detail` says which and why.",
    401: "No credentials, or wrong ones (the same answer whether the account exists or not).",
    403: "Your role in the account does not allow this.",
    404: "No such object here (also for an account you are not a member of, so its id does not leak).",
    409: "The current state does not allow this; `detail` says why.",
    413: "The body is over this endpoint's size limit.",
    415: "The body is not `application/json`.",
    429: (
        "Too many failed authentications from this address or with this credential; try again after `Retry-After` "
        "seconds. A valid key, credential or token is always accepted."
    ),
}


def errors(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """{status: the error body} for each status; `descriptions` (`_409="..."`) say more than the default."""
    out = {}
    for status in statuses:
        text = descriptions.get(f"_{status}", ERROR_DESCRIPTIONS[status])
        out[status] = OpenApiResponse(ErrorSerializer, description=text)
    return out


# Any request may be answered these: a bad parameter, body or URL (a control character in it), missing or
# wrong credentials, too many failed ones from its address. Then what each kind of operation adds.
ANY = (400, 401, 429)
AGENT_BODY = (*ANY, 413, 415)
MANAGEMENT_READ = (*ANY, 404)
MANAGEMENT_LIST = MANAGEMENT_READ
MANAGEMENT_WRITE = (*ANY, 403, 404, 413, 415)
MANAGEMENT_ACTION = (*ANY, 403, 404)


# ---- the agent API's credentials ------------------------------------------------------------------

AGENT_KEY = "agentKey"
WORKER_CREDENTIAL = "workerCredential"
AGENT_SECURITY_SCHEMES = {
    AGENT_KEY: {
        "type": "http",
        "scheme": "bearer",
        "description": "The account's primary or secondary access key (the Keys blade).",
    },
    WORKER_CREDENTIAL: {
        "type": "http",
        "scheme": "bearer",
        "description": "The worker's own credential (hrw_…), from its registration.",
    },
}
KEY_AUTH = [{AGENT_KEY: []}]
CREDENTIAL_AUTH = [{WORKER_CREDENTIAL: []}]


class AgentSchema(AutoSchema):
    """The agent views read `Authorization: Bearer` themselves (an account key or a worker credential,
    by operation); each operation names its scheme with `extend_schema(auth=...)`, defined here."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for name, definition in AGENT_SECURITY_SCHEMES.items():
            self.registry.register_on_missing(
                ResolvedComponent(name=name, type=ResolvedComponent.SECURITY_SCHEMA, object=name, schema=definition)
            )
        return operation


# ---- fields whose checks live in code drf-spectacular cannot read --------------------------------


class NameFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "automation.api.fields.NameField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": NAME_PATTERN}


class StrictStringSchema(OpenApiSerializerFieldExtension):
    target_class = "automation.api.agent.serializers.StrictStringField"

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        blank_after_trim = field.trim_whitespace and not field.allow_blank
        schema = {"type": "string", "pattern": NOT_BLANK_PATTERN if blank_after_trim else NO_CONTROL_PATTERN}
        if agent.validate_machine_id in field.validators:
            schema["pattern"] = MACHINE_ID_PATTERN
        shortest = max(field.min_length or 0, 0 if field.allow_blank else 1)
        if shortest:
            schema["minLength"] = shortest
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        return schema


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": NAME_PATTERN})
class NameSchemaField(serializers.JSONField):
    """A name by automation.validators.NAME_RULE."""


# ---- agent API request bodies ---------------------------------------------------------------------


class RecordsFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "automation.api.agent.serializers.RecordsField"

    def map_serializer_field(self, auto_schema, direction):
        record = auto_schema.resolve_serializer(agent.RecordSerializer, direction)
        return {"type": "array", "items": record.ref, "maxItems": self.target.max_length}


# Required: JSON Schema cannot make a body field depend on the credential sent; agents send an account key.
@extend_schema_serializer(component_name="DeregisterRequest")
class DeregisterRequestSchema(agent.DeregisterRequest):
    machine_id = agent.StrictStringField(
        **agent.MACHINE_ID_FIELD,
        help_text=(
            "The machine to remove. Needed with an account key; with the worker's own credential it may be left "
            "out (that worker is removed)."
        ),
    )


# ---- management API request bodies (the serializers take any JSON; the services check it) -------


def _declaration(kind: str, default: dict, *, type_required: bool = True) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "type"] if type_required else ["name"],
        "properties": {
            "name": {
                "type": "string",
                "maxLength": PARAMETER_NAME_MAX,
                "pattern": PARAMETER_NAME_PATTERN,
            },
            "type": {"type": "string", "enum": [kind]},
            "required": {"type": "boolean", "default": False},
            "default": default,
        },
    }


# A parameter's default is of its type; a secret has none (anyone reading the runbook would see it).
PARAMETER_DECLARATION = {
    "oneOf": [
        _declaration("string", {"type": "string", "pattern": TEXT_PATTERN, "nullable": True}, type_required=False),
        _declaration("int", {"type": "integer", "minimum": MIN_INT, "maximum": MAX_INT, "nullable": True}),
        _declaration("bool", {"type": "boolean", "nullable": True}),
        _declaration(
            "json",
            {
                "nullable": True,
                "description": f"Its strings are text; at most {validators.MAX_JSON_DEPTH} levels deep.",
            },
        ),
        _declaration("secret", {"type": "string", "nullable": True, "enum": [None]}),
    ],
    "description": "type is one of string (the default), int, bool, json and secret.",
}


@extend_schema_field(
    {
        "type": "array",
        "maxItems": runbook_services.MAX_PARAMETERS,
        "items": PARAMETER_DECLARATION,
        "description": "The declared parameters; their names are unique, ignoring case.",
    }
)
class DeclarationSchemaField(serializers.JSONField):
    pass


@extend_schema_field({"type": "string", "maxLength": runbook_services.MAX_DESCRIPTION_CHARS, "pattern": TEXT_PATTERN})
class DescriptionSchemaField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "pattern": CODE_PATTERN,
        "description": "The draft: at most 1 MiB of UTF-8, without NUL characters.",
    }
)
class ContentSchemaField(serializers.JSONField):
    pass


def _retries(**kwargs):
    return serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=runbook_services.MAX_RETRIES,
        help_text="Runs again when its worker is lost while running it.",
        **kwargs,
    )


def _timeout(**kwargs):
    kwargs.setdefault("help_text", "Seconds (null: no timeout).")
    return serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=runbook_services.MAX_TIMEOUT_SECONDS, **kwargs
    )


@extend_schema_serializer(component_name="RunbookCreate")
class RunbookCreateRequestSchema(serializers.Serializer):
    name = NameSchemaField()
    runbook_type = serializers.ChoiceField(choices=RunbookType.choices)
    description = DescriptionSchemaField(required=False, default="")
    content = ContentSchemaField(required=False, default="")
    parameters = DeclarationSchemaField(required=False, default=list)
    retries = _retries(default=0)
    timeout_seconds = _timeout(default=None)


@extend_schema_serializer(component_name="RunbookUpdate")
class RunbookUpdateRequestSchema(serializers.Serializer):
    description = DescriptionSchemaField(required=False)
    content = ContentSchemaField(required=False)
    parameters = DeclarationSchemaField(required=False)
    retries = _retries()
    timeout_seconds = _timeout()


@extend_schema_serializer(component_name="JobStart")
class JobStartRequestSchema(serializers.Serializer):
    runbook = NameSchemaField(help_text="A runbook of the account with a published version.")
    run_on = NameSchemaField(help_text="The hybrid worker group to run on.")
    parameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="name: value, of the types the published version declares; strings are text.",
    )
    timeout_seconds = _timeout(help_text="Seconds (null or left out: the runbook's default timeout).")


# ---- query parameters -----------------------------------------------------------------------------

PAGE = OpenApiParameter("page", {"type": "integer", "minimum": 1}, description=f"Page number (default 1). {PAGE_RULE}")

EMPTY = {"type": "string", "maxLength": 0}


def _or_empty(schema: dict) -> dict:
    """An empty filter (`?status=`, as a form sends it) filters nothing."""
    return {"anyOf": [schema, EMPTY]}


MOMENT = {"type": "string", "format": "date-time"}
JOB_FILTERS = [
    OpenApiParameter("status", _or_empty({"type": "string", "enum": JobStatus.values})),
    OpenApiParameter(
        "started_by", _or_empty({"type": "string", "enum": StartedBy.values}), description="How the job was started"
    ),
    OpenApiParameter("runbook", {"type": "string", "pattern": LINE_PATTERN}, description="Runbook name"),
    OpenApiParameter("run_on", {"type": "string", "pattern": LINE_PATTERN}, description="Hybrid worker group name"),
    OpenApiParameter("created_after", _or_empty(MOMENT), description="ISO 8601 date and time, with its offset"),
    OpenApiParameter("created_before", _or_empty(MOMENT), description="ISO 8601 date and time, with its offset"),
]

STREAM_FILTERS = [
    OpenApiParameter(
        "after",
        {"type": "integer", "minimum": -1, "maximum": MAX_INT},
        description="Only records after this sequence number (-1: from the first)",
    ),
    OpenApiParameter("stream", _or_empty({"type": "string", "enum": JobStream.Stream.values})),
]


def listing(serializer, *, filters=()) -> dict:
    """extend_schema arguments of a management API list: its query parameters (and `page`), every answer."""
    return {"parameters": [*filters, PAGE], "responses": {200: serializer, **errors(*MANAGEMENT_LIST)}}


def reading(serializer) -> dict:
    """extend_schema arguments of a management API read of one object."""
    return {"responses": {200: serializer, **errors(*MANAGEMENT_READ)}}


KEY_SLOT = OpenApiParameter("slot", str, location=OpenApiParameter.PATH, enum=AccountKey.Slot.values)
