"""workers.job.assets: a job's relay, in this process, in front of the stand-in agent API (tests/workers/fakeapi.py).

What the relay does on its own: who it lets through, what it refuses without asking the server, what it adds on the
way (the worker's credential, the job's lease), what it takes off the answer (the secret list, into the masker),
and that it is gone once closed. The runbook side of it, in real agent processes, is in test_assets_runbooks.py.
"""

import asyncio
import contextlib
import logging

import httpx
import pytest

from tests.workers.fakeapi import ACCOUNT, CREDENTIAL, FakeAgentApi, FakeJob
from workers.client import JobsClient, parse_endpoint
from workers.job.assets import MAX_BODY, AssetRelay
from workers.job.masking import MASK, Masker

SECRET = "hunter2-but-longer"


@pytest.fixture
def fake():
    with FakeAgentApi() as api:
        api.assets["variables/Plain"] = {"name": "Plain", "value": "hello", "encrypted": False}
        api.assets["variables/Hidden"] = {"name": "Hidden", "value": SECRET, "encrypted": True, "secret": [SECRET]}
        api.assets["variables/a/b?c"] = {"name": "a/b?c", "value": 1, "encrypted": False}
        # Listed as secret by no "secret": the relay knows a certificate's content and a password are.
        api.assets["certificates/Cert"] = {"name": "Cert", "thumbprint": "AB" * 20, "pkcs12_base64": "MIIKeyBytes=="}
        api.assets["credentials/Login"] = {"name": "Login", "username": "svc", "password": "pw-unlisted"}
        api.runbooks["child"] = ("bash", "echo child\n")
        yield api
        assert not api.problems, api.problems


@contextlib.asynccontextmanager
async def opened(endpoint: str, job: FakeJob, masker: Masker | None = None):
    client = JobsClient(parse_endpoint(endpoint))
    relay = AssetRelay(
        job_id=job.id,
        lease=job.lease,
        client=client,
        credential=lambda: CREDENTIAL,
        masker=Masker() if masker is None else masker,
        worker_name="fake01",
        log=logging.getLogger("hybridworker"),
    )
    try:
        async with relay:
            yield relay
    finally:
        await client.aclose()


def http(relay: AssetRelay, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {relay.token if token is None else token}"}
    return httpx.AsyncClient(base_url=relay.url, headers=headers, trust_env=False, timeout=30)


def run(scenario) -> None:
    asyncio.run(scenario())


def test_a_request_without_this_jobs_token_is_refused_and_never_reaches_the_server(fake):
    job, other = fake.queue("bash", "true\n"), fake.queue("bash", "true\n")

    async def scenario():
        async with opened(fake.endpoint, job) as relay, opened(fake.endpoint, other) as neighbour:
            assert relay.token != neighbour.token and len(relay.token) >= 43
            async with httpx.AsyncClient(base_url=relay.url, trust_env=False) as bare:
                for headers in (
                    {},
                    {"Authorization": relay.token},
                    {"Authorization": f"Basic {relay.token}"},
                    {"Authorization": f"Bearer {relay.token[:-1]}"},
                    {"Authorization": f"Bearer {neighbour.token}"},
                    {"Authorization": f"Bearer {CREDENTIAL}"},
                ):
                    for path in ("/variables/Plain", "/nowhere"):
                        answer = await bare.get(path, headers=headers)
                        assert answer.status_code == 401, (headers, path)
                        assert answer.json()["code"] == "unauthorized"
                # A refused body is read first, so the client gets the answer, not a reset connection.
                body = {"value": "x" * 1_000_000}
                answer = await bare.put(
                    "/variables/Plain", json=body, headers={"Authorization": f"Bearer {CREDENTIAL}"}
                )
                assert answer.status_code == 401
            async with http(neighbour) as client:
                assert (await client.get("/variables/Plain")).status_code == 200, "each job's own token works"

    run(scenario)
    assert [(r.job_id, r.path) for r in fake.of("jobs/assets")] == [(other.id, "variables/Plain")]


def test_requests_go_on_with_the_worker_credential_and_lease_and_answers_come_back_without_the_secret_list(fake):
    job = fake.queue("bash", "true\n")
    masker = Masker()

    async def scenario():
        async with opened(fake.endpoint, job, masker) as relay, http(relay) as client:
            plain = await client.get("/variables/Plain")
            assert (plain.status_code, plain.json()) == (200, {"name": "Plain", "value": "hello", "encrypted": False})
            assert masker.mask("hello") == "hello"
            hidden = await client.get("/variables/Hidden")
            assert hidden.json() == {"name": "Hidden", "value": SECRET, "encrypted": True}
            # Taken in before the answer left: whatever the runbook prints with it from now on is masked.
            assert masker.mask(f"it is {SECRET}") == f"it is {MASK}"
            for path in ("/certificates/Cert", "/credentials/Login"):
                assert (await client.get(path)).status_code == 200
            assert masker.mask("MIIKeyBytes== pw-unlisted svc") == f"{MASK} {MASK} svc"
            missing = await client.get("/credentials/Nobody")
            assert missing.status_code == 404
            assert missing.json() == {"code": "asset_not_found", "detail": "no credential named Nobody in this account"}
            put = await client.put("/variables/Plain", json={"value": {"now": [1, 2]}})
            assert (put.status_code, put.json()) == (200, {"name": "Plain", "encrypted": False})
            odd = await client.get("/variables/a%2Fb%3Fc")
            assert odd.json()["value"] == 1, "a name with / and ? in it stays one path segment"
            started = await client.post("/children", json={"runbook": "child", "parameters": {}, "run_on": None})
            assert started.status_code == 201 and started.json()["status"] == "Queued"
            polled = await client.get(f"/children/{started.json()['id']}?wait=0")
            assert polled.json()["status"] == "Running"
            return started.json()["id"]

    child = asyncio.run(scenario())
    assert fake.assets["variables/Plain"]["value"] == {"now": [1, 2]}
    assert fake.jobs[child].parent == job.id
    seen = fake.of("jobs/assets")
    assert [(r.method, r.path) for r in seen] == [
        ("GET", "variables/Plain"),
        ("GET", "variables/Hidden"),
        ("GET", "certificates/Cert"),
        ("GET", "credentials/Login"),
        ("GET", "credentials/Nobody"),
        ("PUT", "variables/Plain"),
        ("GET", "variables/a/b?c"),
        ("POST", "children"),
        ("GET", f"children/{child}"),
    ]
    assert {(r.job_id, r.authorization, r.lease) for r in seen} == {(job.id, f"Bearer {CREDENTIAL}", job.lease)}


def test_what_the_relay_refuses_by_itself_never_reaches_the_server(fake):
    job = fake.queue("bash", "true\n")

    async def scenario():
        async with opened(fake.endpoint, job) as relay, http(relay) as client:
            refused = {
                "too large": await client.put("/variables/Plain", content=b"{" + b" " * MAX_BODY + b"}"),
                "unknown path": await client.get("/heartbeat"),
                "deeper path": await client.get("/variables/Plain/more"),
                "dot dot": await client.get("/variables/%2E%2E"),
                "put a credential": await client.put("/credentials/Plain", json={"value": 1}),
                "not json": await client.put("/variables/Plain", content=b"{nope"),
                "not an object": await client.put("/variables/Plain", json=[1]),
                "no body": await client.post("/children"),
                "bad child": await client.get("/children/not-a-uuid"),
                "bad wait": await client.get("/children/0b7b5e2e-6a43-4a8e-9d7e-4c6c1f0a2b31?wait=600"),
            }
            return {what: (answer.status_code, answer.json()["code"]) for what, answer in refused.items()}

    codes = asyncio.run(scenario())
    assert codes == {
        "too large": (413, "too_large"),
        "unknown path": (404, "not_found"),
        "deeper path": (404, "not_found"),
        "dot dot": (400, "invalid_name"),
        "put a credential": (405, "method_not_allowed"),
        "not json": (400, "invalid_json"),
        "not an object": (400, "invalid_body"),
        "no body": (400, "invalid_body"),
        "bad child": (404, "not_found"),
        "bad wait": (400, "invalid_wait"),
    }
    assert fake.of("jobs/assets") == []


def test_a_server_that_takes_the_lease_back_or_cannot_be_reached_is_told_to_the_runbook(fake):
    job = fake.queue("bash", "true\n")

    async def scenario():
        async with opened(fake.endpoint, job) as relay, http(relay) as client:
            fake.take_back(job)
            lost = await client.get("/variables/Plain")
            assert (lost.status_code, lost.json()["code"]) == (409, "lease_lost")
        # Nothing listens on port 9 (discard) of the loopback here.
        async with opened(f"http://127.0.0.1:9/agentsvc/accounts/{ACCOUNT}", job) as relay, http(relay) as client:
            away = await client.get("/variables/Plain")
            assert (away.status_code, away.json()["code"]) == (502, "server_unreachable")
            assert away.json()["detail"].startswith("worker fake01 cannot reach the server: ")
            assert CREDENTIAL not in away.text

    run(scenario)


def test_once_closed_the_relay_takes_no_connection_and_ends_a_wait_in_progress(fake):
    job = fake.queue("bash", "true\n")

    async def scenario():
        async with opened(fake.endpoint, job) as relay, http(relay) as client:
            child = (await client.post("/children", json={"runbook": "child"})).json()["id"]
            waiting = asyncio.create_task(client.get(f"/children/{child}?wait=30"))
            while not any(r.path.startswith("children/") for r in fake.of("jobs/assets")):
                await asyncio.sleep(0.05)
            url = relay.url
            await relay.close()
            with pytest.raises(httpx.TransportError):
                await waiting
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{url}/variables/Plain")

    run(scenario)
