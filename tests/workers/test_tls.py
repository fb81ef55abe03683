"""An endpoint behind TLS with a private CA: trusted with --ca-bundle, refused clearly without it."""

import pytest

from tests.support.tls import make_private_ca, start_tls_daphne
from tests.workers.conftest import SERVER_SETTINGS, assert_no_secrets, register, wait_for_heartbeat_after, worker_of


@pytest.fixture
def tls_server(server_env, log_dir, tmp_path, transactional_db):
    ca = make_private_ca(tmp_path / "ca")
    process, url = start_tls_daphne({**server_env, **SERVER_SETTINGS}, log_dir, ca)
    yield ca, url
    process.stop()


def line_of(output: str, check: str) -> str:
    return next((line for line in output.splitlines() if f"  {check}:" in line), f"<no {check} line>")


def test_register_and_diagnose_need_the_private_ca_and_work_with_it(tls_server, people, keys, make_agent):
    ca, url = tls_server
    endpoint = f"{url}/agentsvc/accounts/{people.account.pk}"
    agent = make_agent("tls")

    untrusted = agent("diagnose", "--endpoint", endpoint)
    assert untrusted.returncode != 0
    assert line_of(untrusted.stdout, "endpoint reachable").startswith("PASS")
    tls_line = line_of(untrusted.stdout, "TLS certificate")
    assert tls_line.startswith("FAIL") and "certificate of 127.0.0.1 was not accepted" in tls_line
    assert "--ca-bundle" in untrusted.stdout

    refused = agent("register", "--group", "dmz", "--endpoint", endpoint, "--token", keys["primary"])
    assert refused.returncode != 0
    assert f"cannot reach {endpoint}/v1/register: TLS certificate not accepted" in refused.stderr
    assert "--ca-bundle FILE" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not agent.file("registration.json").exists()

    trusted = agent("diagnose", "--endpoint", endpoint, "--ca-bundle", str(ca.ca_cert))
    assert trusted.returncode == 0, trusted.stdout
    assert line_of(trusted.stdout, "TLS certificate").startswith("PASS  TLS certificate: valid for 127.0.0.1")

    register(agent, endpoint, keys["primary"], "dmz", "--name", "dmz01", "--ca-bundle", str(ca.ca_cert))
    assert agent.file("ca-bundle.pem").read_bytes() == ca.ca_cert.read_bytes()

    # Later commands use the CA kept in the state folder, registering again too.
    renewed = register(agent, endpoint, keys["primary"], "dmz", "--name", "dmz01")
    assert "Renewed the registration of worker 'dmz01'" in renewed.stdout
    after = agent("diagnose")
    assert line_of(after.stdout, "TLS certificate").startswith("PASS")
    assert line_of(after.stdout, "credential accepted").startswith("PASS")
    assert line_of(after.stdout, "clock").startswith("PASS")
    run = agent.start()
    wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at)
    assert run.terminate() == 0
    assert_no_secrets(agent.everything_it_said(), keys["primary"], *agent.credentials)


def test_a_certificate_issued_for_another_host_is_refused(server_env, log_dir, tmp_path, people, keys, make_agent):
    ca = make_private_ca(tmp_path / "ca", "portal.example")
    process, url = start_tls_daphne({**server_env, **SERVER_SETTINGS}, log_dir, ca)
    try:
        endpoint = f"{url}/agentsvc/accounts/{people.account.pk}"
        agent = make_agent("mismatch")
        result = agent("diagnose", "--endpoint", endpoint, "--ca-bundle", str(ca.ca_cert))
        tls_line = line_of(result.stdout, "TLS certificate")
        assert result.returncode != 0
        assert tls_line.startswith("FAIL") and "mismatch" in tls_line and "127.0.0.1" in tls_line
    finally:
        process.stop()
