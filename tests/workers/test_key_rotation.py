"""Regenerating an account key does not disconnect workers: they hold credentials of their own."""

from automation.services.actor import Actor
from automation.services.keys import regenerate_key
from tests.workers.conftest import assert_no_secrets, register, wait_for_heartbeat_after, worker_of

GROUP = "rotation"


def test_workers_registered_with_either_key_keep_heartbeating_after_the_primary_is_regenerated(
    server, people, keys, make_agent
):
    endpoint = server.endpoint(people.account)
    first, second = make_agent("a"), make_agent("b")

    register(first, endpoint, keys["secondary"], GROUP, "--name", "worker-a")
    new_primary = regenerate_key(account=people.account, slot="primary", actor=Actor(user=people.owner))
    assert new_primary != keys["primary"]

    old = second("register", "--group", GROUP, "--endpoint", endpoint, "--token", keys["primary"], "--name", "b")
    assert old.returncode != 0
    assert "The access key is not valid for this Automation account" in old.stderr

    register(second, endpoint, new_primary, GROUP, "--name", "worker-b")
    assert first.machine_id() != second.machine_id()

    runs = [first.start(), second.start()]
    for agent in (first, second):
        seen = wait_for_heartbeat_after(agent, worker_of(agent).last_seen_at)
        wait_for_heartbeat_after(agent, seen, "a second heartbeat")
    assert all(run.alive() for run in runs)
    assert {worker_of(first).name, worker_of(second).name} == {"worker-a", "worker-b"}

    for run in runs:
        assert run.terminate() == 0
    said = first.everything_it_said() + second.everything_it_said()
    assert_no_secrets(said, keys["primary"], keys["secondary"], new_primary, *first.credentials, *second.credentials)
