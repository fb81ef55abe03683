"""The access key reaches `register` and `remove` without being on the command line.

`--token KEY`, `--token -` (standard input; a prompt without echo at a terminal), `--token-file FILE`
or `HYBRIDWORKER_TOKEN`: the command line wins over the environment, two sources on the command
line are refused, and no message ever holds the key.
"""

import fcntl
import os
import select
import subprocess
import termios
import time

import pytest

from automation.models import HybridWorker
from tests.support.processes import BASE_DIR
from tests.workers.conftest import DEADLINE, GROUP, assert_no_secrets, worker_of

# Never contacted: the command must refuse before any request.
NOWHERE = "http://127.0.0.1:9/agentsvc/accounts/6f1c1a49-3b1e-4a55-a9ef-7f3d1f3f1c11"
A_KEY = "k3y-that-must-not-show-" + "x" * 40


def target(command: str) -> list[str]:
    """The arguments besides the key that `command` needs."""
    return [command, *(["--group", GROUP] if command == "register" else []), "--endpoint", NOWHERE]


def key_file(tmp_path, text: str, name: str = "key"):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("command", ["register", "remove"])
def test_the_key_comes_from_a_file_with_its_trailing_newline_stripped(
    server, people, keys, make_agent, tmp_path, command
):
    endpoint = server.endpoint(people.account)
    agent = make_agent("file")
    path = key_file(tmp_path, keys["primary"] + "\n")

    registered = agent("register", "--group", GROUP, "--endpoint", endpoint, "--token-file", str(path), "--verbose")
    assert registered.returncode == 0, registered.stderr
    assert f"VERBOSE: Using the access key from --token-file {path}" in registered.stdout
    if command == "remove":
        removed = agent("remove", "--endpoint", endpoint, "--token-file", str(path))
        assert removed.returncode == 0, removed.stderr
        assert not HybridWorker.objects.filter(machine_id=agent.machine_id()).exists()
    else:
        assert worker_of(agent) is not None
    assert_no_secrets(agent.everything_it_said(), keys["primary"])


@pytest.mark.parametrize("command", ["register", "remove"])
def test_the_key_comes_from_the_environment(server, people, keys, make_agent, agent_env, command):
    endpoint = server.endpoint(people.account)
    agent = make_agent("env", {**agent_env, "HYBRIDWORKER_TOKEN": keys["primary"]})

    registered = agent("register", "--group", GROUP, "--endpoint", endpoint, "--verbose")
    assert registered.returncode == 0, registered.stderr
    assert "VERBOSE: Using the access key from HYBRIDWORKER_TOKEN" in registered.stdout
    if command == "remove":
        removed = agent("remove", "--endpoint", endpoint)
        assert removed.returncode == 0, removed.stderr
        assert not HybridWorker.objects.filter(machine_id=agent.machine_id()).exists()
    assert_no_secrets(agent.everything_it_said(), keys["primary"])


def test_the_command_line_wins_over_the_environment(server, people, keys, make_agent, agent_env):
    agent = make_agent("wins", {**agent_env, "HYBRIDWORKER_TOKEN": "w" * 64})

    result = agent(
        "register",
        "--group",
        GROUP,
        "--endpoint",
        server.endpoint(people.account),
        "--token",
        "-",
        stdin=keys["primary"] + "\n",
    )

    assert result.returncode == 0, result.stderr
    assert worker_of(agent) is not None


@pytest.mark.parametrize("command", ["register", "remove"])
@pytest.mark.parametrize("token", ["--token", "--key"])
def test_a_key_and_a_key_file_together_are_refused(make_agent, tmp_path, command, token):
    agent = make_agent("both")
    path = key_file(tmp_path, A_KEY)

    result = agent(*target(command), token, A_KEY, "--token-file", str(path))

    assert result.returncode == 2
    assert "argument --token-file: not allowed with argument --token/--key" in result.stderr
    assert_no_secrets(result.stdout + result.stderr, A_KEY)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        (f"{A_KEY}\nsecond line\n", "holds more than the key: one line, the key alone"),
        (A_KEY * 100, "holds more than the key: one line, the key alone"),
    ],
)
def test_a_key_file_without_exactly_one_key_is_refused_clearly(make_agent, tmp_path, content, said):
    agent = make_agent("badfile")
    path = key_file(tmp_path, content)

    result = agent("register", "--group", GROUP, "--endpoint", NOWHERE, "--token-file", str(path))

    assert result.returncode == 2
    assert result.stderr == f"error: the access key file {path} {said}\n"
    assert_no_secrets(result.stdout + result.stderr, A_KEY)


def test_a_key_file_that_cannot_be_read_is_refused_clearly(make_agent, tmp_path):
    agent = make_agent("missing")
    path = tmp_path / "no-such-key"

    result = agent("remove", "--endpoint", NOWHERE, "--token-file", str(path))

    assert result.returncode == 2
    assert result.stderr == f"error: cannot read the access key file {path}: No such file or directory\n"


def test_an_empty_environment_variable_is_refused_clearly(make_agent, agent_env):
    agent = make_agent("emptyenv", {**agent_env, "HYBRIDWORKER_TOKEN": ""})

    result = agent("register", "--group", GROUP, "--endpoint", NOWHERE)

    assert result.returncode == 2
    assert result.stderr == "error: HYBRIDWORKER_TOKEN is set but empty\n"


@pytest.mark.parametrize("command", ["register", "remove"])
def test_no_key_at_all_names_every_way_to_give_it(make_agent, command):
    agent = make_agent("nokey")

    result = agent(*target(command))

    assert result.returncode == 2
    assert result.stderr == (
        "error: no access key: pass --token KEY, --token - (standard input), --token-file FILE, "
        "or set HYBRIDWORKER_TOKEN\n"
    )


def test_nothing_on_standard_input_is_refused_clearly(make_agent):
    agent = make_agent("nostdin")

    result = agent("register", "--group", GROUP, "--endpoint", NOWHERE, "--token", "-", stdin="")

    assert result.returncode == 2
    assert result.stderr == "error: no access key on standard input (--token -)\n"


def read_until(fd: int, transcript: bytearray, wanted: bytes | None) -> None:
    """Read the terminal's output into `transcript` until `wanted` shows up, or until the end (None)."""
    deadline = time.monotonic() + DEADLINE
    while wanted is None or wanted not in transcript:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {wanted!r}; the terminal showed {bytes(transcript)!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every process holding the terminal has exited
            chunk = b""
        if not chunk:
            if wanted is None:
                return
            raise AssertionError(f"the terminal closed before {wanted!r}; it showed {bytes(transcript)!r}")
        transcript += chunk


def test_at_a_terminal_the_key_is_asked_for_without_echo(server, people, keys, make_agent):
    agent = make_agent("tty")
    main, terminal = os.openpty()

    def take_the_terminal() -> None:
        # A session of its own with the terminal as its controlling one, as in a login shell.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        agent.command("register", "--group", GROUP, "--endpoint", server.endpoint(people.account), "--token", "-"),
        cwd=BASE_DIR,
        env=agent.env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=take_the_terminal,
    )
    os.close(terminal)
    transcript = bytearray()
    try:
        read_until(main, transcript, b"Access key: ")
        os.write(main, keys["primary"].encode() + b"\n")
        read_until(main, transcript, None)
        assert process.wait(timeout=DEADLINE) == 0, bytes(transcript)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)
    shown = transcript.decode(errors="replace")
    assert "Registered worker" in shown
    assert_no_secrets(shown, keys["primary"])
    assert worker_of(agent) is not None
