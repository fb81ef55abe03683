"""The agent's pure parts, in process: endpoint parsing, proxy choice, backoff, naming, redaction.

workers/ has no Django in it, so these need no database or server.
"""

import ast
import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import BASE_DIR
from workers.backoff import Backoff
from workers.cli import join_option_values
from workers.client import Probe, parse_endpoint
from workers.diagnose import Diagnosis
from workers.errors import AgentError
from workers.facts import default_worker_name
from workers.heartbeat import Transitions
from workers.logs import RedactingFilter, Redactor
from workers.network import is_loopback, proxy_for, without_password
from workers.state import StateDir, default_state_dir
from workers.systemd import escape_path

ACCOUNT = "6f1c1a49-3b1e-4a55-a9ef-7f3d1f3f1c11"
FORBIDDEN = ("django", "automation", "portal", "rest_framework", "channels", "celery")


def test_the_agent_imports_nothing_from_the_server_side():
    for path in (BASE_DIR / "workers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, workers.cli, workers.service, workers.diagnose, workers.registration, "
            "workers.status, workers.systemd; print(' '.join(sys.modules))",
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert not [m for m in loaded if m.split(".")[0] in FORBIDDEN]


@pytest.mark.parametrize(
    "url, expected",
    [
        (f"https://portal.example/agentsvc/accounts/{ACCOUNT}", f"https://portal.example/agentsvc/accounts/{ACCOUNT}"),
        (f"http://127.0.0.1:8000/agentsvc/accounts/{ACCOUNT}/", f"http://127.0.0.1:8000/agentsvc/accounts/{ACCOUNT}"),
        (
            f"https://h.example/sub/agentsvc/accounts/{ACCOUNT.upper()}",
            f"https://h.example/sub/agentsvc/accounts/{ACCOUNT.upper()}",
        ),
    ],
)
def test_an_endpoint_url_from_the_keys_blade_is_accepted(url, expected):
    endpoint = parse_endpoint(url)
    assert endpoint.url == expected
    assert endpoint.account_id == ACCOUNT


@pytest.mark.parametrize(
    "url",
    [
        "portal.example/agentsvc/accounts/" + ACCOUNT,
        "ftp://portal.example/agentsvc/accounts/" + ACCOUNT,
        "https://portal.example/agentsvc/",
        "https://portal.example/agentsvc/accounts/not-a-uuid-at-all-not-a-uuid-at-all1",
        f"https://portal.example/agentsvc/accounts/{ACCOUNT}?x=1",
    ],
)
def test_other_urls_are_refused_with_the_expected_shape(url):
    with pytest.raises(AgentError, match="Expected http\\(s\\)://HOST/agentsvc/accounts/<account id>"):
        parse_endpoint(url)


def test_the_proxy_comes_from_the_environment_with_no_proxy_and_lower_case_first():
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "HTTP_PROXY": "proxy:8080"}
    assert proxy_for("https://portal.example/x", env) == "http://lower:3128"
    assert proxy_for("http://portal.example/x", env) == "http://proxy:8080"
    assert proxy_for("https://portal.example/x", {**env, "NO_PROXY": ".example"}) is None
    assert proxy_for("https://portal.example/x", {**env, "no_proxy": "other.test,portal.example"}) is None
    assert proxy_for("https://portal.example/x", {"ALL_PROXY": "http://all:1"}) == "http://all:1"
    assert proxy_for("https://portal.example/x", {}) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "[::1]", "agent.localhost"])
def test_loopback_never_goes_through_a_proxy(host):
    assert is_loopback(host.strip("[]"))
    assert proxy_for(f"http://{host}:8000/x", {"HTTP_PROXY": "http://proxy:3128", "ALL_PROXY": "http://p:1"}) is None


def test_a_proxy_password_is_not_printed():
    assert without_password("http://ops:hunter22@proxy:3128") == "http://ops:***@proxy:3128"
    assert without_password("http://proxy:3128") == "http://proxy:3128"


def test_backoff_grows_to_the_cap_with_jitter_and_starts_again_after_a_success():
    random.seed(7)
    backoff = Backoff(base=1, cap=60)
    delays = [backoff.next() for _ in range(12)]
    assert 0.5 <= delays[0] <= 1
    assert all(ceiling / 2 <= d <= ceiling for d, ceiling in zip(delays, [1, 2, 4, 8, 16, 32] + [60] * 6, strict=True))
    assert len(set(delays[6:])) > 1, "jitter: a fleet must not retry in step"
    backoff.reset()
    assert backoff.next() <= 1


def test_a_condition_is_logged_when_it_starts_and_ends_not_per_retry(caplog):
    log = logging.getLogger("test.transitions")
    link = Transitions(log)
    with caplog.at_level(logging.INFO, logger="test.transitions"):
        for _ in range(5):
            link.failed("unreachable", "server unreachable: connection refused")
        link.recovered()
        link.recovered()
    assert [r.getMessage() for r in caplog.records] == [
        "server unreachable: connection refused",
        "server reachable again",
    ]


def test_a_key_that_starts_with_a_dash_stays_the_options_value():
    assert join_option_values(["register", "--token", "-abc", "--group", "g"]) == [
        "register",
        "--token=-abc",
        "--group=g",
    ]
    assert join_option_values(["remove", "--key", "-"]) == ["remove", "--key=-"]
    assert join_option_values(["remove", "--token-file", "-k"]) == ["remove", "--token-file=-k"]


def test_the_default_name_fits_the_servers_naming_rule(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "web01.corp.example")
    assert default_worker_name() == "web01.corp.example"
    monkeypatch.setattr("socket.gethostname", lambda: "bad/host name!")
    assert default_worker_name() == "bad-host name-"


def test_the_default_state_folder_depends_on_who_runs_it(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert default_state_dir() == Path("/var/lib/hybridworker")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", "/home/u/.state")
    assert default_state_dir() == Path("/home/u/.state/hybridworker")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_dir() == Path.home() / ".local" / "state" / "hybridworker"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/var/lib/hybridworker", "var-lib-hybridworker"),
        ("/srv/my-agent/state", "srv-my\\x2dagent-state"),
        ("/opt/agent two", "opt-agent\\x20two"),
    ],
)
def test_unit_names_escape_the_state_folder_like_systemd_escape(path, expected):
    assert escape_path(Path(path)) == expected


def test_the_log_filter_hides_secrets_even_in_exceptions():
    redact = Redactor()
    redact.hide("hrw_abc_supersecretvalue")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", ("hrw_abc_supersecretvalue",), None)
    try:
        raise ValueError("hrw_abc_supersecretvalue")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactingFilter(redact).filter(record)
    text = logging.Formatter().format(record)
    assert "supersecret" not in text and "[redacted]" in text


@pytest.mark.parametrize("skew, outcome", [(0.4, "PASS"), (-59.0, "PASS"), (75.0, "FAIL"), (-3600.0, "FAIL")])
def test_the_clock_check_allows_a_minute_of_skew(tmp_path, skew, outcome):
    diagnosis = Diagnosis(StateDir(tmp_path))
    diagnosis.check_clock(Probe(405, True, None, 0.0, 0.0, None), skew)
    (check,) = diagnosis.checks
    assert check.outcome == outcome
    if outcome == "FAIL":
        assert ("behind" if skew > 0 else "ahead of") in check.detail and "NTP" in check.fix


def test_the_state_dir_may_come_before_the_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "--state-dir", str(tmp_path / "s"), "status"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"not registered (state folder {tmp_path / 's'})" in result.stderr
    register = f"'hybridworker register --group NAME --endpoint URL --token - --state-dir {tmp_path / 's'}'"
    assert register in result.stderr
