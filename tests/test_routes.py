"""Every route of the portal and both APIs, asked by every kind of caller: one table says what each
one gets, and the requests are sent for real. A route with no row (or a row with no route) fails
`test_every_route_has_a_row`, so a new page or endpoint cannot land without saying who may use it.

Callers: for the portal and the management API, anonymous, a stranger (member of another account
only: account-scoped routes answer 404, never 403, so account ids do not leak), reader, operator
and owner. For the agent API: no key, a wrong key, the account's access key and a worker's own
credential. Each request runs in a savepoint that is rolled back, so every caller finds the same
world, and a caller allowed to act really acts (the owner deletes, the agent registers).
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from automation.agent_package import wheel_filename
from automation.models import Membership
from automation.services import jobs as job_services
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
from automation.services.webhooks import create_webhook
from automation.services.workers import register_worker
from tests.automation.api.assets_support import (
    CERTIFICATE,
    CONNECTION,
    CONNECTION_TYPE,
    CREDENTIAL,
    PLAIN,
    UNUSED_TYPE,
    make_asset_world,
)
from tests.support.assets import MadeCertificate
from tests.support.rows import SERVICE_PRINCIPAL

SYSTEM = Actor.for_system()
USERS = ("anonymous", "stranger", "reader", "operator", "owner")
AGENTS = ("no key", "wrong key", "account key", "worker credential")
# The admin site guards every one of its views the same way (staff only, via `admin_view`): its
# generated per-model routes are one row, asked of its index.
ADMIN = "admin:*"
NO_SUCH_OPERATION = "^(agentsvc|api|webhooks)(/|$)"


def walk(patterns=None, namespace: str = "", prefix: str = "") -> set[str]:
    """The key of every route: "namespace:name", or the full pattern when it has no name."""
    keys = set()
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}".strip(":") if entry.namespace else namespace
            if inner == "admin":
                keys.add(ADMIN)
                continue
            keys |= walk(entry.url_patterns, inner, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            keys.add(f"{namespace}:{entry.name}".strip(":") if entry.name else prefix + str(entry.pattern))
    return keys


# ---- the world every caller finds -----------------------------------------------------------------------


class World:
    """Account "contoso" (people): runbook "hello" published, "idle" never run; group "lab" with worker web-01 holding
    a claimed job, a queued Test pane run of "hello"; empty group "dmz"; a notification; an API
    token for each person; the owner's portal token; the shared resources of make_asset_world; variable "Region",
    credential "Admin", connection "Principal" (of the built-in AzureServicePrincipal), certificate "WebCert",
    the unused connection type "Unused", a child job of the claimed one (for the job-side agent routes and
    the portal's blades), schedule "Nightly" with "hello" linked to it and schedule "Spare". The stranger owns
    "fabrikam" only."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        runbook = create_runbook(
            account=people.account, name="hello", runbook_type="bash", content="echo hi", actor=SYSTEM
        )
        publish_runbook(runbook=runbook, actor=SYSTEM)
        self.runbook = runbook
        self.idle_runbook = create_runbook(
            account=people.account, name="idle", runbook_type="bash", content="echo", actor=SYSTEM
        )
        registration = register_worker(
            account=people.account, group_name="lab", machine_id="machine-0001", name="web-01", facts={"capacity": 4}
        )
        self.worker, self.credential = registration.worker, registration.credential
        self.group = self.worker.group
        self.empty_group = create_group(account=people.account, name="dmz", actor=SYSTEM)
        owner = Actor(user=people.owner)
        self.job = job_services.start_job(account=self.account, runbook_name="hello", group_name="lab", actor=owner)
        (claimed,) = job_services.claim_jobs(worker=self.worker)
        assert claimed.pk == self.job.pk
        self.lease = str(claimed.lease_id)
        self.test_job = job_services.start_test(runbook=runbook, group_name="lab", actor=owner)
        self.notification = create_notification(account=self.account, title="Something happened")
        self.key = reveal_keys(account=self.account, actor=SYSTEM)["primary"]
        self.tokens = {
            role: create_token(user=user, name="routes", expires_days=None, actor=SYSTEM).plain
            for role, user in people.by_role.items()
        }
        self.portal_token = create_token(user=people.owner, name="portal", expires_days=None, actor=SYSTEM).token
        self.membership = Membership.objects.get(account=self.account, user=people.reader)
        self.assets = make_asset_world(people)
        account = self.account
        self.variable = create_variable(account=account, name="Region", value="westeurope", actor=SYSTEM)
        self.credential_asset = create_credential(
            account=account, name="Admin", username="svc", password="Routes-Pa55", actor=SYSTEM
        )
        self.connection = create_connection(
            account=account,
            name="Principal",
            connection_type="AzureServicePrincipal",
            values=SERVICE_PRINCIPAL,
            actor=SYSTEM,
        )
        self.certificate = create_certificate(
            account=account, name="WebCert", content=MADE_CERTIFICATE.der, exportable=True, actor=SYSTEM
        )
        self.connection_type = create_connection_type(
            account=account, name="Unused", fields=[{"name": "Host", "type": "string"}], actor=SYSTEM
        )
        self.child = job_services.start_child_job(parent=claimed, runbook_name="hello", worker=self.worker)
        issued = create_webhook(runbook=runbook, actor=SYSTEM, name="Monitor", run_on="lab")
        self.webhook = issued.webhook
        self.webhook_path = issued.uri.removeprefix(settings.PORTAL_BASE_URL)
        self.schedule = create_schedule(
            account=account, name="Nightly", start_time="2030-01-01T02:30:00+01:00", frequency="Day", actor=SYSTEM
        )
        create_schedule(
            account=account, name="Spare", start_time="2030-01-01T00:00:00Z", frequency="Week", actor=SYSTEM
        )
        self.link = link_schedule(
            account=account, runbook_name="hello", schedule_name="Nightly", run_on="lab", actor=SYSTEM
        )

    def kwargs(self, route: str) -> dict[str, Any]:
        values = {
            "account_id": self.account.pk,
            "membership_id": self.membership.pk,
            "token_id": self.portal_token.pk,
            "slot": "secondary",
            "group_id": self.group.pk,
            "group_name": self.group.name,
            "worker_id": self.worker.pk,
            "runbook_id": self.runbook.pk,
            "runbook_name": self.runbook.name,
            "job_id": self.test_job.pk if route.startswith("portal:runbook_test_") else self.job.pk,
            "notification_id": self.notification.pk,
            "filename": wheel_filename(),
            "variable_name": PLAIN,
            "credential_name": CREDENTIAL,
            "certificate_name": CERTIFICATE,
            "connection_type_name": CONNECTION_TYPE,
            "connection_name": CONNECTION,
            "name": "Region",
            "child_id": self.child.pk,
            "variable_id": self.variable.pk,
            "credential_id": self.credential_asset.pk,
            "certificate_id": self.certificate.pk,
            "connection_id": self.connection.pk,
            "connection_type_id": self.connection_type.pk,
            "webhook_id": self.webhook.pk,
            "schedule_name": self.schedule.name,
            "schedule_id": self.schedule.pk,
            "link_id": self.link.pk,
        }
        return {name: values[name] for name in _parameters(route)}


def _parameters(route: str) -> list[str]:
    """The names in a named route's path, as its own resolver knows them."""
    resolver = get_resolver()
    namespace, _, name = route.rpartition(":")
    for part in namespace.split(":") if namespace else []:
        resolver = resolver.namespace_dict[part][1]
    possibilities = resolver.reverse_dict.getlist(name)[0][0]
    return list(possibilities[0][1])


# ---- the table ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    method: str
    expect: dict[str, int | tuple[int, ...]]  # a tuple: any of these
    body: Any = None
    path: Callable[[World], str] | None = None  # when the route cannot be reversed as is
    kwargs: Callable[[World], dict] | None = None  # overrides of World.kwargs
    headers: Callable[[World], dict] | None = None  # request headers beyond the caller's credentials


def who(anonymous, stranger, reader, operator, owner) -> dict[str, int]:
    return dict(zip(USERS, (anonymous, stranger, reader, operator, owner), strict=True))


def agent(no_key, wrong_key, account_key, worker_credential) -> dict[str, int]:
    return dict(zip(AGENTS, (no_key, wrong_key, account_key, worker_credential), strict=True))


SIGNED_IN = who(302, 200, 200, 200, 200)
PAGE = who(302, 404, 200, 200, 200)
OPERATOR_DIALOG = who(302, 404, 403, 200, 200)
OWNER_DIALOG = who(302, 404, 403, 403, 200)
PUBLIC = {"anonymous": 200, "reader": 200}
API_READ = who(401, 404, 200, 200, 200)
API_EVERYONE = who(401, 200, 200, 200, 200)
API_CREATE = who(401, 404, 403, 201, 201)
API_CHANGE = who(401, 404, 403, 200, 200)
API_DELETE = who(401, 404, 403, 204, 204)
ON_THE_EMPTY_GROUP = {"group_id": lambda w: w.empty_group.pk}
MADE_CERTIFICATE = MadeCertificate()
OPERATOR_POST = who(302, 404, 403, 302, 302)
LATER = {"expiry_time": "2099-01-01T00:00"}  # a webhook's expiry, as the portal's datetime-local input sends it
SCHEDULE_FORM = {
    "name": "new",
    "start_date": "2031-01-01",
    "start_clock": "02:30",
    "time_zone": "UTC",
    "recurrence": "once",
    "enabled": "yes",
}
# Schedule "Nightly" as the World makes it: every day from 2030-01-01 01:30 UTC.
NIGHTLY_FORM = {
    "start_date": "2030-01-01",
    "start_clock": "01:30:00",
    "time_zone": "UTC",
    "recurrence": "recurring",
    "interval": "1",
    "unit": "Day",
    "expires": "never",
}


def certificate_upload(world) -> dict:
    """A new .cer for each request: an uploaded file is read by the request that sends it."""
    upload = SimpleUploadedFile("new.cer", MADE_CERTIFICATE.der, content_type="application/pkix-cert")
    return {"name": "new", "description": "", "content": upload, "password": "", "exportable": "no"}


def with_lease(w: World) -> dict[str, str]:
    return {"HTTP_X_JOB_LEASE": w.lease}


def named(name: str) -> dict[str, Callable[[World], str]]:
    return {"name": lambda w: name}


def account_path(rest: str) -> Callable[[World], str]:
    return lambda w: f"/api/v1/accounts/{w.account.pk}/{rest}"


ROUTES: dict[str, list[Row]] = {
    # -- public ---------------------------------------------------------------------------------------
    # It reports the servers' health (503 while no Celery worker answers), to anybody.
    "healthz": [Row("get", {"anonymous": (200, 503), "reader": (200, 503)})],
    "favicon": [Row("get", PUBLIC)],
    "schema": [Row("get", PUBLIC)],
    "api-docs": [Row("get", PUBLIC)],
    # Anyone with its URL (the token is the credential); anybody else gets one 400 whoever they are.
    "webhook-call": [
        Row("post", {"anonymous": 202, "reader": 202}, path=lambda w: w.webhook_path),
        Row("post", {"anonymous": 400, "owner": 400}, path=lambda w: w.webhook_path.replace("token=", "token=x")),
    ],
    "login": [Row("get", {"anonymous": 200, "reader": 302})],
    "logout": [Row("post", {"anonymous": 302, "reader": 302})],
    NO_SUCH_OPERATION: [
        Row("get", {"anonymous": 404, "reader": 404}, path=lambda w: "/api/nothing-here"),
        Row("post", agent(404, 404, 404, 404), path=lambda w: "/agentsvc/nothing-here"),
    ],
    ADMIN: [Row("get", {"anonymous": 302, "owner": 302, "staff": 200}, path=lambda w: reverse("admin:index"))],
    # -- portal: signed in, no account ------------------------------------------------------------------
    "portal:home": [Row("get", SIGNED_IN)],
    # Only support staff create accounts.
    "portal:create_account": [
        Row("get", who(302, 403, 403, 403, 403) | {"staff": 200}),
        Row("post", who(302, 403, 403, 403, 403) | {"staff": 302}, {"name": "new-one", "owner": "sam"}),
    ],
    "portal:profile": [Row("get", SIGNED_IN)],
    "portal:token_new": [Row("get", SIGNED_IN), Row("post", SIGNED_IN, {"name": "ci", "expires_days": "30"})],
    # A token is its owner's alone: anybody else is told there is no such token.
    "portal:token_revoke": [Row("get", who(302, 404, 404, 404, 200)), Row("post", who(302, 404, 404, 404, 302))],
    "portal:notifications": [Row("get", SIGNED_IN)],
    "portal:notifications_bell": [Row("get", SIGNED_IN)],
    "portal:notifications_read": [Row("post", who(302, 302, 302, 302, 302))],
    "portal:notifications_dismiss": [Row("post", who(302, 302, 302, 302, 302))],
    # -- portal: an account's blades -------------------------------------------------------------------
    "portal:overview": [Row("get", PAGE)],
    "portal:activity": [Row("get", PAGE)],
    "portal:access": [Row("get", PAGE)],
    "portal:access_add": [
        Row("get", OWNER_DIALOG),
        Row("post", who(302, 404, 403, 403, 302), {"username": "sam", "role": "reader"}),
    ],
    "portal:access_role": [Row("post", who(302, 404, 403, 403, 302), {"role": "operator"})],
    "portal:access_remove": [Row("get", OWNER_DIALOG), Row("post", who(302, 404, 403, 403, 302))],
    "portal:keys": [Row("get", PAGE)],
    "portal:keys_reveal": [Row("post", who(302, 404, 403, 403, 200))],
    "portal:keys_regenerate": [Row("get", OWNER_DIALOG), Row("post", who(302, 404, 403, 403, 302))],
    "portal:groups": [Row("get", PAGE)],
    "portal:group_add": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 302, 302), {"name": "new"})],
    "portal:group": [Row("get", PAGE)],
    "portal:group_delete": [
        Row("get", OPERATOR_DIALOG, kwargs=ON_THE_EMPTY_GROUP),
        Row("post", who(302, 404, 403, 302, 302), kwargs=ON_THE_EMPTY_GROUP),
    ],
    "portal:group_add_worker": [Row("get", OPERATOR_DIALOG)],
    "portal:group_run_as": [
        Row("get", OPERATOR_DIALOG),
        Row("post", OPERATOR_POST, {"run_as": "custom", "run_as_credential": "Admin"}),
    ],
    "portal:group_workers": [Row("get", PAGE)],
    "portal:worker": [Row("get", PAGE)],
    "portal:worker_remove": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 302, 302))],
    "portal:runbooks": [Row("get", PAGE)],
    "portal:runbook_create": [
        Row("get", OPERATOR_DIALOG),
        Row("post", who(302, 404, 403, 302, 302), {"name": "new", "runbook_type": "bash"}),
    ],
    "portal:runbook": [Row("get", PAGE), Row("post", who(302, 404, 403, 302, 302), {"content": "echo changed"})],
    "portal:runbook_publish": [Row("post", who(302, 404, 403, 302, 302))],
    "portal:runbook_delete": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 302, 302))],
    "portal:runbook_start": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 302, 302), {"run_on": "lab"})],
    "portal:runbook_test": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 302, 302), {"run_on": "lab"})],
    "portal:runbook_test_output": [Row("get", OPERATOR_DIALOG)],
    "portal:runbook_test_stop": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 302, 302))],
    # Create, Rotate and Require signed calls answer with the URL or secret, shown once (200), not a redirect.
    "portal:webhook_add": [
        Row("get", OPERATOR_DIALOG),
        Row("post", who(302, 404, 403, 200, 200), {"name": "new", "enabled": "on", "run_on": "lab"} | LATER),
    ],
    "portal:webhook": [Row("get", PAGE), Row("post", OPERATOR_POST, {"enabled": "on", "run_on": "lab"})],
    "portal:webhook_extend": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST, LATER)],
    "portal:webhook_rotate": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 200, 200))],
    "portal:webhook_signing": [
        Row("get", OPERATOR_DIALOG),
        Row("post", who(302, 404, 403, 200, 200), {"signing": "on"}),
    ],
    "portal:webhook_delete": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:jobs": [Row("get", PAGE)],
    "portal:job": [Row("get", PAGE)],
    "portal:job_streams": [Row("get", PAGE)],
    "portal:job_stop": [Row("get", OPERATOR_DIALOG), Row("post", who(302, 404, 403, 302, 302))],
    "portal:variables": [Row("get", PAGE)],
    "portal:variable_add": [
        Row("get", OPERATOR_DIALOG),
        Row("post", OPERATOR_POST, {"name": "new", "type": "integer", "value_integer": "1", "encrypted": "no"}),
    ],
    "portal:variable": [
        Row("get", PAGE),
        Row("post", OPERATOR_POST, {"description": "", "type": "string", "value_string": "eastus"}),
    ],
    "portal:variable_encrypt": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:variable_delete": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:credentials": [Row("get", PAGE)],
    "portal:credential_add": [
        Row("get", OPERATOR_DIALOG),
        Row(
            "post",
            OPERATOR_POST,
            {"name": "new", "username": "u", "password": "p", "confirm_password": "p", "description": ""},
        ),
    ],
    "portal:credential": [Row("get", PAGE), Row("post", OPERATOR_POST, {"username": "other", "description": ""})],
    "portal:credential_delete": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:certificates": [Row("get", PAGE)],
    "portal:certificate_add": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST, certificate_upload)],
    "portal:certificate": [Row("get", PAGE), Row("post", OPERATOR_POST, {"description": "", "exportable": "yes"})],
    "portal:certificate_delete": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:connections": [Row("get", PAGE)],
    "portal:connection_add": [
        Row("get", OPERATOR_DIALOG),
        Row(
            "post",
            OPERATOR_POST,
            {"name": "new", "connection_type": "AzureServicePrincipal"}
            | {f"field_{name}": value for name, value in SERVICE_PRINCIPAL.items()},
        ),
    ],
    "portal:connection": [
        Row("get", PAGE),
        Row("post", OPERATOR_POST, {f"field_{name}": "changed" for name in SERVICE_PRINCIPAL}),
    ],
    "portal:connection_delete": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:connection_types": [Row("get", PAGE)],
    "portal:connection_type_add": [
        Row("get", OPERATOR_DIALOG),
        Row("post", OPERATOR_POST, {"name": "new", "field_name_0": "Url", "field_type_0": "string"}),
    ],
    "portal:connection_type_delete": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:schedules": [Row("get", PAGE)],
    "portal:schedule_add": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST, SCHEDULE_FORM)],
    # A preview writes nothing: any member may ask (only Operators and Owners have a form to ask from).
    "portal:schedule_preview": [Row("post", who(302, 404, 200, 200, 200), SCHEDULE_FORM)],
    "portal:schedule": [Row("get", PAGE), Row("post", OPERATOR_POST, {**NIGHTLY_FORM, "description": "changed"})],
    "portal:schedule_enable": [Row("post", OPERATOR_POST, {"enabled": "no"})],
    "portal:schedule_delete": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    "portal:schedule_link": [Row("get", OPERATOR_DIALOG)],
    "portal:runbook_schedules": [Row("get", PAGE)],
    "portal:runbook_schedule_link": [
        Row("get", OPERATOR_DIALOG),
        Row("post", OPERATOR_POST, {"schedule": "Spare", "run_on": "lab", "overlap": "allow"}),
    ],
    "portal:runbook_schedule_unlink": [Row("get", OPERATOR_DIALOG), Row("post", OPERATOR_POST)],
    # -- management API (API tokens) -------------------------------------------------------------------
    "api:account-list": [Row("get", API_EVERYONE)],
    "api:account-detail": [Row("get", API_READ)],
    "api:group-list": [Row("get", API_READ), Row("post", who(401, 404, 403, 201, 201), {"name": "new"})],
    "api:group-detail": [
        Row("get", API_READ),
        Row("patch", who(401, 404, 403, 200, 200), {"run_as_credential": "Admin"}),
        Row("delete", who(401, 404, 403, 202, 202), kwargs={"group_name": lambda w: w.empty_group.name}),
    ],
    "api:group-workers": [Row("get", API_READ)],
    "api:worker-detail": [Row("get", API_READ), Row("delete", who(401, 404, 403, 204, 204))],
    "api:key-regenerate": [Row("post", who(401, 404, 403, 403, 200))],
    "api:runbook-list": [
        Row("get", API_READ),
        Row("post", who(401, 404, 403, 201, 201), {"name": "new", "runbook_type": "bash", "content": "echo"}),
    ],
    "api:runbook-detail": [
        Row("get", API_READ),
        Row("patch", who(401, 404, 403, 200, 200), {"content": "echo changed"}),
        Row("delete", who(401, 404, 403, 204, 204), kwargs={"runbook_name": lambda w: w.idle_runbook.name}),
    ],
    "api:runbook-publish": [Row("post", who(401, 404, 403, 200, 200))],
    "api:runbook-versions": [Row("get", API_READ)],
    "api:webhook-list": [
        Row("get", API_READ),
        Row("post", API_CREATE, {"name": "new", "run_on": "lab"}),
    ],
    "api:webhook-detail": [
        Row("get", API_READ),
        Row("patch", API_CHANGE, {"enabled": False}),
        Row("delete", API_DELETE),
    ],
    "api:webhook-rotate": [Row("post", API_CHANGE)],
    "api:webhook-extend": [Row("post", API_CHANGE, {"expiry_time": "2099-01-01T00:00:00Z"})],
    "api:webhook-signing": [Row("post", API_CHANGE), Row("delete", API_CHANGE)],
    "api:job-list": [
        Row("get", API_READ),
        Row("post", who(401, 404, 403, 201, 201), {"runbook": "hello", "run_on": "lab"}),
    ],
    "api:job-detail": [Row("get", API_READ)],
    "api:job-stop": [Row("post", who(401, 404, 403, 200, 200))],
    "api:job-streams": [Row("get", API_READ)],
    "api:schedule-list": [
        Row("get", API_READ),
        Row("post", API_CREATE, {"name": "new", "start_time": "2030-01-01T00:00:00Z", "frequency": "Hour"}),
    ],
    "api:schedule-detail": [
        Row("get", API_READ),
        Row("patch", API_CHANGE, {"enabled": False}),
        Row("delete", API_DELETE),
    ],
    "api:schedule-next-runs": [Row("get", API_READ)],
    "api:runbook-schedules": [
        Row("get", API_READ),
        Row("post", API_CREATE, {"schedule": "Spare", "run_on": "lab"}),
    ],
    "api:runbook-schedule-detail": [Row("delete", API_DELETE)],
    "api:variable-list": [Row("get", API_READ), Row("post", API_CREATE, {"name": "new", "value": 1})],
    "api:variable-detail": [
        Row("get", API_READ),
        Row("patch", API_CHANGE, {"encrypted": True}),
        Row("delete", API_DELETE),
    ],
    "api:credential-list": [
        Row("get", API_READ),
        Row("post", API_CREATE, {"name": "new", "username": "u", "password": "p"}),
    ],
    "api:credential-detail": [
        Row("get", API_READ),
        Row("patch", API_CHANGE, {"password": "changed"}),
        Row("delete", API_DELETE),
    ],
    "api:certificate-list": [
        Row("get", API_READ),
        Row(
            "post",
            API_CREATE,
            lambda w: {"name": "new", "content_base64": base64.b64encode(w.assets.made.der).decode()},
        ),
    ],
    "api:certificate-detail": [
        Row("get", API_READ),
        Row("patch", API_CHANGE, {"exportable": False}),
        Row("delete", API_DELETE),
    ],
    "api:connection-type-list": [
        Row("get", API_READ),
        Row("post", API_CREATE, {"name": "new", "fields": [{"name": "host"}]}),
    ],
    # No PATCH: a type is deleted and made again, as in Azure.
    "api:connection-type-detail": [
        Row("get", API_READ),
        Row("patch", {"anonymous": 401, "reader": 405, "owner": 405}, {"fields": [{"name": "host"}]}),
        Row("delete", API_DELETE, kwargs={"connection_type_name": lambda w: UNUSED_TYPE}),
    ],
    "api:connection-list": [
        Row("get", API_READ),
        Row(
            "post",
            API_CREATE,
            {
                "name": "new",
                "connection_type": "Azure",
                "values": {"AutomationCertificateName": "c", "SubscriptionID": "s"},
            },
        ),
    ],
    "api:connection-detail": [
        Row("get", API_READ),
        Row("patch", API_CHANGE, {"values": {"port": 8443}}),
        Row("delete", API_DELETE),
    ],
    "api:notification-list": [Row("get", API_EVERYONE)],
    "api:notification-detail": [Row("get", API_READ)],
    # -- agent API ------------------------------------------------------------------------------------
    "agent:install": [Row("get", {"anonymous": 200})],
    "agent:wheel": [Row("get", {"anonymous": 200})],
    "agent:register": [
        Row("post", agent(401, 401, 201, 401), {"group": "lab", "machine_id": "machine-0002", "name": "web-02"})
    ],
    "agent:heartbeat": [Row("post", agent(401, 401, 401, 200), {})],
    "agent:leave": [Row("post", agent(401, 401, 401, 200), {})],
    "agent:deregister": [Row("post", agent(401, 401, 200, 200), {"machine_id": "machine-0001"})],
    "agent:jobs-next": [Row("post", agent(401, 401, 401, 200), {"wait": 0})],
    "agent:job-records": [
        Row("post", agent(401, 401, 401, 200), lambda w: {"lease": w.lease, "records": []}),
    ],
    "agent:job-finish": [
        Row("post", agent(401, 401, 401, 200), lambda w: {"lease": w.lease, "status": "Completed"}),
    ],
    "agent:job-variable": [
        Row("get", agent(401, 401, 401, 200), headers=with_lease),
        Row("put", agent(401, 401, 401, 200), {"value": "northeurope"}, headers=with_lease),
    ],
    "agent:job-credential": [Row("get", agent(401, 401, 401, 200), headers=with_lease, kwargs=named("Admin"))],
    "agent:job-connection": [Row("get", agent(401, 401, 401, 200), headers=with_lease, kwargs=named("Principal"))],
    "agent:job-certificate": [Row("get", agent(401, 401, 401, 200), headers=with_lease, kwargs=named("WebCert"))],
    "agent:job-children": [Row("post", agent(401, 401, 401, 201), {"runbook": "hello"}, headers=with_lease)],
    "agent:job-child": [Row("get", agent(401, 401, 401, 200), headers=with_lease)],
}
# The long-poll and the wait on a child read the database from a thread of their own: they see only what is committed.
COMMITTED = {"agent:jobs-next", "agent:job-child"}


# ---- callers --------------------------------------------------------------------------------------------


def caller(world: World, route: str, role: str, staff) -> Client:
    if role in AGENTS:
        client = APIClient(REMOTE_ADDR="198.51.100.10")
        token = {
            "no key": None,
            "wrong key": "this-is-not-a-key-" + "x" * 30,
            "account key": world.key,
            "worker credential": world.credential,
        }[role]
        if token is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client
    if route.startswith("api:"):
        client = APIClient(REMOTE_ADDR="198.51.100.20")
        if role != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[role]}")
        return client
    client = Client()
    if role == "staff":
        client.force_login(staff)
    elif role != "anonymous":
        client.force_login(world.people.by_role[role])
    return client


def url_of(world: World, route: str, row: Row) -> str:
    if row.path is not None:
        return row.path(world)
    kwargs = world.kwargs(route)
    for name, value in (row.kwargs or {}).items():
        kwargs[name] = value(world)
    return reverse(route, kwargs=kwargs)


def send(world: World, route: str, row: Row, role: str, staff):
    client = caller(world, route, role, staff)
    body = row.body(world) if callable(row.body) else row.body
    url = url_of(world, route, row)
    extra = row.headers(world) if row.headers is not None else {}
    if isinstance(client, APIClient):
        return getattr(client, row.method)(url, body, format="json" if body is not None else None, **extra)
    return getattr(client, row.method)(url, body or {})


def answers(world: World, route: str, staff, *, rollback: bool) -> dict[str, dict[str, int]]:
    got = {}
    for row in ROUTES[route]:
        got[row.method] = {}
        for role in row.expect:
            cache.clear()  # failed-authentication counters and lockouts: every caller starts with none
            if rollback:
                with transaction.atomic():
                    response = send(world, route, row, role, staff)
                    transaction.set_rollback(True)
            else:
                response = send(world, route, row, role, staff)
            allowed = row.expect[role]
            ok = isinstance(allowed, tuple) and response.status_code in allowed
            got[row.method][role] = allowed if ok else response.status_code
            if role == "anonymous" and response.status_code == 302 and not route.startswith("agent:"):
                assert response["Location"].startswith(("/login/", "/admin/login/")), response["Location"]
    return got


def expected(route: str) -> dict[str, dict[str, int]]:
    return {row.method: dict(row.expect) for row in ROUTES[route]}


@pytest.fixture
def world(people):
    return World(people)


@pytest.fixture
def staff(make_user):
    return make_user("support", staff=True)


# ---- the tests ------------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_every_route_has_a_row():
    routes = walk()
    missing = sorted(routes - ROUTES.keys())
    unknown = sorted(ROUTES.keys() - routes)
    assert (missing, unknown) == ([], []), (
        f"routes with no row (say who may use them): {missing}; rows for no route: {unknown}"
    )


@pytest.mark.sqlite
def test_a_stranger_gets_404_on_every_account_route():
    """Not 403: a stranger cannot tell an account they may not see from one that does not exist."""
    for route, rows in ROUTES.items():
        for row in rows:
            if "stranger" in row.expect and "account_id" in _route_parameters(route):
                assert row.expect["stranger"] == 404, (route, row.method)


def _route_parameters(route: str) -> list[str]:
    return [] if route in (ADMIN, NO_SUCH_OPERATION) else _parameters(route)


@pytest.mark.sqlite
@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(ROUTES.keys() - COMMITTED))
def test_each_caller_gets_what_the_table_says(world, staff, route):
    got = answers(world, route, staff, rollback=True)
    assert got == expected(route), f"{route} answered {got}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", sorted(COMMITTED))
def test_each_caller_of_the_long_poll_gets_what_the_table_says(world, staff, route):
    got = answers(world, route, staff, rollback=False)
    assert got == expected(route), f"{route} answered {got}"
