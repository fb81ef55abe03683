"""A worker's life: register, status, run, removed by an operator, register again, remove."""

import re
import socket
import stat

from automation.models import HybridWorker, HybridWorkerGroup
from tests.workers.conftest import (
    assert_no_secrets,
    register,
    remove_through_management_api,
    wait_for_heartbeat_after,
    wait_until,
    worker_of,
)

GROUP = "Linux workers"
REMOVED = f"this worker was removed from group {GROUP}; run 'hybridworker register' to add it again"


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_worker_registers_runs_is_removed_registers_again_and_is_removed_from_the_machine(
    server, people, keys, api_token, make_agent
):
    account = people.account
    endpoint = server.endpoint(account)
    agent = make_agent("web01")

    registered = register(agent, endpoint, keys["primary"], GROUP, "--name", "web01", "--verbose")
    assert f"Registered worker 'web01' in hybrid worker group '{GROUP}'" in registered.stdout
    assert "VERBOSE: Generated a new machine id" in registered.stdout
    assert "VERBOSE: Collecting host facts" in registered.stdout
    assert f"VERBOSE: Contacting {endpoint}/v1/register directly" in registered.stdout

    group = HybridWorkerGroup.objects.get(account=account, name=GROUP)
    worker = HybridWorker.objects.get(group=group)
    assert worker.name == "web01"
    assert worker.machine_id == agent.machine_id()
    assert worker.facts["hostname"] == socket.gethostname()
    assert worker.facts["agent_version"] == "0.1.0"
    assert isinstance(worker.facts["cpu_count"], int) and worker.facts["cpu_count"] >= 1
    assert worker.facts["memory_bytes"] > 0 and worker.facts["disk_free_bytes"] > 0
    assert worker.os and worker.version == "0.1.0"
    assert mode(agent.state_dir) == 0o700
    assert mode(agent.file("credential")) == 0o600

    status = agent("status")
    assert status.returncode == 0, status.stderr
    for expected in ("web01", str(worker.pk), GROUP, str(account.pk), endpoint, "none yet", "not running"):
        assert expected in status.stdout

    run = agent.start()
    seen = wait_for_heartbeat_after(agent, worker.last_seen_at)
    wait_for_heartbeat_after(agent, seen, "a second heartbeat")
    status = agent("status")
    assert re.search(rf"Service:\s+running \(pid {run.popen.pid}\)", status.stdout), status.stdout
    assert "none yet" not in status.stdout and " s ago" in status.stdout

    remove_through_management_api(server, account, worker, api_token)
    assert run.wait() == 3
    assert REMOVED in run.stderr.splitlines()
    assert REMOVED in agent.log

    again = register(agent, endpoint, keys["primary"], GROUP, "--name", "web01")
    assert f"Registered worker 'web01' in hybrid worker group '{GROUP}'" in again.stdout
    worker = worker_of(agent)
    assert worker is not None and worker.group.name == GROUP
    second = agent.start()
    wait_for_heartbeat_after(agent, worker.last_seen_at)

    removed = agent("remove", "--url", endpoint, "--key", keys["primary"], "--verbose")
    assert removed.returncode == 0, removed.stderr
    assert f"Removed worker 'web01' from hybrid worker group '{GROUP}'" in removed.stdout
    assert not HybridWorker.objects.filter(machine_id=agent.machine_id()).exists()
    assert not agent.file("registration.json").exists()
    assert not agent.file("credential").exists()
    assert agent.file("machine_id").exists()
    assert second.wait() == 3

    status = agent("status")
    assert status.returncode == 1
    assert "not registered" in status.stderr

    # Removing again: the server no longer knows the machine, and there is nothing left locally.
    twice = agent("remove", "--url", endpoint, "--key", keys["primary"])
    assert twice.returncode == 0, twice.stderr
    assert "was not registered" in twice.stdout

    assert_no_secrets(agent.everything_it_said(), keys["primary"], keys["secondary"], *agent.credentials)
    assert len(agent.credentials) == 2


def test_remove_cleans_up_locally_when_the_server_no_longer_knows_the_machine(
    server, people, keys, api_token, make_agent
):
    endpoint = server.endpoint(people.account)
    agent = make_agent("gone")
    register(agent, endpoint, keys["secondary"], GROUP, "--name", "gone")
    remove_through_management_api(server, people.account, worker_of(agent), api_token)

    removed = agent("remove", "--url", endpoint, "--key", keys["secondary"])
    assert removed.returncode == 0, removed.stderr
    assert "not registered in this Automation account; removed its local registration" in removed.stdout
    assert not agent.file("registration.json").exists()
    assert agent.file("machine_id").exists()


def test_remove_works_from_the_machine_id_alone_when_the_local_registration_is_lost(server, people, keys, make_agent):
    endpoint = server.endpoint(people.account)
    agent = make_agent("lost")
    register(agent, endpoint, keys["primary"], GROUP, "--name", "lost")
    agent.file("registration.json").unlink()
    agent.file("credential").unlink()

    removed = agent("remove", "--url", endpoint, "--key", keys["primary"])
    assert removed.returncode == 0, removed.stderr
    assert f"Removed worker 'lost' from hybrid worker group '{GROUP}'" in removed.stdout
    assert not HybridWorker.objects.filter(machine_id=agent.machine_id()).exists()


def test_remove_without_any_state_says_there_is_nothing_to_remove(server, people, keys, make_agent):
    agent = make_agent("empty")
    removed = agent("remove", "--url", server.endpoint(people.account), "--key", keys["primary"])
    assert removed.returncode == 1
    assert "no machine id" in removed.stderr and "--state-dir" in removed.stderr


def test_a_registration_made_while_the_service_runs_is_taken_up_without_a_restart(server, people, keys, make_agent):
    endpoint = server.endpoint(people.account)
    agent = make_agent("renew")
    register(agent, endpoint, keys["primary"], GROUP, "--name", "renew")
    run = agent.start()
    wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at)

    renewed = register(agent, endpoint, keys["primary"], GROUP, "--name", "renew")
    assert "Renewed the registration of worker 'renew'" in renewed.stdout
    assert f"The service (pid {run.popen.pid}) picks up the new credential" in renewed.stdout
    wait_until(lambda: "using the new credential" in agent.log, "the service to take up the new credential")
    wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at, "a heartbeat with the new credential")
    assert run.alive()
    assert run.terminate() == 0
