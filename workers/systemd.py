"""`hybridworker install-service`: a systemd unit that runs `hybridworker run` for one state folder."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from workers.console import Console
from workers.errors import EXIT_NOT_REGISTERED, EXIT_OK, EXIT_USAGE, AgentError
from workers.state import StateDir

UNIT_DIR = Path("/etc/systemd/system")
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")


def escape_path(path: Path) -> str:
    """What `systemd-escape --path` makes of a path: /var/lib/hybridworker -> var-lib-hybridworker."""
    text = str(path).strip("/")
    if not text:
        return "-"
    out = []
    for index, char in enumerate(text):
        if char == "/":
            out.append("-")
        elif char in _PLAIN and not (index == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return "".join(out)


def unit_name(state: StateDir) -> str:
    """One unit per state folder, named after it, so several agents on a machine get one each."""
    return f"hybridworker-{escape_path(state.path)}.service"


def agent_command() -> list[str]:
    """How systemd should start this very hybridworker (the console script of this installation)."""
    script = Path(sys.executable).parent / "hybridworker"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    argv0 = Path(sys.argv[0])
    if argv0.name == "hybridworker" and argv0.is_file():
        return [str(argv0.absolute())]
    return [sys.executable, "-m", "workers"]


def _specifiers(text: str, *, variables: bool = False) -> str:
    # systemd expands %x specifiers everywhere and $VAR in ExecStart: double them to stay literal.
    text = text.replace("%", "%%")
    return text.replace("$", "$$") if variables else text


def _quote(word: str) -> str:
    # systemd splits ExecStart on whitespace and honours single quotes, like a shell.
    return shlex.quote(word) if any(c.isspace() or c in "\"'\\;" for c in word) else word


def run_options(*, user: str | None, run_as: str | None, allow_run_as: list[str] | None) -> list[str]:
    """The unit's `run` options for who runs jobs. A service that is not root (`--user`) can run jobs only as
    itself: `run` would refuse at every start what this refuses now."""
    allowed = sorted({name.strip() for value in allow_run_as or () for name in value.split(",") if name.strip()})
    if user and user != "root" and set(allowed) - {user}:
        raise AgentError(
            f"--allow-run-as {','.join(sorted(set(allowed) - {user}))}: the service runs as {user}, not root, so it "
            f"can run jobs only as {user}; leave --user out to let it switch users",
            exit_code=EXIT_USAGE,
        )
    words = ["--run-as", run_as] if run_as else []
    return words + (["--allow-run-as", ",".join(allowed)] if allowed else [])


def render_unit(
    state: StateDir, *, user: str | None = None, environ: dict[str, str] | None = None, options: list[str] = ()
) -> str:
    environ = os.environ if environ is None else environ
    words = [*agent_command(), "run", "--state-dir", str(state.path), *options]
    command = _specifiers(" ".join(_quote(word) for word in words), variables=True)
    lines = [
        "[Unit]",
        f"Description=Hybrid Runbook Worker (state folder {_specifiers(str(state.path))})",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={command}",
    ]
    if user:
        lines.append(f"User={user}")
    # A service does not inherit the shell's proxy settings: carry over the ones set now.
    for name in PROXY_VARIABLES:
        for variant in (name, name.lower()):
            if environ.get(variant):
                lines.append(f'Environment="{variant}={_specifiers(environ[variant])}"')
    lines += [
        # SIGTERM to the agent alone: it stops its jobs' process groups itself (after a grace period);
        # whatever is left at the timeout gets SIGKILL.
        "KillMode=mixed",
        "TimeoutStopSec=90",
        "Restart=on-failure",
        "RestartSec=5",
        f"# Exit status {EXIT_NOT_REGISTERED}: this worker was removed (or never registered); restarting cannot help.",
        f"RestartPreventExitStatus={EXIT_NOT_REGISTERED}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def install_service(
    state: StateDir,
    console: Console,
    *,
    print_only: bool = False,
    user: str | None = None,
    run_as: str | None = None,
    allow_run_as: list[str] | None = None,
) -> int:
    options = run_options(user=user, run_as=run_as, allow_run_as=allow_run_as)
    unit = render_unit(state, user=user, options=options)
    name = unit_name(state)
    if print_only:
        console.say(f"# {UNIT_DIR / name}")
        print(unit, end="", flush=True)
        return EXIT_OK
    if os.geteuid() != 0:
        raise AgentError(
            f"install-service writes {UNIT_DIR / name} and needs root: run it with sudo, "
            "or use --print to see the unit and install it yourself"
        )
    if not (state.exists() and state.registration() is not None):
        console.warn(f"{state.path} holds no registration yet: run 'hybridworker register' before starting the service")
    path = UNIT_DIR / name
    # Proxy URLs may carry a password: keep the unit readable by root only then.
    mode = 0o600 if "@" in unit else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(unit)
    os.chmod(path, mode)
    console.say(f"Wrote {path}")
    if user:
        console.say(f"The service runs as {user}; give it the state folder: chown -R {user}: {state.path}")
    console.say("Start it now and at every boot:")
    console.say("  systemctl daemon-reload")
    console.say(f"  systemctl enable --now {shlex.quote(name)}")
    console.say(f"Its log: journalctl -u {shlex.quote(name)} (and {state.log_path})")
    return EXIT_OK
