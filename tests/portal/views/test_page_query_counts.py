"""Every page of the portal costs the same number of queries with 3 of everything as with 30: the
reads a page needs are done in bulk, never one query per row shown."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automation.services.schedule_firing import fire_due_schedules
from automation.services.schedules import create_schedule, link_schedule
from automation.services.webhooks import BadSignature, call_webhook, create_webhook
from tests.support.builders import SYSTEM
from tests.support.rows import GrowingWorld
from tests.test_routes import ROUTES

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

FEW, MANY = 3, 30

# route → (its path's values, what the page shows once it holds `n` rows, or None for a page of counts).
PAGES = {
    "portal:home": (lambda w: {}, lambda n: f"acct-{n - 1:02}"),
    "portal:profile": (lambda w: {}, lambda n: f"t-{n - 1:02}"),
    "portal:token_new": (lambda w: {}, None),
    "portal:token_revoke": (lambda w: {"token_id": w.people.owner.api_tokens.earliest("pk").pk}, None),
    "portal:notifications": (lambda w: {}, lambda n: f"note-{n - 1:02}"),
    "portal:notifications_bell": (lambda w: {}, None),
    "portal:overview": (lambda w: {"account_id": w.account.pk}, None),
    "portal:activity": (lambda w: {"account_id": w.account.pk}, None),
    "portal:access": (lambda w: {"account_id": w.account.pk}, lambda n: f"m-{n - 1:02}"),
    "portal:access_add": (lambda w: {"account_id": w.account.pk}, None),
    "portal:access_remove": (
        lambda w: {"account_id": w.account.pk, "membership_id": w.people.reader.memberships.get().pk},
        None,
    ),
    "portal:keys": (lambda w: {"account_id": w.account.pk}, None),
    "portal:keys_regenerate": (lambda w: {"account_id": w.account.pk, "slot": "secondary"}, None),
    "portal:groups": (lambda w: {"account_id": w.account.pk}, lambda n: f"g-{n - 1:02}"),
    "portal:group_add": (lambda w: {"account_id": w.account.pk}, None),
    "portal:group": (lambda w: {"account_id": w.account.pk, "group_id": w.group.pk}, None),
    "portal:group_delete": (lambda w: {"account_id": w.account.pk, "group_id": w.empty_group.pk}, None),
    "portal:group_add_worker": (lambda w: {"account_id": w.account.pk, "group_id": w.group.pk}, None),
    # The credentials to choose from.
    "portal:group_run_as": (
        lambda w: {"account_id": w.account.pk, "group_id": w.group.pk},
        lambda n: f"cred-{n - 1:02}",
    ),
    "portal:group_workers": (
        lambda w: {"account_id": w.account.pk, "group_id": w.group.pk},
        lambda n: f"w-{n - 1:02}",
    ),
    "portal:worker": (lambda w: {"account_id": w.account.pk, "worker_id": w.worker.pk}, None),
    "portal:worker_remove": (lambda w: {"account_id": w.account.pk, "worker_id": w.worker.pk}, None),
    "portal:runbooks": (lambda w: {"account_id": w.account.pk}, lambda n: f"rb-{n - 1:02}"),
    "portal:runbook_create": (lambda w: {"account_id": w.account.pk}, None),
    # Its Webhooks section, with each one's last call.
    "portal:runbook": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk},
        lambda n: f"hook-{n - 1:02}",
    ),
    "portal:runbook_delete": (lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk}, None),
    "portal:runbook_start": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk},
        lambda n: f"g-{n - 1:02}",
    ),
    "portal:runbook_test": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk},
        lambda n: f"test-line-{n - 1:02}",
    ),
    "portal:runbook_test_output": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk, "job_id": w.test_job.pk},
        lambda n: f"test-line-{n - 1:02}",
    ),
    "portal:runbook_test_stop": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk, "job_id": w.test_job.pk},
        None,
    ),
    "portal:webhook_add": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk},
        lambda n: f"g-{n - 1:02}",
    ),
    "portal:webhook": (lambda w: _webhook(w), lambda n: f"g-{n - 1:02}"),
    "portal:webhook_extend": (lambda w: _webhook(w), None),
    "portal:webhook_rotate": (lambda w: _webhook(w), None),
    "portal:webhook_signing": (lambda w: _webhook(w), None),
    "portal:webhook_delete": (lambda w: _webhook(w), None),
    "portal:jobs": (lambda w: {"account_id": w.account.pk}, None),
    "portal:job": (lambda w: {"account_id": w.account.pk, "job_id": w.job.pk}, lambda n: f"line-{n - 1:02}"),
    "portal:job_streams": (
        lambda w: {"account_id": w.account.pk, "job_id": w.job.pk},
        lambda n: f"line-{n - 1:02}",
    ),
    "portal:job_stop": (lambda w: {"account_id": w.account.pk, "job_id": w.job.pk}, None),
    "portal:variables": (lambda w: {"account_id": w.account.pk}, lambda n: f"var-{n - 1:02}"),
    "portal:variable_add": (lambda w: {"account_id": w.account.pk}, None),
    "portal:variable": (lambda w: {"account_id": w.account.pk, "variable_id": w.variable.pk}, None),
    "portal:variable_encrypt": (lambda w: {"account_id": w.account.pk, "variable_id": w.variable.pk}, None),
    "portal:variable_delete": (lambda w: {"account_id": w.account.pk, "variable_id": w.variable.pk}, None),
    "portal:credentials": (lambda w: {"account_id": w.account.pk}, lambda n: f"cred-{n - 1:02}"),
    "portal:credential_add": (lambda w: {"account_id": w.account.pk}, None),
    "portal:credential": (lambda w: {"account_id": w.account.pk, "credential_id": w.credential.pk}, None),
    "portal:credential_delete": (lambda w: {"account_id": w.account.pk, "credential_id": w.credential.pk}, None),
    "portal:certificates": (lambda w: {"account_id": w.account.pk}, lambda n: f"cert-{n - 1:02}"),
    "portal:certificate_add": (lambda w: {"account_id": w.account.pk}, None),
    "portal:certificate": (lambda w: {"account_id": w.account.pk, "certificate_id": w.certificate.pk}, None),
    "portal:certificate_delete": (
        lambda w: {"account_id": w.account.pk, "certificate_id": w.certificate.pk},
        None,
    ),
    "portal:connections": (lambda w: {"account_id": w.account.pk}, lambda n: f"conn-{n - 1:02}"),
    # The dialog offers every connection type.
    "portal:connection_add": (lambda w: {"account_id": w.account.pk}, lambda n: f"ct-{n - 1:02}"),
    "portal:connection": (lambda w: {"account_id": w.account.pk, "connection_id": w.connection.pk}, None),
    "portal:connection_delete": (lambda w: {"account_id": w.account.pk, "connection_id": w.connection.pk}, None),
    "portal:connection_types": (lambda w: {"account_id": w.account.pk}, lambda n: f"ct-{n - 1:02}"),
    "portal:connection_type_add": (lambda w: {"account_id": w.account.pk}, None),
    "portal:connection_type_delete": (
        lambda w: {"account_id": w.account.pk, "connection_type_id": w.connection_type.pk},
        None,
    ),
    "portal:schedules": (lambda w: {"account_id": w.account.pk}, lambda n: f"sch-{n - 1:02}"),
    "portal:schedule_add": (lambda w: {"account_id": w.account.pk}, None),
    # Its links (the published rb-NN) and its recent fires grow.
    "portal:schedule": (
        lambda w: {"account_id": w.account.pk, "schedule_id": w.schedule.pk},
        lambda n: "rb-29" if n > 3 else "rb-01",
    ),
    "portal:schedule_delete": (lambda w: {"account_id": w.account.pk, "schedule_id": w.schedule.pk}, None),
    # The published runbooks not on it yet.
    "portal:schedule_link": (lambda w: {"account_id": w.account.pk, "schedule_id": w.schedule.pk}, None),
    "portal:runbook_schedules": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk},
        lambda n: f"sch-{n - 1:02}",
    ),
    # The schedules to choose from.
    "portal:runbook_schedule_link": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk},
        lambda n: f"sch-{n - 1:02}",
    ),
    "portal:runbook_schedule_unlink": (
        lambda w: {"account_id": w.account.pk, "runbook_id": w.runbook.pk, "link_id": w.schedule_link.pk},
        None,
    ),
}


def _webhook(w) -> dict:
    return {"account_id": w.account.pk, "runbook_id": w.runbook.pk, "webhook_id": w.webhook.pk}


class WorldWithWebhooks(GrowingWorld):
    """GrowingWorld, and webhooks on "hello": "first", and one more per row, each called once: half of them are
    signed and refuse the unsigned call (its outcome is kept in Redis), the others start a job (on the row)."""

    def __init__(self, people):
        super().__init__(people)
        self.webhook = create_webhook(runbook=self.runbook, actor=SYSTEM, name="first", run_on="lab").webhook

    def _add(self, i: int) -> None:
        super()._add(i)
        signed = i % 2 == 0
        issued = create_webhook(runbook=self.runbook, actor=SYSTEM, name=f"hook-{i:02}", run_on="lab", signed=signed)
        token = issued.uri.rpartition("token=")[2]
        call = partial(call_webhook, webhook_id=issued.webhook.pk, token=token, body=b"{}", headers={}, source_ip=None)
        if signed:
            with pytest.raises(BadSignature):
                call()
        else:
            call()


class WorldWithSchedules(WorldWithWebhooks):
    """WorldWithWebhooks, and schedules: sch-NN with "hello" on each, and "Nightly" (every minute from a fixed past
    moment) with the published rb-NN on it, which fires one minute more of each of its links every time it grows."""

    NIGHTLY_START = datetime(2026, 1, 5, 2, 30, tzinfo=UTC)

    def __init__(self, people):
        super().__init__(people)
        start = self.NIGHTLY_START
        self.schedule = create_schedule(
            account=self.account, name="Nightly", start_time=start, frequency="Minute", actor=SYSTEM, now=start
        )
        self.schedule_link = link_schedule(
            account=self.account, runbook_name="hello", schedule_name="Nightly", run_on="lab", actor=SYSTEM
        )

    def _add(self, i: int) -> None:
        super()._add(i)
        account = self.account
        create_schedule(
            account=account, name=f"sch-{i:02}", start_time="2030-01-01T00:00:00Z", frequency="Day", actor=SYSTEM
        )
        link_schedule(account=account, runbook_name="hello", schedule_name=f"sch-{i:02}", run_on="lab", actor=SYSTEM)
        if i % 2:
            link_schedule(
                account=account, runbook_name=f"rb-{i:02}", schedule_name="Nightly", run_on="lab", actor=SYSTEM
            )
        # On time: a job for each link of "Nightly", and a fire each on its blade.
        fire_due_schedules(now=self.NIGHTLY_START + timedelta(minutes=i, seconds=5))


@pytest.fixture
def world(people):
    return WorldWithSchedules(people)


def test_every_page_an_owner_may_open_is_measured():
    pages = {
        route
        for route, rows in ROUTES.items()
        if route.startswith("portal:") and any(row.method == "get" and row.expect.get("owner") == 200 for row in rows)
    }
    assert sorted(pages - PAGES.keys()) == [], "pages with no query count"
    assert sorted(PAGES.keys() - pages) == [], "measured routes that are no page"


def test_every_page_costs_the_same_queries_for_3_or_30_of_everything(world, client_for):
    client = client_for(world.people.owner)
    world.grow(FEW)  # the owner's first token exists, for its Revoke dialog
    urls = {route: reverse(route, kwargs=path(world)) for route, (path, _) in PAGES.items()}

    def measure(n: int) -> dict[str, list[str]]:
        world.grow(n)
        client.get(urls["portal:home"])  # warm up: the session, content types
        counted = {}
        for route, url in urls.items():
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200, (route, response.status_code)
            shows = PAGES[route][1]
            if shows is not None:
                assert shows(n) in response.content.decode(), (route, shows(n))
            counted[route] = [q["sql"] for q in queries.captured_queries]
        return counted

    few = measure(FEW)
    many = measure(MANY)

    grew = {route: (len(few[route]), len(many[route])) for route in PAGES if len(few[route]) != len(many[route])}
    assert not grew, f"pages whose queries grow with their rows (3 → 30): {grew}\n" + "\n".join(
        sql for route in grew for sql in many[route]
    )
