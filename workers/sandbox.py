"""A job's sandbox: its folder, the runbook's command line and environment, and how parameters reach it.

Each job runs in its own folder, `<state folder>/sandboxes/<job id>/`:

    runbook.py | runbook.sh | runbook.ps1   the published content, checked against its SHA-256 first
    parameters.json                          the job's parameter values, as one JSON object
    job.log                                  every stream record of the job, one JSON object a line
    tmp/                                     TMPDIR of the runbook, emptied when the job ends
    result.json                              how the job ended (written at the end)

Interpreters: Python 3 runbooks run with the agent's own interpreter (or `hybridworker run --python PATH`),
Bash runbooks with /bin/bash, PowerShell runbooks with `pwsh` found on the agent's PATH (when it is not
there, the job fails with "PowerShell (pwsh) is not installed on worker NAME").

Parameters reach a runbook two ways:

  * As named arguments, in the order the runbook declares them: `--name value` for Python and Bash
    (`runbook.py --count 3 --force true`), `-name value` for PowerShell
    (`pwsh -NoLogo -NoProfile -NonInteractive -File runbook.ps1 -count 3 -force true`). Strings are
    passed as they are, whole numbers in decimal, booleans as `true` / `false`, and JSON parameters as
    compact JSON text (`--servers ["web01","web02"]`). A parameter without a value is left out.
  * As a JSON file: the environment variable HYBRIDWORKER_PARAMETERS_FILE holds the path of
    parameters.json, `{"name": value, ...}` with the values in their JSON types. Structured values, and
    strings that start with "-", are easiest to read from there.

The runbook's environment is minimal: PATH (the agent's), HOME and the working folder (the sandbox),
TMPDIR (the sandbox's tmp/), LANG, USER and LOGNAME, PYTHONPATH (so Python runbooks can
`import hybridworker_runbook`), PYTHONUNBUFFERED=1, and HYBRIDWORKER_JOB_ID, HYBRIDWORKER_SANDBOX,
HYBRIDWORKER_PARAMETERS_FILE. Its standard input is /dev/null. It runs in a session (and process group)
of its own, which is what Stop, timeouts and the end of the job terminate: first SIGTERM, then SIGKILL
after the stop grace period. A process that leaves that session (setsid) escapes this.
"""

import contextlib
import json
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELPER_DIR = Path(__file__).resolve().parent / "runbook_helper"
SANDBOXES = "sandboxes"
RESULT_FILE = "result.json"
# Finished sandboxes kept for looking into (their job.log); older ones are deleted.
KEEP_FINISHED = 100

RUNBOOK_FILES = {"python3": "runbook.py", "bash": "runbook.sh", "powershell": "runbook.ps1"}
BASH = "/bin/bash"
PWSH_ARGS = ("-NoLogo", "-NoProfile", "-NonInteractive", "-File")


class CannotRun(Exception):
    """The job cannot run on this worker; the message is the job's status reason."""


def argument_value(value: Any, kind: str | None) -> str | None:
    """A parameter value as command line text (None: leave the parameter out)."""
    if value is None and kind != "json":
        return None
    if kind == "json" or not isinstance(value, str | bool | int | float):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def named_arguments(runbook_type: str, parameters: dict[str, Any], declared: list[dict[str, Any]]) -> list[str]:
    """The parameters as named arguments, declared ones first in their order, then any others."""
    dash = "-" if runbook_type == "powershell" else "--"
    kinds = {item.get("name"): item.get("type") for item in declared if isinstance(item, dict)}
    order = [name for name in kinds if name in parameters] + [name for name in parameters if name not in kinds]
    arguments: list[str] = []
    for name in order:
        text = argument_value(parameters[name], kinds.get(name))
        if text is not None:
            arguments += [f"{dash}{name}", text]
    return arguments


@dataclass(frozen=True)
class Interpreters:
    python: str
    path: str

    def pwsh(self) -> str | None:
        return shutil.which("pwsh", path=self.path)


def sandboxes_dir(state_path: Path) -> Path:
    return state_path / SANDBOXES


class Sandbox:
    def __init__(self, root: Path, job_id: str) -> None:
        self.path = root / job_id
        self.job_id = job_id

    @property
    def tmp(self) -> Path:
        return self.path / "tmp"

    @property
    def parameters_file(self) -> Path:
        return self.path / "parameters.json"

    @property
    def log_file(self) -> Path:
        return self.path / "job.log"

    def create(self) -> None:
        """A fresh, private folder (a job delivered again starts over)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(mode=0o700)
        self.tmp.mkdir(mode=0o700)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.path / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    def write_runbook(self, runbook_type: str, content: str, parameters: dict[str, Any]) -> Path:
        self._write(self.parameters_file.name, json.dumps(parameters, ensure_ascii=False, indent=2).encode("utf-8"))
        return self._write(RUNBOOK_FILES[runbook_type], content.encode("utf-8"))

    def command(
        self,
        runbook_type: str,
        script: Path,
        parameters: dict[str, Any],
        declared: list[dict[str, Any]],
        interpreters: Interpreters,
        worker_name: str,
    ) -> list[str]:
        arguments = named_arguments(runbook_type, parameters, declared)
        if runbook_type == "python3":
            if not os.access(interpreters.python, os.X_OK):
                raise CannotRun(f"the Python interpreter {interpreters.python} is missing on worker {worker_name}")
            return [interpreters.python, str(script), *arguments]
        if runbook_type == "bash":
            if not os.access(BASH, os.X_OK):
                raise CannotRun(f"Bash ({BASH}) is not installed on worker {worker_name}")
            return [BASH, str(script), *arguments]
        if runbook_type == "powershell":
            pwsh = interpreters.pwsh()
            if pwsh is None:
                raise CannotRun(f"PowerShell (pwsh) is not installed on worker {worker_name}")
            return [pwsh, *PWSH_ARGS, str(script), *arguments]
        raise CannotRun(f"runbooks of type {runbook_type!r} cannot run on worker {worker_name}")

    def environment(self, interpreters: Interpreters) -> dict[str, str]:
        try:
            user = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            user = str(os.geteuid())
        return {
            "PATH": interpreters.path,
            "HOME": str(self.path),
            "TMPDIR": str(self.tmp),
            "LANG": os.environ.get("LANG") or "C.UTF-8",
            "USER": user,
            "LOGNAME": user,
            "PYTHONPATH": str(HELPER_DIR),
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            "HYBRIDWORKER_JOB_ID": self.job_id,
            "HYBRIDWORKER_SANDBOX": str(self.path),
            "HYBRIDWORKER_PARAMETERS_FILE": str(self.parameters_file),
        }

    def finish(self, result: dict[str, Any]) -> None:
        """Record how the job ended and drop its temporary files; job.log stays."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._write(RESULT_FILE, json.dumps(result, indent=2).encode("utf-8"))


def prune_sandboxes(root: Path, keep: int = KEEP_FINISHED) -> None:
    """Delete the oldest finished sandboxes beyond `keep`; unfinished ones are never touched."""
    try:
        finished = []
        for entry in os.scandir(root):
            result = Path(entry.path) / RESULT_FILE
            try:
                finished.append((result.stat().st_mtime, Path(entry.path)))
            except OSError:
                continue
    except FileNotFoundError:
        return
    finished.sort()
    for _, path in finished[: max(0, len(finished) - keep)]:
        shutil.rmtree(path, ignore_errors=True)
