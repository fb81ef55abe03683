"""A corpus of bad input sent to every operation of both APIs, found by walking the URL resolver (a new
endpoint is in the run without a change here, and the run fails if one is missing its valid example).

Each operation gets: bodies that are not usable JSON objects (truncated, not UTF-8, a list, a string, a
number, null, 2,000-deep nesting, NaN, a duplicate key), a body over its limit and one over every limit,
wrong content types, and its valid example with each value in turn replaced by a wrong type, an
out-of-range number, a bad time, or a string with a NUL or another control character; query parameters
with junk; methods it does not take; unknown ids and URLs; all with valid credentials, so validation is
reached, and the operations once more without and with wrong ones. Every answer must be JSON
{"code", "detail"} with a 4xx status: never a 5xx, never an HTML page.

The world is built once for the module and committed; each case runs in a transaction rolled back after
it, so a case that is (wrongly) accepted changes nothing for the next one.
"""

import base64
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from django.core.management import call_command
from django.db import connection
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from automation.api.management.certificates import EXAMPLE_CER

pytestmark = pytest.mark.sqlite

USE_SQLITE = os.environ.get("TEST_DATABASE", "postgres") == "sqlite"
MIB = 1024 * 1024
API_ROUTE = re.compile(r"^(agentsvc|api)/")
METHODS = ("get", "post", "put", "patch", "delete")
LEASE = "lease-placeholder"  # replaced by the held job's lease
JOB = "job-placeholder"  # replaced by the held job's id
TIME = "2026-01-01T00:00:00Z"
FACTS = {
    "hostname": "web-02",
    "os": "Debian GNU/Linux 12",
    "ip_addresses": ["10.0.0.2"],
    "cpu_count": 4,
    "memory_bytes": 8_000_000_000,
    "memory_available_bytes": 4_000_000_000,
    "disk_free_bytes": 50_000_000_000,
    "load": [0.5],
    "agent_version": "1.0.0",
    "python_version": "3.11.7",
    "capacity": 4,
    "clock": 1_800_000_000.5,
}
RECORD = {"seq": 0, "stream": "output", "text": "hello", "time": TIME}
DECLARED = [
    {"name": "who", "type": "string", "required": False, "default": "world"},
    {"name": "count", "type": "int", "required": False, "default": 3},
]

# A valid body for every operation that reads one; None: the operation takes no body.
EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "agent:register"): {"group": "lab", "machine_id": "machine-0002", "name": "web-02", "facts": FACTS},
    ("post", "agent:heartbeat"): {"facts": FACTS, "jobs": [{"id": JOB, "lease": LEASE}]},
    ("post", "agent:leave"): None,
    ("post", "agent:deregister"): {"machine_id": "machine-0001"},
    ("post", "agent:jobs-next"): {"wait": 0.0, "stopping": [JOB]},
    ("post", "agent:job-records"): {"lease": LEASE, "records": [RECORD]},
    ("post", "agent:job-finish"): {
        "lease": LEASE,
        "status": "Completed",
        "exit_code": 0,
        "reason": "done",
        "claim": 0,
        "records": [RECORD],
    },
    ("post", "api:group-list"): {"name": "new group"},
    ("patch", "api:group-detail"): {"run_as_credential": "corpus credential"},
    ("delete", "api:group-detail"): None,
    ("delete", "api:worker-detail"): None,
    ("post", "api:key-regenerate"): None,
    ("post", "api:runbook-list"): {
        "name": "new-runbook",
        "runbook_type": "bash",
        "description": "Says hello.",
        "content": "echo hello",
        "parameters": DECLARED,
        "retries": 1,
        "timeout_seconds": 60,
    },
    ("patch", "api:runbook-detail"): {
        "description": "Says hello again.",
        "content": "echo again",
        "parameters": DECLARED,
        "retries": 0,
        "timeout_seconds": 30,
    },
    ("delete", "api:runbook-detail"): None,
    ("post", "api:runbook-publish"): None,
    ("post", "api:job-list"): {"runbook": "rb", "run_on": "lab", "parameters": {"who": "me", "count": 2}},
    ("post", "api:job-stop"): None,
    ("post", "api:variable-list"): {"name": "new variable", "value": "v", "encrypted": False, "description": "d"},
    ("patch", "api:variable-detail"): {"value": "w", "encrypted": False, "description": "d"},
    ("delete", "api:variable-detail"): None,
    ("post", "api:credential-list"): {
        "name": "new credential",
        "username": "svc",
        "password": "pw",
        "description": "d",
    },
    ("patch", "api:credential-detail"): {"username": "svc2", "password": "pw2", "description": "d"},
    ("delete", "api:credential-detail"): None,
    ("post", "api:certificate-list"): {
        "name": "new certificate",
        "content_base64": EXAMPLE_CER,
        "exportable": False,
        "description": "d",
    },
    ("patch", "api:certificate-detail"): {"exportable": True, "description": "d"},
    ("delete", "api:certificate-detail"): None,
    ("post", "api:connection-type-list"): {
        "name": "new type",
        "fields": [{"name": "host", "type": "string", "encrypted": False}],
        "description": "d",
    },
    ("delete", "api:connection-type-detail"): None,
    ("post", "api:connection-list"): {
        "name": "new connection",
        "connection_type": "corpus type",
        "values": {"host": "h", "port": 1},
        "description": "d",
    },
    ("patch", "api:connection-detail"): {"values": {"port": 2}, "description": "d"},
    ("delete", "api:connection-detail"): None,
    ("post", "api:webhook-list"): {
        "name": "new webhook",
        "run_on": "lab",
        "enabled": True,
        "expiry_time": "2099-01-01T00:00:00Z",
        "parameters": {"who": "me", "count": 2},
        "signed": False,
    },
    ("patch", "api:webhook-detail"): {"name": "corpus webhook", "enabled": True, "parameters": {}, "run_on": "lab"},
    ("delete", "api:webhook-detail"): None,
    ("post", "api:webhook-rotate"): None,
    ("post", "api:webhook-extend"): {"expiry_time": "2099-01-01T00:00:00Z"},
    ("post", "api:webhook-signing"): None,
    ("delete", "api:webhook-signing"): None,
    ("post", "api:schedule-list"): {
        "name": "new schedule",
        "description": "d",
        "start_time": "2030-01-01T02:30:00+01:00",
        "time_zone": "Europe/Berlin",
        "frequency": "Week",
        "interval": 2,
        "week_days": ["Monday"],
        "expiry_time": "2031-01-01T00:00:00Z",
        "enabled": True,
    },
    ("patch", "api:schedule-detail"): {"description": "d", "interval": 3, "enabled": False},
    ("delete", "api:schedule-detail"): None,
    ("post", "api:runbook-schedules"): {
        "schedule": "spare schedule",
        "parameters": {"who": "me", "count": 2},
        "run_on": "lab",
        "overlap": "skip",
    },
    ("delete", "api:runbook-schedule-detail"): None,
    ("put", "agent:job-variable"): {"value": "changed"},
    ("post", "agent:job-children"): {"runbook": "rb", "parameters": {"who": "me", "count": 2}, "run_on": "lab"},
}
# The job-side agent operations: they take the held job's lease in the X-Job-Lease header.
JOB_SIDE = {
    "agent:job-variable",
    "agent:job-credential",
    "agent:job-connection",
    "agent:job-certificate",
    "agent:job-children",
    "agent:job-child",
}
# Query parameters each list takes (checked against the schema below), with a valid value.
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("get", "api:job-list"): {
        "status": "Running",
        "runbook": "rb",
        "run_on": "lab",
        "started_by": "schedule",
        "created_after": "2026-01-01T00:00:00Z",
        "created_before": "2036-01-01T00:00:00Z",
    },
    ("get", "api:job-streams"): {"after": "0", "stream": "output"},
    ("get", "api:schedule-next-runs"): {"count": "5"},
    ("get", "agent:job-child"): {"wait": "0"},
}
# URL values other than the world's, where the valid example needs them: what it deletes must be deletable.
EXAMPLE_KWARGS = {
    ("delete", "api:group-detail"): {"group_name": "empty"},
    ("delete", "api:runbook-detail"): {"runbook_name": "spare"},
    ("delete", "api:connection-type-detail"): {"connection_type_name": "spare type"},
}
PUBLIC = {"schema", "api-docs"}  # served to anyone, GET only, not JSON

# Values of the example that may be accepted in place of the value there (the rest must be refused):
# (operation, path in the body) -> labels of the replacements that are fine either way.
ACCEPTABLE: dict[tuple[str, str], set[str]] = {
    **{
        (op, f"facts.{fact}"): {"2**31"}  # 2 GiB
        for op in ("agent:register", "agent:heartbeat")
        for fact in ("memory_bytes", "memory_available_bytes", "disk_free_bytes")
    },
    ("api:job-list", "parameters.count"): {"-1", "2**31"},  # an int parameter
    **{
        (op, f"parameters.{n}.default"): {"-1", "2**31", "null"} if n else {"null"}  # null: no default
        for op in ("api:runbook-list", "api:runbook-detail")
        for n in (0, 1)
    },
    ("agent:job-records", "records.0.text"): {"a NUL", "a control character"},  # output is stored as sent
    ("agent:job-finish", "records.0.text"): {"a NUL", "a control character"},
    ("agent:job-finish", "reason"): {"a NUL", "a control character"},
    ("agent:job-finish", "exit_code"): {"-1", "null"},
    ("agent:job-records", "records.0.time"): {"null", "5"},  # no time: the time received
    ("agent:job-finish", "records.0.time"): {"null", "5"},
    ("agent:register", "facts.clock"): {"-1"},
    ("agent:heartbeat", "facts.clock"): {"-1"},
    ("api:runbook-list", "content"): {"a control character"},  # a script may print an escape sequence
    ("api:runbook-detail", "content"): {"a control character"},
    ("api:runbook-list", "timeout_seconds"): {"null"},
    ("api:runbook-detail", "timeout_seconds"): {"null"},
    ("api:job-list", "parameters"): {"null"},  # no parameters: the defaults
    ("api:group-detail", "run_as_credential"): {"null"},  # Run as: Default
    ("api:runbook-schedules", "parameters"): {"null"},
    ("api:runbook-schedules", "parameters.count"): {"-1", "2**31"},
    ("api:schedule-list", "expiry_time"): {"null"},  # never expires
    # A variable holds any JSON value whose strings are text.
    **{
        (op, "value"): {"5", "true", "a list", "an object", "null"}
        for op in ("api:variable-list", "api:variable-detail")
    },
    # A password is taken as typed: only NUL is refused.
    **{(op, "password"): {"a control character"} for op in ("api:credential-list", "api:credential-detail")},
    **{(op, "values.port"): {"-1", "2**31"} for op in ("api:connection-list", "api:connection-detail")},  # an int field
    # A variable's value is any JSON value a database can store.
    ("agent:job-variable", "value"): {"5", "true", "a list", "an object", "null", "a NUL", "a control character"},
    # A webhook's parameters: {} or null are the defaults; an int parameter takes any int.
    **{(op, "parameters"): {"null", "an object"} for op in ("api:webhook-list", "api:webhook-detail")},
    ("api:webhook-list", "parameters.count"): {"-1", "2**31"},
    ("api:webhook-list", "expiry_time"): {"null"},  # a year from now
    ("agent:job-children", "parameters"): {"null"},  # the defaults
    ("agent:job-children", "parameters.count"): {"-1", "2**31"},
    ("agent:job-children", "run_on"): {"null"},  # the parent's group
}
QUERY_VALUES = {
    "empty": "",
    "a word": "x",
    "0": "0",
    "-1": "-1",
    "--5": "--5",
    "1.5": "1.5",
    "2**63": str(2**63),
    "10**400": str(10**400),
    "a superscript two": "\u00b2",
    "a NUL": "a\x00b",
    "past the end of time": "9999-12-31T23:59:59-23:59",
    "before the start of time": "0001-01-01T00:00:00+23:00",
}
# Query parameters: the values of QUERY_VALUES that may be answered with a list.
QUERY_ACCEPTABLE: dict[tuple[str, str], set[str]] = {
    # A name that matches nothing is an empty list; an empty filter is no filter (as a blank form field).
    ("api:job-list", "runbook"): set(QUERY_VALUES) - {"a NUL"},
    ("api:job-list", "run_on"): set(QUERY_VALUES) - {"a NUL"},
    ("api:job-list", "status"): {"empty"},
    ("api:job-list", "started_by"): {"empty"},
    ("api:job-list", "created_after"): {"empty"},
    ("api:job-list", "created_before"): {"empty"},
    ("api:job-streams", "stream"): {"empty"},
    ("api:job-streams", "after"): {"-1", "0", "2**63", "10**400"},  # a seq past the last: no records
    ("agent:job-child", "wait"): {"0"},
}

# Cases that fail for a known reason, with the reason; empty while every case passes.
XFAIL: dict[str, tuple[str, str]] = {}  # case id -> (reason, on which database it fails: both, postgres, sqlite)


@dataclass(frozen=True)
class Operation:
    method: str
    name: str  # namespace:url-name
    route: str  # the path template, as in the schema
    kwargs: tuple[str, ...]
    view: Any

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.name

    @property
    def public(self) -> bool:
        return self.name in PUBLIC

    @property
    def takes_body(self) -> bool:
        return EXAMPLES.get(self.key) is not None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.route}"


def _operations() -> tuple[list[Operation], list[tuple[str, Any]]]:
    ops, urls = [], []

    def walk(patterns, prefix: str, namespace: str | None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
                continue
            route = prefix + str(pattern.pattern)
            if not API_ROUTE.match(route) or pattern.name is None:
                continue  # not an API, or the APIs' catch-all
            view = getattr(pattern.callback, "cls", None)
            if view is None:
                continue  # a plain Django view: the agent's downloads (install.sh, the wheel) take no input
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            kwargs = tuple(pattern.pattern.converters)
            template = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
            urls.append((name, view))
            ops.extend(Operation(m, name, template, kwargs, view) for m in METHODS if hasattr(view, m))

    walk(get_resolver().url_patterns, "", None)
    return ops, urls


OPERATIONS, URLS = _operations()


# ---- the world ----------------------------------------------------------------------------------------------


@dataclass
class World:
    values: dict[str, str]  # URL kwargs
    secrets: dict[str, str]  # "key", "credential", "token"
    lease: str
    job: str


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, redis_url):
    from django.contrib.auth import get_user_model

    from automation.services import jobs as job_services
    from automation.services.accounts import create_account
    from automation.services.actor import Actor
    from automation.services.certificates import create_certificate
    from automation.services.connections import create_connection, create_connection_type
    from automation.services.credentials import create_credential
    from automation.services.groups import create_group
    from automation.services.keys import reveal_keys
    from automation.services.notifications import create_notification
    from automation.services.runbooks import create_runbook, publish_runbook
    from automation.services.schedules import create_schedule, link_schedule
    from automation.services.tokens import create_token
    from automation.services.variables import create_variable
    from automation.services.workers import register_worker
    from tests.support.assets import MadeCertificate

    system = Actor.for_system()
    with django_db_blocker.unblock():
        owner = get_user_model().objects.create_user(username="corpus-owner", password="x")
        account = create_account(name="corpus", owner=owner, actor=system)
        registration = register_worker(
            account=account, group_name="lab", machine_id="machine-0001", name="web-01", facts={"capacity": 4}
        )
        runbook = create_runbook(
            account=account, name="rb", runbook_type="bash", content="echo $1", parameters=DECLARED, actor=system
        )
        publish_runbook(runbook=runbook, actor=system)
        job_services.start_job(account=account, runbook_name="rb", group_name="lab", actor=system)
        (job,) = job_services.claim_jobs(worker=registration.worker, limit=1)
        create_group(account=account, name="empty", actor=system)
        create_runbook(account=account, name="spare", runbook_type="bash", actor=system)
        notification = create_notification(account=account, title="Corpus")
        create_variable(account=account, name="corpus variable", value="v", actor=system)
        create_credential(account=account, name="corpus credential", username="u", password="p", actor=system)
        create_certificate(
            account=account, name="corpus certificate", content=base64.b64decode(EXAMPLE_CER), actor=system
        )
        fields = [{"name": "host"}, {"name": "port", "type": "int"}]
        create_connection_type(account=account, name="corpus type", fields=fields, actor=system)
        create_connection_type(account=account, name="spare type", fields=fields, actor=system)
        create_connection(
            account=account,
            name="corpus connection",
            connection_type="corpus type",
            values={"host": "h", "port": 1},
            actor=system,
        )
        # One asset of each kind named alike, which the job reads, and a child job it started.
        create_variable(account=account, name="corpus", value="hello", actor=system)
        create_credential(account=account, name="corpus", username="svc", password="Corpus-Pa55", actor=system)
        create_connection(
            account=account,
            name="corpus",
            connection_type="AzureServicePrincipal",
            values={"ApplicationId": "a", "TenantId": "t", "CertificateThumbprint": "c", "SubscriptionId": "s"},
            actor=system,
        )
        create_certificate(account=account, name="corpus", content=MadeCertificate().der, exportable=True, actor=system)
        child = job_services.start_child_job(parent=job, runbook_name="rb", worker=registration.worker)
        from automation.services.webhooks import create_webhook

        webhook = create_webhook(runbook=runbook, actor=system, name="corpus webhook", run_on="lab").webhook
        start = "2030-01-01T00:00:00Z"
        create_schedule(account=account, name="corpus schedule", start_time=start, frequency="Day", actor=system)
        create_schedule(account=account, name="spare schedule", start_time=start, frequency="Hour", actor=system)
        link = link_schedule(
            account=account, runbook_name="rb", schedule_name="corpus schedule", run_on="lab", actor=system
        )
        yield World(
            values={
                "account_id": str(account.pk),
                "job_id": str(job.pk),
                "group_name": "lab",
                "worker_id": str(registration.worker.pk),
                "slot": "primary",
                "runbook_name": "rb",
                "notification_id": str(notification.pk),
                "variable_name": "corpus variable",
                "credential_name": "corpus credential",
                "certificate_name": "corpus certificate",
                "connection_type_name": "corpus type",
                "connection_name": "corpus connection",
                "name": "corpus",
                "child_id": str(child.pk),
                "webhook_id": str(webhook.pk),
                "schedule_name": "corpus schedule",
                "link_id": str(link.pk),
            },
            secrets={
                "key": reveal_keys(account=account, actor=system)["primary"],
                "credential": registration.credential,
                "token": create_token(user=owner, name="corpus", expires_days=None, actor=system).plain,
            },
            lease=str(job.lease_id),
            job=str(job.pk),
        )
        call_command("flush", interactive=False, verbosity=0)


# ---- the cases ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    op: Operation
    label: str
    body: Any = None  # raw bytes, or a callable World -> bytes
    content_type: str | None = "application/json"
    query: dict | None = None
    auth: str = "valid"  # valid, none, wrong
    method: str | None = None  # another method than the operation's
    kwargs: dict = field(default_factory=dict)  # URL kwargs replaced
    suffix: str = ""
    refused: bool = True  # False: a 2xx is fine too (never a 5xx)

    @property
    def id(self) -> str:
        return f"{self.op}|{self.label}"


def _raw(value) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


@cache
def _huge_bytes() -> bytes:
    return b'{"padding": "' + b"x" * (9 * MIB) + b'"}'


def _huge(world) -> bytes:
    return _huge_bytes()


def _example_body(example, world) -> bytes:
    return _raw(_fill(example, world))


def _mutated(example, path, new, world) -> bytes:
    return _raw(_replaced(_fill(example, world), path, new))


def _fill(value, world: World):
    """The example with the world's lease and job in place of the placeholders."""
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return {LEASE: world.lease, JOB: world.job}.get(value, value) if isinstance(value, str) else value


def _leaves(value, path=()):
    """(path, value) of every value in the example, containers included (depth first)."""
    if path:
        yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))


def _replaced(value, path, new):
    if not path:
        return new
    head, *rest = path
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = _replaced(value[head], rest, new)
    return copy


TIMES = re.compile(r"\d{4}-\d\d-\d\dT")
UUIDISH = {LEASE, JOB}


def _replacements(value) -> dict[str, Any]:
    """Wrong values for a value of the example, by what it is."""
    if isinstance(value, bool):
        return {"5": 5, "a string": "true", "null": None}
    if isinstance(value, int):
        wrong = {"a numeric string": "5", "true": True, "1.5": 1.5, "a list": [], "null": None}
        return wrong | {"-1": -1, "2**31": 2**31, "2**63": 2**63, "10**400": 10**400}
    if isinstance(value, float):
        return {"a numeric string": "0.5", "true": True, "a list": [], "null": None} | {
            "-1": -1,
            "2**63": 2**63,
            "10**400": 10**400,
        }
    if isinstance(value, str) and value in UUIDISH:
        return {"5": 5, "not a UUID": "not-a-uuid", "a list": [], "null": None}
    if isinstance(value, str) and TIMES.match(value):
        return {
            "5": 5,
            "null": None,
            "past the end of time": "9999-12-31T23:59:59-23:59",
            "before the start of time": "0001-01-01T00:00:00+23:00",
            "naive": "2026-01-01T00:00:00",
        }
    if isinstance(value, str):
        return {
            "5": 5,
            "true": True,
            "a list": [],
            "an object": {},
            "null": None,
            "a NUL": "a\x00b",
            "a control character": "a\x1bb",
        }
    if isinstance(value, list):
        return {"a string": "x", "5": 5, "an object": {}, "null": None}
    return {"a string": "x", "5": 5, "a list": [], "null": None}


WHOLE_BODIES: dict[str, bytes] = {
    "truncated JSON": b'{"group": "lab", "name": ',
    "not UTF-8": b'{"name": "\xff\xfe"}',
    "a list": b"[]",
    "a string": b'"x"',
    "a number": b"42",
    "null": b"null",
    "true": b"true",
    "2,000-deep arrays": b"[" * 2000 + b"]" * 2000,
    "2,000-deep objects": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "NaN": b'{"x": NaN}',
    "Infinity": b'{"x": -Infinity}',
    "a lone surrogate": b'{"x": "\\udc00"}',
}


def _cases() -> list[Case]:
    cases = []
    for op in OPERATIONS:
        if op.public:
            continue
        example = EXAMPLES.get(op.key)
        valid = partial(_example_body, example) if example is not None else None
        # The example itself: 2xx (it proves validation is reached by the rest).
        cases.append(Case(op, "the valid example", body=valid, refused=False))
        for auth in ("none", "wrong"):
            cases.append(Case(op, f"{auth} credentials", body=valid, auth=auth))
        for kwarg in op.kwargs:
            unknown = str(uuid.UUID(int=1)) if kwarg.endswith("_id") else "nope"
            if kwarg != "slot":
                cases.append(Case(op, f"an unknown {kwarg}", body=valid, kwargs={kwarg: unknown}))
        cases.append(Case(op, "an unknown URL below it", body=valid, suffix="nothing/"))
        listing = issubclass(op.view, _list_view()) and op.method == "get"
        if op.key in QUERIES or listing:
            # Lists are paged; another operation's query (a child job's `wait`) has no page.
            params = {**({"page": "1"} if listing else {}), **QUERIES.get(op.key, {})}
            cases.append(Case(op, "valid query parameters", query=params, refused=False))
            for name in params:
                acceptable = QUERY_ACCEPTABLE.get((op.name, name), set())
                for label, value in QUERY_VALUES.items():
                    query = {name: value}
                    cases.append(Case(op, f"?{name}={label}", query=query, refused=label not in acceptable))
        if example is None:
            continue
        for label, raw in WHOLE_BODIES.items():
            cases.append(Case(op, label, body=raw))
        cases.append(Case(op, "a duplicate key", body=partial(_duplicated, example)))
        cases.append(Case(op, "one byte over its limit", body=partial(_over_limit, op)))
        cases.append(Case(op, "9 MiB", body=_huge))
        for label, content_type in (
            ("form-encoded", "application/x-www-form-urlencoded"),
            ("text/plain", "text/plain"),
            ("no content type", None),
        ):
            cases.append(Case(op, label, body=valid, content_type=content_type))
        for path, value in _leaves(example):
            where = ".".join(map(str, path))
            acceptable = ACCEPTABLE.get((op.name, where), set())
            for label, new in _replacements(value).items():
                body = partial(_mutated, example, path, new)
                cases.append(Case(op, f"{where}={label}", body=body, refused=label not in acceptable))
    for name, view in URLS:
        op = next(o for o in OPERATIONS if o.name == name)
        for method in (*METHODS, "head"):
            if not hasattr(view, method) and not (method == "head" and hasattr(view, "get")):
                cases.append(Case(op, f"{method.upper()}, a method it does not take", method=method))
    return cases


@cache
def _list_view():
    from rest_framework.generics import ListAPIView

    return ListAPIView


def _duplicated(example, world) -> bytes:
    text = _raw(_fill(example, world)).decode()
    key = next(iter(example))
    first = json.dumps(_fill(example, world)[key])
    return text.replace("{", f'{{"{key}": {first}, ', 1).encode()


def _over_limit(op: Operation, world) -> bytes:
    from automation.api.parsers import body_limit

    limit = body_limit(op.view)
    skeleton = _fill(EXAMPLES[op.key], world) | {"padding": ""}
    padding = limit + 1 - len(_raw(skeleton))
    return _raw(skeleton | {"padding": "x" * padding})


CASES = _cases()


def _marks(case: Case):
    if case.id not in XFAIL:
        return ()
    branch, where = XFAIL[case.id]
    if where != ("sqlite" if USE_SQLITE else "postgres") and where != "both":
        return ()
    return (pytest.mark.xfail(strict=True, reason=branch),)


# ---- sending and checking -------------------------------------------------------------------------------------


def _path(case: Case, world: World) -> str:
    kwargs = {k: world.values[k] for k in case.op.kwargs} | EXAMPLE_KWARGS.get(case.op.key, {}) | case.kwargs
    path = reverse(case.op.name, kwargs=kwargs) + case.suffix
    if case.query is not None:
        path += "?" + urlencode(case.query)
    return path


def _secret(case: Case, world: World) -> str | None:
    if case.auth == "none":
        return None
    if case.op.name.startswith("api:"):
        return world.secrets["token"] if case.auth == "valid" else "hrwpat_wrong_0123456789abcdef"
    if case.auth == "wrong":
        return "hrw_wrong_0123456789abcdef"
    return world.secrets["key"] if case.op.name == "agent:register" else world.secrets["credential"]


@cache
def _client() -> APIClient:
    # One for the module: a new client loads the middleware again, and WhiteNoise's scan of the static
    # files would be most of each case's time.
    return APIClient(REMOTE_ADDR="198.51.100.30")


def send(case: Case, world: World):
    client = _client()
    method = (case.method or case.op.method).upper()
    body = case.body(world) if callable(case.body) else case.body
    extra = {}
    secret = _secret(case, world)
    if secret is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    if case.op.name in JOB_SIDE:
        extra["HTTP_X_JOB_LEASE"] = world.lease
    if body is None:
        return client.generic(method, _path(case, world), **extra)
    if case.content_type == "application/x-www-form-urlencoded":
        body = b"name=x&group=lab"
    # None would make the test client leave the body unread; a real client without the header sends "".
    content_type = "" if case.content_type is None else case.content_type
    return client.generic(method, _path(case, world), data=body, content_type=content_type, **extra)


def check(case: Case, response) -> None:
    status = response.status_code
    seen = (status, response.get("Content-Type"), response.content[:300])
    assert status < 500, seen
    if status != 204:
        assert response.get("Content-Type", "").startswith("application/json"), seen
    if case.refused:
        assert 400 <= status < 500, seen
    else:
        assert status < 300 or 400 <= status < 500, seen
    if status >= 400 and (case.method or case.op.method) != "head":
        body = json.loads(response.content)
        assert isinstance(body, dict) and {"code", "detail"} <= body.keys(), seen
        assert isinstance(body["code"], str) and body["code"] and isinstance(body["detail"], str) and body["detail"]
    if case.label in ("the valid example", "valid query parameters"):
        assert 200 <= status < 300, seen
    if case.auth == "valid" and not case.label.startswith("an unknown"):
        # Refused for what was sent, not for who sent it: with valid credentials, validation was reached.
        assert status not in (401, 403), seen


@pytest.fixture
def deferred(world, django_db_blocker):
    """On SQLite, each case's transaction takes the write lock only once it writes (BEGIN DEFERRED, not
    IMMEDIATE): the long-poll claims on threads of its own, which need the lock, while the case writes
    nothing. PostgreSQL has no such lock."""
    if connection.vendor != "sqlite":
        yield
        return
    with django_db_blocker.unblock():
        connection.ensure_connection()
    mode, connection.transaction_mode = connection.transaction_mode, "DEFERRED"
    yield
    connection.transaction_mode = mode


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=_marks(c)) for c in CASES])
def test_every_answer_to_bad_input_is_json_with_a_code_and_a_detail_and_a_4xx(case, world, deferred, db, settings):
    # The long-poll reads the world on threads of its own: it is committed, so they see it.
    settings.LONG_POLL_SECONDS = 1
    check(case, send(case, world))


def test_the_corpus_covers_every_operation_in_the_schema_and_has_what_each_needs(world, django_db_blocker):
    with django_db_blocker.unblock():
        schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    ran = {(c.op.method, c.op.route) for c in CASES} | {(o.method, o.route) for o in OPERATIONS if o.public}
    documented = {(method, path) for path, item in schema["paths"].items() for method in item if method in METHODS}
    assert documented <= ran, documented - ran
    assert {o.name.split(":")[0] for o in OPERATIONS} >= {"agent", "api"}
    for op in OPERATIONS:
        for kwarg in op.kwargs:
            assert kwarg in world.values, f"the corpus needs a value for {{{kwarg}}} ({op})"
        if op.method in ("post", "put", "patch") and not op.public:
            assert op.key in EXAMPLES, f"the corpus needs a valid body for {op} (or None: it takes none)"
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"} - {"page", "format"}
            op = next((o for o in OPERATIONS if (o.method, o.route) == (method, path)), None)
            if op is not None and params:
                assert params <= set(QUERIES.get(op.key, {})), (op, params)
    assert not set(XFAIL) - {c.id for c in CASES}, "an xfail names a case that no longer exists"
    assert not {k for k in ACCEPTABLE if k[0] not in {o.name for o in OPERATIONS}}


def test_the_corpus_unknown_urls_reach_the_json_catch_all(world, db):
    client = APIClient()
    for path in ("/agentsvc/x", "/api/x", f"/api/v1/accounts/{world.values['account_id']}/nothing/"):
        for method in (*METHODS, "head", "options"):
            response = client.generic(method.upper(), path, data=b"{", content_type="application/json")
            assert response.status_code == 404 and response["Content-Type"] == "application/json", (method, path)
