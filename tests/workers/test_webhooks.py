"""Webhooks end to end: a real daphne, a real agent, a caller with only the URL.

A call starts a job whose runbook prints the request body: a Python runbook that declares WebhookData gets it as a
named argument and through automationassets, one that does not declares it reads it through hybridworker_runbook.
A disabled, an expired and a rotated-away URL start nothing.
"""

import json
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.utils import timezone

from automation.models import Job, JobStatus, StartedBy, Webhook
from automation.services import webhooks as webhook_services
from tests.workers.conftest import GROUP
from tests.workers.jobs_support import SYSTEM, ended, publish, texts

DECLARING = """
import argparse, json
import automationassets
parser = argparse.ArgumentParser()
parser.add_argument("--who")
parser.add_argument("--WebhookData")
args = parser.parse_args()
data = json.loads(args.WebhookData)
print("who:", args.who)
print("name:", data["WebhookName"])
print("body:", data["RequestBody"])
print("same:", automationassets.get_webhook_data() == data)
print("headers:", sorted(data["RequestHeader"]))
"""

NOT_DECLARING = """
import sys
import hybridworker_runbook as hrw
print("arguments:", sys.argv[1:])
print("body:", hrw.webhook_data()["RequestBody"])
"""


def call(server, uri: str, body: str, **headers) -> httpx.Response:
    parts = urlsplit(uri)
    return httpx.post(f"{server.url}{parts.path}?{parts.query}", content=body.encode(), headers=headers, timeout=30)


def job_of(response: httpx.Response) -> Job:
    assert response.status_code == 202, response.text
    return Job.objects.get(pk=response.json()["JobIds"][0])


def test_a_webhook_call_runs_the_runbook_with_the_body_and_refused_urls_start_nothing(people, server, worker):
    agent = worker("hooks-1")
    who = [{"name": "who", "type": "string", "required": True}, {"name": "WebhookData", "type": "json"}]
    runbook = publish(people.account, "on alert", "python3", DECLARING, parameters=who).runbook
    issued = webhook_services.create_webhook(
        runbook=runbook, actor=SYSTEM, name="From monitoring", run_on=GROUP, parameters={"who": "ops"}
    )

    body = '{"alert": "disk full", "host": "web-07"}'
    response = call(server, issued.uri, body, **{"Content-Type": "application/json", "Authorization": "Bearer x"})
    assert response.headers["Location"].endswith(
        f"/api/v1/accounts/{people.account.pk}/jobs/{response.json()['JobIds'][0]}/"
    )
    job = ended(job_of(response), agent)
    assert job.status == JobStatus.COMPLETED, (job.status_reason, texts(job, "error"))
    output = texts(job)
    assert output[:4] == ["who: ops", "name: From monitoring", f"body: {body}", "same: True"]
    headers = output[4]
    assert "'Content-Type'" in headers and "Authorization" not in headers
    assert (job.started_by_kind, job.started_by) == (StartedBy.WEBHOOK, "From monitoring")

    plain = publish(people.account, "plain", "python3", NOT_DECLARING).runbook
    quiet = webhook_services.create_webhook(runbook=plain, actor=SYSTEM, name="Plain", run_on=GROUP)
    job = ended(job_of(call(server, quiet.uri, "just text")), agent)
    assert texts(job) == ["arguments: []", "body: just text"], texts(job, "error")

    # Refused: disabled, expired, rotated away; each the same 400, and no job.
    jobs_before = Job.objects.count()
    webhook_services.update_webhook(webhook=issued.webhook, actor=SYSTEM, enabled=False)
    expired = webhook_services.create_webhook(
        runbook=runbook, actor=SYSTEM, name="Old", run_on=GROUP, parameters={"who": "x"}
    )
    Webhook.objects.filter(pk=expired.webhook.pk).update(expiry_time=timezone.now() - timedelta(seconds=1))
    rotated = webhook_services.rotate_webhook_token(webhook=quiet.webhook, actor=SYSTEM)
    answers = [call(server, uri, "{}") for uri in (issued.uri, expired.uri, quiet.uri)]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
    assert Job.objects.count() == jobs_before
    assert ended(job_of(call(server, rotated.uri, "again")), agent).status == JobStatus.COMPLETED
