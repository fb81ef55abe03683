"""Every read of the management API costs the same number of queries with 3 of everything as with
30: lists are read in bulk, never one query per row they hold."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from automation.services.actor import Actor
from automation.services.notifications import create_notification
from automation.services.schedules import create_schedule, link_schedule
from automation.services.tokens import create_token
from automation.services.webhooks import create_webhook
from tests.automation.api.assets_support import CONNECTION_TYPE, make_asset_world
from tests.support.assets import MadeCertificate
from tests.support.rows import GrowingWorld
from tests.test_routes import ROUTES

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

FEW, MANY = 3, 30


def _account(w):
    return {"account_id": w.account.pk}


# route → (its path's values, how many rows its list holds once the world holds `n`, or None for one object).
READS = {
    "api:account-list": (lambda w: {}, lambda n: n + 1),
    "api:account-detail": (_account, None),
    "api:group-list": (_account, lambda n: n + 2),
    "api:group-detail": (lambda w: _account(w) | {"group_name": "lab"}, None),
    "api:group-workers": (lambda w: _account(w) | {"group_name": "lab"}, lambda n: n + 1),
    "api:worker-detail": (lambda w: _account(w) | {"worker_id": w.worker.pk}, None),
    "api:runbook-list": (_account, lambda n: n + 1),
    "api:runbook-detail": (lambda w: _account(w) | {"runbook_name": "hello"}, None),
    "api:runbook-versions": (lambda w: _account(w) | {"runbook_name": "hello"}, lambda n: n + 1),
    # Test pane runs are kept out of the Jobs list.
    "api:job-list": (_account, lambda n: n + 1),
    "api:job-detail": (lambda w: _account(w) | {"job_id": w.job.pk}, None),
    "api:job-streams": (lambda w: _account(w) | {"job_id": w.job.pk}, lambda n: n),
    # Shared resources: the asset world's own (two variables, two types and Azure's two built-in ones), the
    # growing world's first one of each kind (and its unused type), and n more of each kind.
    "api:variable-list": (_account, lambda n: n + 3),
    "api:variable-detail": (lambda w: _account(w) | {"variable_name": "var-00"}, None),
    "api:credential-list": (_account, lambda n: n + 2),
    "api:credential-detail": (lambda w: _account(w) | {"credential_name": "cred-00"}, None),
    "api:certificate-list": (_account, lambda n: n + 2),
    "api:certificate-detail": (lambda w: _account(w) | {"certificate_name": "cert-00"}, None),
    "api:connection-type-list": (_account, lambda n: n + 5),
    "api:connection-type-detail": (lambda w: _account(w) | {"connection_type_name": CONNECTION_TYPE}, None),
    "api:connection-list": (_account, lambda n: n + 2),
    "api:connection-detail": (lambda w: _account(w) | {"connection_name": "conn-00"}, None),
    "api:schedule-list": (_account, lambda n: n),
    "api:schedule-detail": (lambda w: _account(w) | {"schedule_name": "sch-00"}, None),
    "api:schedule-next-runs": (lambda w: _account(w) | {"schedule_name": "sch-00"}, None),
    "api:runbook-schedules": (lambda w: _account(w) | {"runbook_name": "hello"}, lambda n: n),
    "api:webhook-list": (lambda w: _account(w) | {"runbook_name": "hello"}, lambda n: n + 1),
    "api:webhook-detail": (lambda w: _account(w) | {"runbook_name": "hello", "webhook_id": w.webhooks[0].pk}, None),
    "api:notification-list": (lambda w: {}, lambda n: n + 1),
    "api:notification-detail": (lambda w: {"notification_id": w.notification.pk}, None),
}


class WorldWithAssets(GrowingWorld):
    """GrowingWorld (which adds one of each shared resource per row), and the asset world's resources besides:
    an encrypted variable, a connection type with an encrypted field and a connection of it."""

    def __init__(self, people):
        super().__init__(people)
        self.made = MadeCertificate()
        make_asset_world(people, self.made)
        self.webhooks = [
            create_webhook(runbook=self.runbook, actor=Actor.for_system(), name="first", run_on="lab").webhook
        ]

    def _add(self, i: int) -> None:
        super()._add(i)
        # A schedule per row, each with "hello" on it.
        name, system = f"sch-{i:02}", Actor.for_system()
        create_schedule(
            account=self.account, name=name, start_time="2030-01-01T00:00:00Z", frequency="Day", actor=system
        )
        link_schedule(account=self.account, runbook_name="hello", schedule_name=name, run_on="lab", actor=system)
        # And a webhook per row on "hello", half of them signed (their secret is sealed: no query per row to show it).
        hook = create_webhook(runbook=self.runbook, actor=system, name=f"hook-{i:02}", run_on="lab", signed=i % 2 == 0)
        self.webhooks.append(hook.webhook)


@pytest.fixture
def world(people):
    world = WorldWithAssets(people)
    world.notification = create_notification(account=world.account, title="Something happened")
    return world


def test_every_read_of_the_api_is_measured():
    reads = {
        route for route, rows in ROUTES.items() if route.startswith("api:") and any(row.method == "get" for row in rows)
    }
    assert sorted(reads - READS.keys()) == [], "API reads with no query count"
    assert sorted(READS.keys() - reads) == [], "measured routes that are no API read"


def test_every_read_costs_the_same_queries_for_3_or_30_of_everything(world):
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    token = create_token(user=world.people.owner, name="counts", expires_days=None, actor=Actor.for_system()).plain
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    urls = {route: reverse(route, kwargs=path(world)) for route, (path, _) in READS.items()}

    def measure(n: int) -> dict[str, list[str]]:
        world.grow(n)
        client.get(urls["api:account-list"])  # warm up: the token's last use, content types
        counted = {}
        for route, url in urls.items():
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200, (route, response.status_code, response.content)
            rows = READS[route][1]
            if rows is not None:
                body = response.json()
                assert body["count"] == len(body["results"]) == rows(n), (route, body["count"], rows(n))
            counted[route] = [q["sql"] for q in queries.captured_queries]
        return counted

    few = measure(FEW)
    many = measure(MANY)

    grew = {route: (len(few[route]), len(many[route])) for route in READS if len(few[route]) != len(many[route])}
    assert not grew, f"reads whose queries grow with their rows (3 → 30): {grew}\n" + "\n".join(
        sql for route in grew for sql in many[route]
    )
