"""Every answer that carries a secret says `Cache-Control: no-store`, so no browser cache, history or proxy
keeps a copy. SECRET_ANSWERS is the list of them, pages and APIs alike: an answer that starts carrying a
secret belongs here."""

import re

import pytest
from django.urls import reverse
from django.utils.cache import get_max_age
from rest_framework.test import APIClient

from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.tokens import create_token
from automation.services.workers import register_worker
from tests.automation.api.helpers import call, register_body
from tests.support.htmx import htmx_headers

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SECRET_PARAMETER = "s3cret-parameter-value"


def portal_reveal(ctx, htmx: bool):
    response = ctx.client_for(ctx.people.owner).post(
        reverse("portal:keys_reveal", args=[ctx.people.account.pk]), headers=htmx_headers(htmx)
    )
    return response, ctx.keys["a"]["primary"]


def portal_new_token(ctx, htmx: bool):
    response = ctx.client_for(ctx.people.owner).post(
        reverse("portal:token_new"), {"name": "ci", "expires_days": ""}, headers=htmx_headers(htmx)
    )
    token = re.search(r"hrwpat_[0-9a-f]+_[A-Za-z0-9_-]+", response.content.decode())
    return response, token.group(0) if token else "hrwpat_"


def api_regenerate(ctx, slot: str):
    token = create_token(user=ctx.people.owner, name="t", expires_days=None, actor=Actor.for_system()).plain
    response = APIClient(headers={"Authorization": f"Bearer {token}"}).post(
        f"/api/v1/accounts/{ctx.people.account.pk}/keys/{slot}/regenerate/"
    )
    return response, response.json()["key"]


def agent_register(ctx, renew: bool):
    if renew:
        call(ctx.agent, ctx.people.account.pk, "register", register_body(), token=ctx.keys["a"]["primary"])
    response = call(ctx.agent, ctx.people.account.pk, "register", register_body(), token=ctx.keys["a"]["primary"])
    return response, response.json()["credential"]


def agent_finish_and_claim(ctx):
    """The end report that claims the next job: its payload holds the job's secret parameter."""
    system = Actor.for_system()
    account = ctx.people.account
    declared = [{"name": "password", "type": "secret", "required": True}]
    runbook = create_runbook(
        account=account, name="hello", runbook_type="bash", content="echo hi", parameters=declared, actor=system
    )
    publish_runbook(runbook=runbook, actor=system)
    registration = register_worker(
        account=account, group_name="lab", machine_id="machine-0001", name="web-01", facts={}
    )
    for _ in range(2):
        job_services.start_job(
            account=account,
            runbook_name="hello",
            group_name="lab",
            parameters={"password": SECRET_PARAMETER},
            actor=system,
        )
    (job,) = job_services.claim_jobs(worker=registration.worker, limit=1)
    body = {"lease": str(job.lease_id), "status": "Completed", "exit_code": 0, "claim": 1}
    response = call(ctx.agent, account.pk, f"jobs/{job.pk}/finish", body, token=registration.credential)
    return response, SECRET_PARAMETER


SECRET_ANSWERS = {
    "portal: Show keys (htmx)": lambda ctx: portal_reveal(ctx, htmx=True),
    "portal: Show keys (no JavaScript)": lambda ctx: portal_reveal(ctx, htmx=False),
    "portal: new API token (htmx dialog)": lambda ctx: portal_new_token(ctx, htmx=True),
    "portal: new API token (page)": lambda ctx: portal_new_token(ctx, htmx=False),
    "management API: regenerate the primary key": lambda ctx: api_regenerate(ctx, "primary"),
    "management API: regenerate the secondary key": lambda ctx: api_regenerate(ctx, "secondary"),
    "agent API: register": lambda ctx: agent_register(ctx, renew=False),
    "agent API: register again (renewed credential)": lambda ctx: agent_register(ctx, renew=True),
    "agent API: finish and claim (a job's secret parameters)": agent_finish_and_claim,
}


@pytest.fixture
def ctx(people, keys, agent, client_for):
    class Context:
        pass

    c = Context()
    c.people, c.keys, c.agent, c.client_for = people, keys, agent, client_for
    return c


@pytest.mark.parametrize("answer", SECRET_ANSWERS)
def test_every_answer_that_carries_a_secret_is_not_stored(ctx, answer):
    response, secret = SECRET_ANSWERS[answer](ctx)

    assert response.status_code in (200, 201), response.content
    assert secret in response.content.decode(), "the list names an answer that carries no secret"
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, (answer, response.get("Cache-Control"))
    assert not get_max_age(response)
