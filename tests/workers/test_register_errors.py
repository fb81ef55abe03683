"""What `register` says when it cannot register: the server's words, one line, no traceback."""

from automation.models import HybridWorker
from tests.support.postgres import free_port
from tests.workers.conftest import assert_no_secrets, register


def test_a_wrong_key_is_refused_with_the_servers_message(server, people, keys, make_agent):
    agent = make_agent("badkey")
    wrong = "x" * 64
    result = agent("register", "--group", "web", "--endpoint", server.endpoint(people.account), "--token", wrong)
    assert result.returncode == 1
    assert result.stderr.startswith("error: The access key is not valid for this Automation account.")
    assert "Traceback" not in result.stderr
    assert not agent.file("registration.json").exists()
    assert_no_secrets(result.stdout + result.stderr, wrong)


def test_a_name_taken_in_the_group_suggests_another_name(server, people, keys, make_agent):
    endpoint = server.endpoint(people.account)
    register(make_agent("first"), endpoint, keys["primary"], "web", "--name", "web01")
    second = make_agent("second")
    result = second("register", "--group", "web", "--endpoint", endpoint, "--token", keys["primary"], "--name", "web01")
    assert result.returncode == 1
    assert "already named 'web01'" in result.stderr and "--name" in result.stderr
    assert HybridWorker.objects.filter(group__name="web").count() == 1


def test_a_machine_registered_in_one_group_is_told_how_to_move_to_another(server, people, keys, make_agent):
    endpoint = server.endpoint(people.account)
    agent = make_agent("mover")
    register(agent, endpoint, keys["primary"], "group-a", "--name", "mover")
    result = agent("register", "--group", "group-b", "--endpoint", endpoint, "--token", keys["primary"])
    assert result.returncode == 1
    assert "already registered as worker 'mover' in hybrid worker group 'group-a'" in result.stderr
    assert "hybridworker remove" in result.stderr
    # The local registration still describes group-a, where the machine still is.
    assert '"group": "group-a"' in agent.file("registration.json").read_text()


def test_an_invalid_group_name_gets_the_servers_naming_rule(server, people, keys, make_agent):
    agent = make_agent("badname")
    result = agent(
        "register", "--group", "no/slashes", "--endpoint", server.endpoint(people.account), "--token", keys["primary"]
    )
    assert result.returncode == 1
    assert "group: Names are 1 to 128 characters" in result.stderr


def test_a_key_starting_with_a_dash_is_taken_as_the_keys_value(server, people, keys, make_agent):
    agent = make_agent("dash")
    result = agent("register", "--group", "web", "--endpoint", server.endpoint(people.account), "--token", "-not-a-key")
    assert result.returncode == 1
    assert "The access key is not valid" in result.stderr


def test_the_key_can_come_from_standard_input(server, people, keys, make_agent):
    agent = make_agent("stdin")
    endpoint = server.endpoint(people.account)
    result = agent("register", "--group", "web", "--endpoint", endpoint, "--token", "-", stdin=keys["primary"] + "\n")
    assert result.returncode == 0, result.stderr
    assert "Registered worker" in result.stdout


def test_an_unreachable_endpoint_is_one_clear_line(make_agent):
    agent = make_agent("nowhere")
    endpoint = f"http://127.0.0.1:{free_port()}/agentsvc/accounts/6f1c1a49-3b1e-4a55-a9ef-7f3d1f3f1c11"
    result = agent("register", "--group", "web", "--endpoint", endpoint, "--token", "k" * 64)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot reach {endpoint}/v1/register: connection refused"


def test_a_url_that_is_not_an_agent_endpoint_is_refused_before_any_request(make_agent):
    agent = make_agent("badurl")
    result = agent("register", "--group", "web", "--endpoint", "https://portal.example/keys", "--token", "k" * 64)
    assert result.returncode == 1
    assert "is not an agent service URL" in result.stderr and "/agentsvc/accounts/" in result.stderr


def test_missing_arguments_are_argparse_errors(make_agent):
    agent = make_agent("args")
    result = agent("register", "--group", "web")
    assert result.returncode == 2
    assert "the following arguments are required: --endpoint/--url" in result.stderr
