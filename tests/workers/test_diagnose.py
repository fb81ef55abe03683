"""`hybridworker diagnose` against a live server: what passes, and what it says when something fails; and its
checks in process."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.postgres import free_port
from tests.workers.conftest import register, remove_through_management_api, wait_for_heartbeat_after, worker_of
from workers.client import Probe
from workers.diagnose import Diagnosis
from workers.state import StateDir

GROUP = "diagnosed"


def outcomes(output: str) -> dict[str, str]:
    """{"clock": "PASS  clock: within 0.0 s ...", ...}"""
    found = {}
    for line in output.splitlines():
        head, _, _ = line.partition(":")
        if head[:4] in ("PASS", "FAIL", "WARN", "SKIP"):
            found[head[6:]] = line
    return found


def test_a_registered_running_worker_passes_and_problems_come_with_a_fix(server, people, keys, api_token, make_agent):
    endpoint = server.endpoint(people.account)
    agent = make_agent("diag")
    register(agent, endpoint, keys["primary"], GROUP, "--name", "diag")
    run = agent.start()
    wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at)

    healthy = agent("diagnose")
    checks = outcomes(healthy.stdout)
    assert healthy.returncode == 0, healthy.stdout
    assert checks["registered"].startswith("PASS") and "'diag' in group 'diagnosed'" in checks["registered"]
    assert checks["endpoint reachable"] == f"PASS  endpoint reachable: {endpoint} answered directly (HTTP 405)"
    assert checks["TLS certificate"].startswith("SKIP  TLS certificate: plain HTTP")
    assert checks["credential accepted"].startswith("PASS")
    assert checks["clock"].startswith("PASS  clock: within")
    assert checks["state folder writable"].startswith("PASS")
    assert checks["service running"].startswith(
        f"PASS  service running: hybridworker run is running (pid {run.popen.pid})"
    )
    for resource in ("CPU cores", "memory", "disk space"):
        assert checks[resource][:4] in ("PASS", "WARN")
    assert "fix:" not in healthy.stdout or "WARN" in healthy.stdout

    assert run.terminate() == 0
    stopped = agent("diagnose")
    assert stopped.returncode == 1
    assert outcomes(stopped.stdout)["service running"].startswith("FAIL  service running: no 'hybridworker run'")
    assert re.search(r"fix: start it: systemctl start '?hybridworker-\S+\.service", stopped.stdout)

    remove_through_management_api(server, people.account, worker_of(agent), api_token)
    removed = agent("diagnose")
    assert outcomes(removed.stdout)["credential accepted"].startswith("FAIL  credential accepted: HTTP 401")
    # As printed, the command works: the key asked for, and this agent's state folder.
    again = f"register again: hybridworker register --group {GROUP} --endpoint {endpoint} --token -"
    assert f"      fix: {again} --state-dir {agent.state_dir}" in removed.stdout.splitlines()

    server.stop()
    down = agent("diagnose")
    checks = outcomes(down.stdout)
    assert down.returncode == 1
    assert (
        checks["endpoint reachable"]
        == f"FAIL  endpoint reachable: cannot reach {endpoint} directly: connection refused"
    )
    assert "fix: make sure this machine has outbound access to 127.0.0.1:" in down.stdout
    assert checks["credential accepted"].startswith("SKIP")


def test_diagnose_before_registering_needs_an_endpoint(make_agent):
    agent = make_agent("fresh")
    result = agent("diagnose")
    checks = outcomes(result.stdout)
    assert result.returncode == 1
    assert checks["registered"].startswith("FAIL  registered: not registered")
    assert (
        f"fix: hybridworker register --group NAME --endpoint URL --token - --state-dir {agent.state_dir} "
        in result.stdout
    )
    assert checks["endpoint reachable"].startswith("SKIP")
    assert checks["state folder writable"].startswith("PASS") and "can be created" in checks["state folder writable"]
    assert not agent.state_dir.exists(), "diagnose must not create the state folder"


class FakeProxy:
    """An HTTP proxy that answers every request itself, like the agent API would to a GET, and notes it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.requests.append(f"{self.command} {self.path} auth={self.headers.get('Proxy-Authorization')}")
                body = json.dumps({"code": "method_not_allowed", "detail": "GET not allowed."}).encode()
                self.send_response(405)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_proxy():
    proxy = FakeProxy()
    yield proxy
    proxy.close()


def test_the_proxy_from_the_environment_is_used_and_named(fake_proxy, make_agent, agent_env):
    endpoint = "http://portal.example/agentsvc/accounts/6f1c1a49-3b1e-4a55-a9ef-7f3d1f3f1c11"
    proxied = f"http://ops:hunter22@{fake_proxy.url.removeprefix('http://')}"
    agent = make_agent("proxied", env={**agent_env, "HTTP_PROXY": proxied})
    result = agent("diagnose", "--endpoint", endpoint)
    line = outcomes(result.stdout)["endpoint reachable"]
    shown = f"http://ops:***@{proxied.split('@')[1]}"
    assert line == f"PASS  endpoint reachable: {endpoint} answered through proxy {shown} (HTTP 405)"
    assert fake_proxy.requests and fake_proxy.requests[0].startswith(f"GET {endpoint}/v1/heartbeat auth=Basic ")
    assert "hunter22" not in result.stdout + result.stderr


def test_loopback_endpoints_never_go_through_a_proxy(server, people, keys, make_agent, agent_env):
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    env = {**agent_env, "HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy, "ALL_PROXY": dead_proxy}
    agent = make_agent("loopback", env=env)
    result = register(agent, server.endpoint(people.account), keys["primary"], GROUP, "--name", "lo", "--verbose")
    assert "/v1/register directly" in result.stdout


@pytest.mark.parametrize("skew, outcome", [(0.4, "PASS"), (-59.0, "PASS"), (75.0, "FAIL"), (-3600.0, "FAIL")])
def test_the_clock_check_allows_a_minute_of_skew(tmp_path, skew, outcome):
    diagnosis = Diagnosis(StateDir(tmp_path))
    diagnosis.check_clock(Probe(405, True, None, 0.0, 0.0, None), skew)
    (check,) = diagnosis.checks
    assert check.outcome == outcome
    if outcome == "FAIL":
        assert ("behind" if skew > 0 else "ahead of") in check.detail and "NTP" in check.fix
