"""`hybridworker run`: one per state folder, rides out a server outage, stops cleanly on SIGTERM."""

import signal

from tests.workers.conftest import register, wait_for_heartbeat_after, wait_until, worker_of

GROUP = "service"


def test_a_second_run_on_the_same_state_folder_is_refused(server, people, keys, make_agent):
    agent = make_agent("busy")
    register(agent, server.endpoint(people.account), keys["primary"], GROUP, "--name", "busy")
    first = agent.start()
    wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at)

    second = agent("run")
    assert second.returncode == 2
    assert f"another 'hybridworker run' (pid {first.popen.pid}) is already using the state folder" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.alive()
    assert agent.log.count("started (pid") == 1


def test_run_without_a_registration_says_so_and_exits_3(make_agent):
    agent = make_agent("never")
    result = agent("run")
    assert result.returncode == 3
    assert "not registered" in result.stderr and "hybridworker register" in result.stderr


def test_run_rides_out_the_server_going_away_and_logs_it_once(server, people, keys, make_agent):
    agent = make_agent("outage")
    register(agent, server.endpoint(people.account), keys["primary"], GROUP, "--name", "outage")
    run = agent.start("--verbose")
    wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at)

    server.stop()
    # Refused, or (stopped while a heartbeat was on its way) closed without an answer: either says unreachable.
    wait_until(lambda: "server unreachable: " in agent.log, "the outage to be noticed", agent=agent)
    # Let it retry a few times (each retry is a debug line), so "once" means something.
    wait_until(lambda: agent.log.count("next attempt in") >= 3, "three retries", agent=agent)
    assert run.alive()

    server.start_again()
    before = worker_of(agent).last_seen_at
    seen = wait_for_heartbeat_after(agent, before, "a heartbeat after the outage")
    wait_for_heartbeat_after(agent, seen, "a second heartbeat after the outage")

    log = agent.log
    assert log.count("server unreachable") == 1, log
    assert log.count("server reachable again") == 1, log
    assert log.index("server unreachable") < log.index("server reachable again")

    run.popen.send_signal(signal.SIGTERM)
    assert run.wait() == 0
    assert "received SIGTERM; stopping" in agent.log
    assert not agent.file("hybridworker.pid").exists()


def test_sigint_stops_the_service_cleanly_too(server, people, keys, make_agent):
    agent = make_agent("ctrl-c")
    register(agent, server.endpoint(people.account), keys["primary"], GROUP, "--name", "ctrl-c")
    run = agent.start()
    wait_until(lambda: agent.file("last_heartbeat.json").exists(), "the first recorded heartbeat", agent=agent)
    run.popen.send_signal(signal.SIGINT)
    assert run.wait() == 0
    assert "Traceback" not in run.stderr
    assert "received SIGINT; stopping" in agent.log


def test_status_reports_the_last_heartbeat_the_service_recorded(server, people, keys, make_agent):
    agent = make_agent("recorded")
    register(agent, server.endpoint(people.account), keys["primary"], GROUP, "--name", "recorded")
    run = agent.start()
    wait_until(lambda: agent.file("last_heartbeat.json").exists(), "the first recorded heartbeat", agent=agent)
    assert agent.file("hybridworker.pid").read_text().strip() == str(run.popen.pid)
    assert run.terminate() == 0

    status = agent("status")
    assert status.returncode == 0
    assert "Last heartbeat: " in status.stdout and " s ago" in status.stdout
    assert "Service:        not running" in status.stdout
