"""Every `hybridworker` command takes the same names for the same things, the older spellings as aliases."""

import argparse

import pytest

from automation.models import HybridWorker
from tests.workers.conftest import GROUP, assert_no_secrets, worker_of
from workers.cli import build_parser

# What a thing is called wherever a command takes it: the canonical option first, then its aliases.
NAMES = {
    "endpoint": ["--endpoint", "--url"],
    "token": ["--token", "--key"],
    "token_file": ["--token-file"],
    "state_dir": ["--state-dir"],
    "group": ["--group"],
    "ca_bundle": ["--ca-bundle"],
    "verbose": ["--verbose", "-v"],
}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (choices,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(choices.choices)


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_a_command_names_each_thing_as_every_other_command_does(command):
    parser = subcommands()[command]
    for action in parser._actions:
        if action.dest not in NAMES:
            continue
        assert action.option_strings == NAMES[action.dest], f"{command} {action.option_strings}"
        for alias in action.option_strings[1:]:
            if alias.startswith("--"):
                assert f"{alias} is an alias" in action.help, f"{command} {action.option_strings}: {action.help!r}"
    assert "state_dir" in {action.dest for action in parser._actions}, command


@pytest.mark.parametrize("command", ["register", "remove"])
def test_a_command_that_takes_the_access_key_takes_it_in_every_way(command):
    options = {option for action in subcommands()[command]._actions for option in action.option_strings}
    assert {"--endpoint", "--url", "--token", "--key", "--token-file"} <= options
    assert "HYBRIDWORKER_TOKEN" in subcommands()[command].format_help()


def test_register_and_remove_take_both_spellings(server, people, keys, make_agent):
    endpoint = server.endpoint(people.account)
    agent = make_agent("both")

    older = agent("register", "--group", GROUP, "--url", endpoint, "--key", keys["primary"], "--name", "both")
    assert older.returncode == 0, older.stderr
    assert worker_of(agent).name == "both"
    canonical = agent("remove", "--endpoint", endpoint, "--token", keys["primary"])
    assert canonical.returncode == 0, canonical.stderr
    assert "Removed worker 'both'" in canonical.stdout
    assert not HybridWorker.objects.filter(machine_id=agent.machine_id()).exists()

    again = agent("register", "--group", GROUP, "--endpoint", endpoint, "--token", keys["secondary"], "--name", "both")
    assert again.returncode == 0, again.stderr
    aliased = agent("remove", "--url", endpoint, "--key", keys["secondary"])
    assert aliased.returncode == 0, aliased.stderr
    assert not HybridWorker.objects.filter(machine_id=agent.machine_id()).exists()
    assert_no_secrets(agent.everything_it_said(), keys["primary"], keys["secondary"])


@pytest.mark.parametrize("option", ["--endpoint", "--url"])
def test_diagnose_takes_both_spellings_of_the_endpoint(server, people, make_agent, option):
    endpoint = server.endpoint(people.account)
    agent = make_agent("diag")

    result = agent("diagnose", option, endpoint)

    assert "argument" not in result.stderr, result.stderr
    assert f"PASS  endpoint reachable: {endpoint} answered directly" in result.stdout


def test_help_names_the_canonical_options_and_their_aliases(make_agent):
    agent = make_agent("help")
    for command in ("register", "remove"):
        result = agent(command, "--help")
        assert result.returncode == 0
        assert "--endpoint URL, --url URL" in result.stdout
        assert "--token KEY, --key KEY" in result.stdout
        assert "--token-file FILE" in result.stdout
