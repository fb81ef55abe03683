"""Runbooks read their account's assets through a real agent: Python (`import automationassets`), Bash
(`hybridworker asset`) and PowerShell (the module, through a stand-in `pwsh`), against the stand-in agent API.

The stand-in (tests/workers/fakeapi.py) plays the server's side of the job-side asset operations, so these tests
show the agent's part alone: the environment a runbook gets, the relay, masking, and what stays behind. The same
runbooks against the real server are in test_assets.py.
"""

import base64
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.workers import test_faults
from tests.workers.conftest import AS_ROOT
from tests.workers.fakeapi import CREDENTIAL, FakeAgentApi
from tests.workers.pwsh_standin import exchanges, transport
from tests.workers.test_faults import finished, sandbox
from workers.sandbox import POWERSHELL_MODULES

SECRET = "enc-Var-Secret-42"
PASSWORD = "p@ss W0rd!with spaces"
API_KEY = "conn-api-key-7731"
PKCS12 = base64.b64encode(b"\x30\x82 pretend pkcs12 bytes \x00\x01").decode()
SECRETS = (SECRET, PASSWORD, API_KEY, PKCS12)


# The stand-in's agents (test_faults.py), on this module's `fake`.
fake_agent = test_faults.fake_agent


@pytest.fixture
def fake():
    with FakeAgentApi() as api:
        api.assets.update(
            {
                "variables/Plain": {"name": "Plain", "value": "plain value", "encrypted": False},
                "variables/Hidden": {"name": "Hidden", "value": SECRET, "encrypted": True, "secret": [SECRET]},
                "variables/Counter": {"name": "Counter", "value": 0, "encrypted": False},
                "credentials/Login": {
                    "name": "Login",
                    "username": "svc-user",
                    "password": PASSWORD,
                    "secret": [PASSWORD],
                },
                "connections/Conn": {
                    "name": "Conn",
                    "connection_type": "Api",
                    "values": {"Url": "https://api.example", "Key": API_KEY},
                    "secret": [API_KEY],
                },
                "certificates/Cert": {
                    "name": "Cert",
                    "thumbprint": "AB" * 20,
                    "pkcs12_base64": PKCS12,
                    "secret": [PKCS12],
                },
            }
        )
        api.runbooks["child"] = ("bash", 'echo "child says hi"\n')
        yield api
        assert not api.problems, api.problems


PYTHON_AS_FOR_AZURE = """
import base64, os, sys
import automationassets
from automationassets import AutomationAssetNotFound

print("plain:", automationassets.get_automation_variable("Plain"))
print("hidden:", automationassets.get_automation_variable("Hidden"))
credential = automationassets.get_automation_credential("Login")
print("login:", credential["username"], credential["password"])
print("connection:", sorted(automationassets.get_automation_connection("Conn").items()))
certificate = automationassets.get_automation_certificate("Cert")
print("certificate:", len(certificate), base64.b64encode(certificate).decode())
automationassets.set_automation_variable("Counter", {"runs": 1})
try:
    automationassets.get_automation_variable("Missing")
except AutomationAssetNotFound as exc:
    print("missing:", exc)
child = automationassets.start_automation_runbook("child", {}, wait=True)
print("child:", child["status"], child["output"])
print("started:", len(automationassets.start_automation_runbook("child", run_on="fakes")))
import hybridworker_runbook
print("same functions:", hybridworker_runbook.get_automation_credential is automationassets.get_automation_credential)
print("token:", os.environ["HYBRIDWORKER_ASSETS_TOKEN"])
print("url:", os.environ["HYBRIDWORKER_ASSETS_URL"])
print("argv:", sys.argv[1:])
print("psmodulepath:", os.environ["PSModulePath"].split(os.pathsep)[0])
print("path:", os.environ["PATH"].split(os.pathsep)[0])
print("credential in environment:", any("{credential}" in value for value in os.environ.values()))
"""


def test_a_python_runbook_written_for_azure_reads_and_sets_assets_and_what_it_printed_of_secrets_is_masked(
    fake, fake_agent
):
    agent = fake_agent("assets01", "--capacity", "2")
    job = fake.queue("python3", PYTHON_AS_FOR_AZURE.replace("{credential}", CREDENTIAL))
    assert finished(fake, job, agent)["status"] == "Completed", job.finish
    child = next(other for other in fake.jobs.values() if other.parent == job.id)
    assert child.finish["status"] == "Completed" and child.texts() == ["child says hi"]

    output = job.texts("output")
    assert output[:10] == [
        "plain: plain value",
        "hidden: ******",
        "login: svc-user ******",
        "connection: [('Key', '******'), ('Url', 'https://api.example')]",
        f"certificate: {len(base64.b64decode(PKCS12))} ******",
        "missing: no variable named Missing in this account",
        "child: Completed ['child says hi']",
        "started: 36",
        "same functions: True",
        "token: ******",
    ]
    assert re.fullmatch(r"url: http://127\.0\.0\.1:\d+", output[10]), output[10]
    assert output[11:] == [
        "argv: []",
        f"psmodulepath: {POWERSHELL_MODULES}",
        f"path: {agent.state_dir / 'bin'}",
        "credential in environment: False",
    ]
    assert fake.assets["variables/Counter"]["value"] == {"runs": 1}
    requests = fake.of("jobs/assets", job)
    assert {(r.authorization, r.lease) for r in requests} == {(f"Bearer {CREDENTIAL}", job.lease)}
    started = [r.body for r in requests if r.method == "POST"]
    assert started == [
        {"runbook": "child", "parameters": {}, "run_on": None},
        {"runbook": "child", "parameters": {}, "run_on": "fakes"},
    ]
    assert_nothing_secret_left(agent, job)


BASH_RUNBOOK = """
set -e
hybridworker asset get variable Plain
hybridworker asset get variable Plain --json
hybridworker asset get variable Hidden
hybridworker asset get credential Login
hybridworker asset get connection Conn
hybridworker asset set variable Counter '{"runs": 2}'
hybridworker asset set variable Plain 'not json'
hybridworker asset get variable Missing 2>&1 || echo "exit $?"
hybridworker asset start-runbook child --parameters '{}' --wait
env -u HYBRIDWORKER_ASSETS_TOKEN hybridworker asset get variable Plain 2>&1 || echo "exit $?"
"""


def test_a_bash_runbook_uses_hybridworker_asset_first_on_its_path(fake, fake_agent):
    agent = fake_agent("assets02", "--capacity", "2")
    job = fake.queue("bash", BASH_RUNBOOK)
    assert finished(fake, job, agent)["status"] == "Completed", job.finish
    output = job.texts("output")
    assert output == [
        "plain value",
        '"plain value"',
        "******",
        json.dumps({"username": "svc-user", "password": "******"}),
        json.dumps({"Url": "https://api.example", "Key": "******"}),
        "error: no variable named Missing in this account",
        "exit 1",
        "child says hi",
        "error: Automation assets can be used only inside a job run by a Hybrid Runbook Worker "
        "(HYBRIDWORKER_ASSETS_URL and HYBRIDWORKER_ASSETS_TOKEN are not set)",
        "exit 2",
    ]
    assert fake.assets["variables/Counter"]["value"] == {"runs": 2}
    assert fake.assets["variables/Plain"]["value"] == "not json"
    shim = agent.state_dir / "bin" / "hybridworker"
    assert shim.stat().st_mode & 0o777 == 0o755 and (agent.state_dir / "bin").stat().st_mode & 0o777 == 0o755
    assert_nothing_secret_left(agent, job)


POWERSHELL_RUNBOOK = """
Import-Module Orchestrator.AssetManagement.Cmdlets
Get-AutomationVariable -Name Plain
Get-AutomationVariable -Name Hidden
Get-AutomationPSCredential -Name Login
Get-AutomationConnection -Name Conn
Get-AutomationCertificate -Name Cert
Set-AutomationVariable -Name Counter -Value 3
$child = Start-AutomationRunbook -Name child -Parameters {}
Wait-AutomationJob -Id $child
"""


def test_the_powershell_module_names_exactly_the_requests_the_relay_serves():
    module = POWERSHELL_MODULES / "Orchestrator.AssetManagement.Cmdlets"
    psm1 = (module / "Orchestrator.AssetManagement.Cmdlets.psm1").read_text()
    segment = "$(ConvertTo-PathSegment $Name)"
    assert exchanges(psm1) == {
        "Get-AutomationVariable": ("GET", f"/variables/{segment}", None),
        "Set-AutomationVariable": ("PUT", f"/variables/{segment}", {"value": "Value"}),
        "Get-AutomationPSCredential": ("GET", f"/credentials/{segment}", None),
        "Get-AutomationConnection": ("GET", f"/connections/{segment}", None),
        "Get-AutomationCertificate": ("GET", f"/certificates/{segment}", None),
        "Start-AutomationRunbook": (
            "POST",
            "/children",
            {"runbook": "Name", "parameters": "Parameters", "run_on": "RunOn"},
        ),
        "Wait-AutomationJob": ("GET", "/children/$(ConvertTo-PathSegment $Id)?wait=30", None),
    }
    assert psm1.count("Invoke-AssetRequest -Method") == 7, "every request of the module is one of those"
    assert transport(psm1) == ("HYBRIDWORKER_ASSETS_URL", "Authorization", "Bearer ", "HYBRIDWORKER_ASSETS_TOKEN")
    manifest = (module / "Orchestrator.AssetManagement.Cmdlets.psd1").read_text()
    exported = re.search(r"FunctionsToExport = @\((.*?)\)", manifest, re.S)[1]
    assert re.findall(r"'([\w-]+)'", exported) == list(exchanges(psm1))
    members = re.search(r"Export-ModuleMember -Function (.*?)\n\S", psm1 + "\nEND", re.S)[1]
    assert [name.strip() for name in members.split(",")] == list(exchanges(psm1))


def test_a_powershell_runbook_finds_the_module_on_its_psmodulepath_and_its_requests_go_through(
    fake, fake_agent, agent_env, tmp_path
):
    bin_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"pwsh-{os.getpid()}-{tmp_path.name}"
    bin_dir.mkdir(mode=0o755)
    try:
        # As root the runbook runs as nobody, who cannot run the test's interpreter under /root.
        python = "/usr/bin/python3" if AS_ROOT and os.access("/usr/bin/python3", os.X_OK) else sys.executable
        source = (Path(__file__).parent / "pwsh_standin.py").read_text()
        (bin_dir / "pwsh").write_text(f"#!{python}\n{source}")
        (bin_dir / "pwsh").chmod(0o755)
        agent_env["PATH"] = f"{bin_dir}{os.pathsep}{agent_env['PATH']}"
        agent = fake_agent("assets03", "--capacity", "2")
        job = fake.queue("powershell", POWERSHELL_RUNBOOK)
        assert finished(fake, job, agent)["status"] == "Completed", job.finish
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)
    output = job.texts("output")
    answers = [json.loads(line) for line in output[1:]]
    assert output[0] == "module Orchestrator.AssetManagement.Cmdlets found in PSModulePath entry 0"
    assert answers[:6] == [
        {"encrypted": False, "name": "Plain", "value": "plain value"},
        {"encrypted": True, "name": "Hidden", "value": "******"},
        {"name": "Login", "password": "******", "username": "svc-user"},
        {"connection_type": "Api", "name": "Conn", "values": {"Key": "******", "Url": "https://api.example"}},
        {"name": "Cert", "pkcs12_base64": "******", "thumbprint": "AB" * 20},
        {"encrypted": False, "name": "Counter"},
    ]
    child = next(other for other in fake.jobs.values() if other.parent == job.id)
    assert answers[6] == {"id": child.id, "status": "Queued"}
    assert answers[7] == {"id": child.id, "output": ["child says hi"], "status": "Completed", "status_reason": ""}
    assert fake.assets["variables/Counter"]["value"] == 3
    assert_nothing_secret_left(agent, job)


def assert_nothing_secret_left(agent, job) -> None:
    """No secret in what the agent said or logged, nor anywhere in the job's sandbox once it ended."""
    said = agent.everything_it_said()
    for secret in SECRETS:
        assert secret not in said
    folder = sandbox(agent, job)
    assert not (folder / "tmp").exists()
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in content, f"{secret} in {path}"
