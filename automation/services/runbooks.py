"""Runbooks: a draft, declared parameters, and immutable published versions."""

import hashlib
import json
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from automation.models import OPEN_STATUSES, AutomationAccount, Job, Role, Runbook, RunbookType, RunbookVersion
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.checks import checked_name
from automation.services.errors import Conflict, InvalidInput
from automation.validators import (
    CODE,
    PARAMETER_NAME_MAX_LENGTH,
    TEXT,
    int_problem,
    is_parameter_name,
    json_problem,
    text_problem,
)

# A secret is a string that is shown masked everywhere but in the runbook (see jobs.split_secrets).
PARAMETER_TYPES = ("string", "int", "bool", "json", "secret")
MASK = "******"
MAX_RETRIES = 3
UNSET = object()
MAX_PARAMETERS = 50
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_CONTENT_BYTES = 1024 * 1024
MAX_DESCRIPTION_CHARS = 2000


def _checked_type(runbook_type: Any) -> str:
    if runbook_type not in RunbookType.values:
        raise InvalidInput("runbook_type is one of python3, bash or powershell.", field="runbook_type")
    return runbook_type


def _checked_content(content: Any, field: str = "content") -> str:
    if not isinstance(content, str):
        raise InvalidInput("The runbook content is text.", field=field)
    # Checked before its size: a lone surrogate has no UTF-8 to count.
    if problem := text_problem(content, CODE):
        raise InvalidInput(f"The runbook content {problem}.", field=field)
    if len(content.encode()) > MAX_CONTENT_BYTES:
        raise InvalidInput(f"A runbook is at most {MAX_CONTENT_BYTES // 1024} KiB.", field=field)
    return content


def _checked_description(description: Any) -> str:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(
            f"The description is text of at most {MAX_DESCRIPTION_CHARS} characters.", field="description"
        )
    if problem := text_problem(description, TEXT):
        raise InvalidInput(f"The description {problem}.", field="description")
    return description


def coerce_parameter(value: Any, kind: str, *, from_text: bool) -> Any:
    """A value for a parameter of this type; `from_text` accepts the strings a form sends. Raises ValueError."""
    if kind in ("string", "secret"):
        if not isinstance(value, str):
            raise ValueError("must be a string")
        # The message names the character and where it is, never the value (it may be a secret).
        if problem := text_problem(value, TEXT):
            raise ValueError(problem)
        return value
    if kind == "int":
        if from_text and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value.strip()):
            value = int(value)
        if problem := int_problem(value):
            raise ValueError(problem)
        return value
    if kind == "bool":
        if from_text and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == "json":
        if from_text and isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise ValueError("must be valid JSON") from None
        if problem := json_problem(value):
            raise ValueError(problem)
        return value
    raise ValueError(f"has an unknown type {kind!r}")


def checked_declaration(parameters: Any) -> list[dict[str, Any]]:
    if parameters in (None, ""):
        return []
    if not isinstance(parameters, list) or len(parameters) > MAX_PARAMETERS:
        raise InvalidInput(f"parameters is a list of at most {MAX_PARAMETERS} declarations.", field="parameters")
    clean, seen = [], set()
    for index, item in enumerate(parameters):
        where = f"parameters[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} is an object with name, type, required and default.", field="parameters")
        unknown = set(item) - {"name", "type", "required", "default"}
        if unknown:
            raise InvalidInput(f"{where} has unknown keys: {', '.join(sorted(unknown))}.", field="parameters")
        name = item.get("name")
        if not is_parameter_name(name):
            raise InvalidInput(
                f"{where}.name is a letter or '_' followed by letters, digits or '_' "
                f"({PARAMETER_NAME_MAX_LENGTH} at most).",
                field="parameters",
            )
        if name.lower() in seen:
            raise InvalidInput(f"Parameter {name!r} is declared twice.", field="parameters")
        seen.add(name.lower())
        kind = item.get("type", "string")
        if kind not in PARAMETER_TYPES:
            raise InvalidInput(f"{where}.type is one of {', '.join(PARAMETER_TYPES)}.", field="parameters")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise InvalidInput(f"{where}.required is true or false.", field="parameters")
        entry = {"name": name, "type": kind, "required": required}
        if "default" in item and item["default"] is not None and kind == "secret":
            raise InvalidInput(
                f"{where} is a secret: it cannot have a default, which anyone reading the runbook would see.",
                field="parameters",
            )
        if "default" in item and item["default"] is not None:
            try:
                entry["default"] = coerce_parameter(item["default"], kind, from_text=False)
            except ValueError as exc:
                raise InvalidInput(f"The default of {name!r} {exc}.", field="parameters") from None
        clean.append(entry)
    return clean


def checked_job_parameters(
    declaration: list[dict[str, Any]], values: Any, *, from_text: bool = False
) -> dict[str, Any]:
    """Values for a job, checked against the published declaration; defaults fill what is left out."""
    if values in (None, ""):
        values = {}
    if not isinstance(values, dict):
        raise InvalidInput("parameters is an object of name: value.", field="parameters")
    declared = {p["name"]: p for p in declaration}
    unknown = [name for name in values if name not in declared]
    if unknown:
        raise InvalidInput(
            f"Unknown parameter {unknown[0]!r}: the runbook declares no such parameter.", field=unknown[0]
        )
    result = {}
    for name, spec in declared.items():
        if name in values and not (from_text and values[name] == "" and spec["type"] not in ("string", "secret")):
            try:
                result[name] = coerce_parameter(values[name], spec["type"], from_text=from_text)
            except ValueError as exc:
                raise InvalidInput(f"Parameter {name!r} {exc}.", field=name) from None
        elif "default" in spec:
            result[name] = spec["default"]
        elif spec["required"]:
            raise InvalidInput(f"Parameter {name!r} is required.", field=name)
    return result


def _whole_number_text(value: Any) -> Any:
    """A form's digits as a number; anything else as it came (str.isdigit() would take '²' too)."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,20}", value.strip()):
        return int(value)
    return value


def checked_retries(value: Any, *, from_text: bool = False) -> int:
    if from_text:
        value = _whole_number_text(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise InvalidInput(f"retries is a whole number from 0 to {MAX_RETRIES}.", field="retries")
    return value


def checked_timeout(value: Any, *, from_text: bool = False) -> int | None:
    """A timeout in seconds, or None for none; 1 second to 7 days."""
    if value in ("", None):
        return None
    if from_text:
        value = _whole_number_text(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("timeout_seconds is a whole number of seconds.", field="timeout_seconds")
    if not 1 <= value <= MAX_TIMEOUT_SECONDS:
        raise InvalidInput(f"timeout_seconds is 1 to {MAX_TIMEOUT_SECONDS}.", field="timeout_seconds")
    return value


def create_runbook(
    *,
    account: AutomationAccount,
    name: str,
    runbook_type: str,
    actor: Actor,
    description: str = "",
    content: str = "",
    parameters: Any = None,
    retries: Any = 0,
    timeout_seconds: Any = None,
) -> Runbook:
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    checked_name(name)
    _checked_type(runbook_type)
    _checked_content(content)
    declaration = checked_declaration(parameters)
    retries = checked_retries(retries)
    timeout_seconds = checked_timeout(timeout_seconds)
    _checked_description(description)
    try:
        with transaction.atomic():
            runbook = Runbook.objects.create(
                account=account,
                name=name,
                runbook_type=runbook_type,
                description=description,
                draft=content,
                parameters=declaration,
                retries=retries,
                timeout_seconds=timeout_seconds,
                created_by=actor.name,
            )
            record_event(actor=actor, action="runbook.create", account=account, target=runbook)
    except IntegrityError:
        raise Conflict(f"A runbook named {name!r} already exists in {account.name}.", field="name") from None
    return runbook


def update_draft(
    *,
    runbook: Runbook,
    actor: Actor,
    content: str | None = None,
    description: str | None = None,
    parameters: Any = None,
    retries: Any = UNSET,
    timeout_seconds: Any = UNSET,
) -> Runbook:
    """Change the draft and the runbook's settings: everything is checked before anything is written."""
    require_role(account=runbook.account, actor=actor, role=Role.OPERATOR)
    changes: dict[str, Any] = {}
    if retries is not UNSET:
        changes["retries"] = checked_retries(retries)
    if timeout_seconds is not UNSET:
        changes["timeout_seconds"] = checked_timeout(timeout_seconds)
    if content is not None:
        changes["draft"] = _checked_content(content)
    if description is not None:
        changes["description"] = _checked_description(description)
    if parameters is not None:
        changes["parameters"] = checked_declaration(parameters)
    if not changes:
        return runbook
    with transaction.atomic():
        for field, value in changes.items():
            setattr(runbook, field, value)
        runbook.save(update_fields=[*changes, "updated_at"])
        record_event(
            actor=actor,
            action="runbook.edit",
            account=runbook.account,
            target=runbook,
            details={"fields": sorted(changes)},
        )
    return runbook


def publish_runbook(
    *,
    runbook: Runbook,
    actor: Actor,
    content: str | None = None,
    description: str | None = None,
    parameters: Any = None,
    retries: Any = UNSET,
    timeout_seconds: Any = UNSET,
) -> RunbookVersion:
    """Freeze the draft as the next version: its content, type, parameters and SHA-256.

    Given the editor's fields (as update_draft takes them), they are saved first in the same transaction,
    so what is published is what the editor showed; if either step is refused, nothing is written."""
    require_role(account=runbook.account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        # Lock the runbook row: two publishes at once get consecutive numbers, not the same one, and no
        # save slips in between reading the draft and freezing it.
        locked = Runbook.objects.select_for_update().get(pk=runbook.pk)
        update_draft(
            runbook=locked,
            actor=actor,
            content=content,
            description=description,
            parameters=parameters,
            retries=retries,
            timeout_seconds=timeout_seconds,
        )
        if not locked.draft.strip():
            raise InvalidInput("The draft is empty: write the runbook before publishing it.", field="content")
        digest = hashlib.sha256(locked.draft.encode()).hexdigest()
        last = locked.versions.aggregate(n=Max("number"))["n"] or 0
        version = RunbookVersion.objects.create(
            runbook=locked,
            number=last + 1,
            runbook_type=locked.runbook_type,
            content=locked.draft,
            sha256=digest,
            parameters=locked.parameters,
            published_by=actor.name,
        )
        record_event(
            actor=actor,
            action="runbook.publish",
            account=runbook.account,
            target=locked,
            details={"version": version.number, "sha256": digest},
        )
    # The caller's copy shows what was published.
    for field in ("draft", "description", "parameters", "retries", "timeout_seconds", "updated_at"):
        setattr(runbook, field, getattr(locked, field))
    return version


def delete_runbook(*, runbook: Runbook, actor: Actor) -> None:
    require_role(account=runbook.account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        # start_job locks the same row: a job is either started before the delete (and refuses
        # it) or finds the runbook gone, never queued on a version that is being deleted.
        Runbook.objects.select_for_update().filter(pk=runbook.pk).first()
        active = Job.objects.filter(runbook=runbook, status__in=OPEN_STATUSES).count()
        if active:
            raise Conflict(
                f"Runbook {runbook.name!r} has {active} job(s) queued or running; stop them first.",
                code="runbook_busy",
            )
        record_event(actor=actor, action="runbook.delete", account=runbook.account, target=runbook)
        runbook.delete()


def latest_version(runbook: Runbook) -> RunbookVersion | None:
    return runbook.versions.order_by("-number").first()
