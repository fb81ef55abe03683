"""Shared resources end to end: a real daphne, a real agent, runbooks written as for Azure.

A Python runbook (`import automationassets`) and a Bash runbook (`hybridworker asset`) read a plain variable, an
encrypted variable, a credential, a connection and a certificate, set a variable that a second job reads, and
start a child runbook and wait for it. What they printed of a secret arrives as ******; no secret is left in the
agent's output or log, the server's logs, the job's streams or its sandbox; a job next to it cannot use its relay,
which is gone once the job ended; another account's assets are out of its reach.
"""

import base64
import hashlib
import json
import re

import httpx
import pytest

from automation.models import AuditEvent, Certificate, Job, JobStatus, JobStream, Variable
from automation.services.certificates import certificate_pkcs12, create_certificate
from automation.services.connections import create_connection, create_connection_type
from automation.services.credentials import create_credential
from automation.services.jobs import request_stop
from automation.services.variables import create_variable, read_variable_value
from tests.support.assets import MadeCertificate
from tests.workers.conftest import AS_ROOT, wait_until
from tests.workers.jobs_support import SYSTEM, ended, publish, running, sandbox, start, texts

SECRET = "enc-Var-Secret-42"
PASSWORD = "p@ss W0rd!with spaces"
API_KEY = "conn-api-key-7731"
OTHER_SECRET = "fabrikam-only-value"


@pytest.fixture
def assets(people):
    account = people.account
    create_variable(account=account, name="Plain", value="plain value", actor=SYSTEM)
    create_variable(account=account, name="Hidden", value=SECRET, encrypted=True, actor=SYSTEM)
    create_variable(account=account, name="Counter", value=0, actor=SYSTEM)
    create_credential(account=account, name="Login", username="svc-user", password=PASSWORD, actor=SYSTEM)
    fields = [
        {"name": "Url", "type": "string", "encrypted": False},
        {"name": "Key", "type": "string", "encrypted": True},
    ]
    create_connection_type(account=account, name="Api", fields=fields, actor=SYSTEM)
    values = {"Url": "https://api.example", "Key": API_KEY}
    create_connection(account=account, name="Conn", connection_type="Api", values=values, actor=SYSTEM)
    made = MadeCertificate()
    create_certificate(account=account, name="Cert", content=made.pfx(None), exportable=True, actor=SYSTEM)
    create_variable(account=people.other_account, name="OtherOnly", value=OTHER_SECRET, actor=SYSTEM)
    publish(account, "child", "bash", 'echo "child says hi"\n')
    pkcs12 = certificate_pkcs12(Certificate.objects.get(account=account, name="Cert"))
    return {"pkcs12_sha256": hashlib.sha256(pkcs12).hexdigest(), "pkcs12_base64": base64.b64encode(pkcs12).decode()}


PYTHON_AS_FOR_AZURE = """
import hashlib, json, os
import automationassets
from automationassets import AutomationAssetNotFound

print("plain:", automationassets.get_automation_variable("Plain"))
print("hidden:", automationassets.get_automation_variable("Hidden"))
credential = automationassets.get_automation_credential("Login")
print("login:", credential["username"], credential["password"])
print("connection:", sorted(automationassets.get_automation_connection("Conn").items()))
certificate = automationassets.get_automation_certificate("Cert")
print("certificate:", hashlib.sha256(certificate).hexdigest())
automationassets.set_automation_variable("Counter", {"runs": 1})
try:
    automationassets.get_automation_variable("OtherOnly")
except AutomationAssetNotFound as exc:
    print("other account:", exc)
child = automationassets.start_automation_runbook("child", wait=True)
print("child:", child["status"], child["output"])
print("environment:", json.dumps(dict(os.environ), sort_keys=True))
"""


def secrets_of(agent, assets) -> tuple[str, ...]:
    return (SECRET, PASSWORD, API_KEY, OTHER_SECRET, assets["pkcs12_base64"], *agent.credentials)


def test_a_python_runbook_written_for_azure_reads_sets_and_starts_and_its_secrets_stay_masked(
    people, worker, assets, log_dir
):
    agent = worker("assets-py", "--capacity", "2")
    publish(people.account, "parent", "python3", PYTHON_AS_FOR_AZURE)
    publish(
        people.account,
        "reader",
        "python3",
        "import automationassets\nprint(automationassets.get_automation_variable('Counter'))\n",
    )
    job = ended(start(people.account, "parent"), agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason

    output = texts(job)
    assert output[:7] == [
        "plain: plain value",
        "hidden: ******",
        "login: svc-user ******",
        "connection: [('Key', '******'), ('Url', 'https://api.example')]",
        f"certificate: {assets['pkcs12_sha256']}",
        "other account: There is no variable named 'OtherOnly' in contoso-automation.",
        "child: Completed ['child says hi']",
    ]
    environment = json.loads(output[7].removeprefix("environment: "))
    assert environment["HYBRIDWORKER_ASSETS_TOKEN"] == "******"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", environment["HYBRIDWORKER_ASSETS_URL"])
    assert not any(credential in output[7] for credential in agent.credentials), "the worker's own credential"

    child = Job.objects.get(parent=job)
    assert child.status == JobStatus.COMPLETED and texts(child) == ["child says hi"]
    reader = ended(start(people.account, "reader"), agent)
    assert texts(reader) == ["{'runs': 1}"], "a second job reads what the first one set"

    # The Activity log names the job and its worker for each read of secret material (never a value), and for
    # its change of a variable; a plain variable is read unrecorded, as on Azure.
    by_job = f"job {str(job.pk)[:8]} on worker assets-py"
    done = {(event.action, event.target_name) for event in AuditEvent.objects.filter(actor_name=by_job)}
    assert {
        ("variable.read", "Hidden"),
        ("credential.read", "Login"),
        ("connection.read", "Conn"),
        ("certificate.read", "Cert"),
    } <= done
    assert ("variable.read", "Plain") not in done and any(target == "Counter" for _, target in done)
    assert_no_secret_anywhere(agent, job, log_dir, secrets_of(agent, assets))


BASH_RUNBOOK = """
set -e
hybridworker asset get variable Plain
hybridworker asset get variable Hidden
hybridworker asset get credential Login
hybridworker asset get connection Conn
hybridworker asset get certificate Cert | base64 -d | sha256sum | cut -d' ' -f1
hybridworker asset set variable Counter '{"runs": 2}'
hybridworker asset get variable OtherOnly 2>&1 || echo "exit $?"
hybridworker asset start-runbook child --wait
"""


@pytest.mark.sqlite
def test_a_bash_runbook_does_the_same_through_hybridworker_asset(people, worker, assets, log_dir):
    agent = worker("assets-sh", "--capacity", "2")
    publish(people.account, "bash-assets", "bash", BASH_RUNBOOK)
    job = ended(start(people.account, "bash-assets"), agent)
    assert job.status == JobStatus.COMPLETED, job.status_reason
    assert texts(job) == [
        "plain value",
        "******",
        json.dumps({"username": "svc-user", "password": "******"}),
        json.dumps({"Url": "https://api.example", "Key": "******"}),
        assets["pkcs12_sha256"],
        "error: There is no variable named 'OtherOnly' in contoso-automation.",
        "exit 1",
        "child says hi",
    ]
    assert read_variable_value(Variable.objects.get(account=people.account, name="Counter")) == {"runs": 2}
    assert_no_secret_anywhere(agent, job, log_dir, secrets_of(agent, assets))


HOLDER = """
import os, time
print(os.getpid(), os.environ["HYBRIDWORKER_ASSETS_URL"], flush=True)
time.sleep(120)
"""
PRYING = """
import json, os, urllib.error, urllib.request
with open(os.environ["HYBRIDWORKER_PARAMETERS_FILE"]) as handle:
    target = json.load(handle)
found = {}
request = urllib.request.Request(
    target["Url"] + "/variables/Hidden",
    headers={"Authorization": "Bearer " + os.environ["HYBRIDWORKER_ASSETS_TOKEN"]},
)
try:
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30)
    found["relay"] = "answered"
except urllib.error.HTTPError as exc:
    found["relay"] = exc.code
try:
    with open(f"/proc/{target['Pid']}/environ", "rb") as handle:
        found["environ"] = "read"
except OSError as exc:
    found["environ"] = type(exc).__name__
print(json.dumps(found, sort_keys=True))
"""


def test_a_job_beside_it_cannot_use_its_relay_and_the_relay_is_gone_once_the_job_ended(people, worker, assets):
    agent = worker("assets-pair", "--capacity", "2")
    publish(people.account, "holder", "python3", HOLDER)
    publish(people.account, "prying", "python3", PRYING, [{"name": "Url"}, {"name": "Pid", "type": "int"}])
    holder = running(start(people.account, "holder"), agent)
    said = wait_until(lambda: texts(holder), "the holder to say where its relay is", agent=agent)
    pid, url = said[0].split(" ", 1)

    prying = ended(start(people.account, "prying", parameters={"Url": url, "Pid": int(pid)}), agent)
    assert prying.status == JobStatus.COMPLETED, prying.status_reason
    found = json.loads(texts(prying)[0])
    assert found["relay"] == 401, "its own token opens nothing on another job's relay"
    if AS_ROOT:
        assert found["environ"] == "PermissionError", "nor can it read the other job's token"

    request_stop(job=holder, actor=SYSTEM)
    ended(holder, agent)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/variables/Plain", timeout=10, trust_env=False)


def assert_no_secret_anywhere(agent, job, log_dir, secrets) -> None:
    said = agent.everything_it_said()
    streams = "\n".join(JobStream.objects.values_list("text", flat=True))
    server_logs = "\n".join(path.read_text(errors="replace") for path in log_dir.rglob("*") if path.is_file())
    folder = sandbox(agent, job)
    assert not (folder / "tmp").exists()
    files = b"\n".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())
    for secret in secrets:
        assert secret, "an empty secret proves nothing"
        assert secret not in said, "a secret in the agent's output or log"
        assert secret not in streams, "a secret in a job's streams"
        assert secret not in server_logs, "a secret in a server log"
        assert secret.encode() not in files, "a secret in the sandbox"
