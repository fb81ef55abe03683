"""A job's sandbox: its folder, the runbook's command line and environment, and how parameters reach it.

Each job runs in its own folder, `<state folder>/sandboxes/<job id>/`:

    runbook.py | runbook.sh | runbook.ps1   the published content, checked against its SHA-256 first
    parameters.json                          the job's parameter values, as one JSON object
    job.log                                  every stream record sent for the job, one JSON object a line
    tmp/                                     TMPDIR of the runbook, emptied when the job ends
    result.json                              how the job ended (written at the end)

Finished sandboxes (those with a result.json) are deleted when older than `hybridworker run
--keep-sandboxes-days` (default 30) and beyond the last KEEP_FINISHED; unfinished ones are never touched.
Pruning runs when the service starts, every hour, and before each job.

Who owns what: an agent that is not root keeps everything private to itself (folders 0700, files 0600) and
runs runbooks as itself. A root agent runs them as another user (see workers.identity): the state folder and
`sandboxes/` are 0711 (searchable, not listable, every file in them 0600 root), each sandbox belongs to root and
the job's private group, mode 1770, the runbook and parameters.json 0640, job.log 0600; when the job ends its
sandbox goes back to root, 0700.

Interpreters: Python 3 runbooks run with the agent's own interpreter (or `hybridworker run --python PATH`),
Bash runbooks with /bin/bash, PowerShell runbooks with `pwsh` found on the agent's PATH (when it is not
there, the job fails with "PowerShell (pwsh) is not installed on worker NAME").

Parameters reach a runbook two ways:

  * As named arguments, in the order the runbook declares them: `--name value` for Python and Bash
    (`runbook.py --count 3 --force true`), `-name value` for PowerShell
    (`pwsh -NoLogo -NoProfile -NonInteractive -File runbook.ps1 -count 3 -force true`). Strings are
    passed as they are, whole numbers in decimal, booleans as `true` / `false`, and JSON parameters as
    compact JSON text (`--servers ["web01","web02"]`). A parameter without a value is left out, and
    so is a parameter declared `secret`: a command line is readable by every process on the machine.
  * As a JSON file (secrets included, readable by the job alone): the environment variable
    HYBRIDWORKER_PARAMETERS_FILE holds the path of parameters.json, `{"name": value, ...}` with the
    values in their JSON types. Structured values, and strings that start with "-", are easiest to
    read from there.
  * A job a webhook started also has WebhookData ({"WebhookName", "RequestBody", "RequestHeader"}) in
    that file, and as a named argument (compact JSON) when the runbook declares a WebhookData parameter.

The runbook's environment is minimal: PATH (the agent's, after the state folder's `bin/`, whose `hybridworker`
runs this agent's own CLI, for `hybridworker asset`), HOME and the working folder (the sandbox), TMPDIR (the
sandbox's tmp/), LANG, USER and LOGNAME (the user it runs as), PYTHONPATH (so Python runbooks can
`import hybridworker_runbook` and `import automationassets`), PSModulePath (runbook_helper/powershell first, so
PowerShell runbooks have Orchestrator.AssetManagement.Cmdlets), PYTHONUNBUFFERED=1, HYBRIDWORKER_JOB_ID,
HYBRIDWORKER_SANDBOX, HYBRIDWORKER_PARAMETERS_FILE, and the job's asset relay: HYBRIDWORKER_ASSETS_URL and
HYBRIDWORKER_ASSETS_TOKEN (see workers.job.assets). Nothing of the agent's own credential. Its standard input
is /dev/null. It runs in a session (and process group)
of its own, which is what Stop, timeouts and the end of the job terminate: first SIGTERM, then SIGKILL
after the stop grace period. A process that leaves that session (setsid) escapes this, unless the agent
runs as root: then whatever runs in the job's private group is killed when the job ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from workers.identity import agent_user

HELPER_DIR = Path(__file__).resolve().parent / "runbook_helper"
POWERSHELL_MODULES = HELPER_DIR / "powershell"
# The folder that holds the `workers` package, whatever installed it (a wheel, or a source checkout).
AGENT_ROOT = Path(__file__).resolve().parent.parent
# In the state folder: the programs a runbook finds first on its PATH.
TOOLS = "bin"
SANDBOXES = "sandboxes"
RESULT_FILE = "result.json"
# Finished sandboxes kept for looking into (their job.log): at most this many, and none older than the days given.
KEEP_FINISHED = 100
DEFAULT_KEEP_DAYS = 30

RUNBOOK_FILES = {"python3": "runbook.py", "bash": "runbook.sh", "powershell": "runbook.ps1"}
BASH = "/bin/bash"
PWSH_ARGS = ("-NoLogo", "-NoProfile", "-NonInteractive", "-File")


class CannotRun(Exception):
    """The job cannot run on this worker; the message is the job's status reason."""


def argument_value(value: Any, kind: str | None) -> str | None:
    """A parameter value as command line text (None: leave the parameter out)."""
    if value is None and kind != "json":
        return None
    if kind == "json" or not isinstance(value, (str, bool, int, float)):
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
        if kinds.get(name) == "secret":
            continue
        text = argument_value(parameters[name], kinds.get(name))
        if text is not None:
            arguments += [f"{dash}{name}", text]
    return arguments


@dataclass(frozen=True)
class Interpreters:
    python: str
    path: str
    # Why Python runbooks cannot run (the run-as user cannot execute the interpreter), found at start.
    python_problem: str | None = None

    def pwsh(self) -> str | None:
        return shutil.which("pwsh", path=self.path)


def sandboxes_dir(state_path: Path) -> Path:
    return state_path / SANDBOXES


def write_tools(state_path: Path, python: str) -> Path:
    """Write `<state folder>/bin/hybridworker`, which runs this agent's own CLI; returns the folder.

    `python` is the interpreter Python runbooks run with: the agent's own, unless the run-as user cannot run that
    one (see workers.service.prepare_run_as), in which case it may have the standard library alone, which is
    what `hybridworker asset` needs. -I keeps the runbook's environment and working folder (a `workers` folder
    of its own) out of the way of the agent's code.
    """
    folder = state_path / TOOLS
    folder.mkdir(mode=0o755, exist_ok=True)
    os.chmod(folder, 0o755)  # noqa: S103 - the run-as user runs what is in it; only the agent writes there
    code = f"import sys; sys.path.insert(0, {str(AGENT_ROOT)!r}); from workers.cli import main; sys.exit(main())"
    script = (
        "#!/bin/sh\n"
        "# Written by the Hybrid Runbook Worker agent when it starts: its own CLI, for runbooks (hybridworker asset).\n"
        f'exec {shlex.quote(python)} -I -c {shlex.quote(code)} "$@"\n'
    )
    path = folder / "hybridworker"
    staged = folder / f".hybridworker.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(script)
    os.chmod(staged, 0o755)  # noqa: S103 - as the folder
    # Replaced in one step: a runbook never finds half a script.
    os.replace(staged, path)
    return folder


def prepare_sandboxes(root: Path, *, shared: bool) -> None:
    """`shared`: runbooks run as another user, who must pass through to its own sandbox (but list nothing)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o711 if shared else 0o700)


class Sandbox:
    def __init__(self, root: Path, job_id: str) -> None:
        self.path = root / job_id
        self.job_id = job_id
        self.granted = False

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

    def grant(self, gid: int) -> None:
        """Open the sandbox to the job's private group: the runbook reads its files and writes beside them."""
        self.granted = True
        for path in (self.path, self.tmp):
            os.chown(path, 0, gid)
            os.chmod(path, 0o1770)  # noqa: S103 - group: the job's private group only
        for name in (*RUNBOOK_FILES.values(), self.parameters_file.name):
            path = self.path / name
            if path.exists():
                os.chown(path, 0, gid)
                os.chmod(path, 0o640)

    def _seal(self) -> None:
        # A later job given the same private group must find nothing here.
        with contextlib.suppress(OSError):
            os.chown(self.path, 0, 0)
            os.chmod(self.path, 0o700)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.path / name
        # The runbook may have left something under this name (a symbolic link to a file of the agent's).
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
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
            if interpreters.python_problem:
                raise CannotRun(f"{interpreters.python_problem} on worker {worker_name}")
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

    def environment(
        self,
        interpreters: Interpreters,
        user: str | None = None,
        *,
        assets: tuple[str, str] | None = None,
        tools: Path | None = None,
    ) -> dict[str, str]:
        """`user`: the name of the user the runbook runs as (default: the agent's); `assets`: the URL and token of
        the job's asset relay; `tools`: the folder whose `hybridworker` comes first on the PATH."""
        user = user or agent_user()
        # PowerShell's own spelling of the name (environment variables are case-sensitive here).
        inherited = os.environ.get("PSModulePath")  # noqa: SIM112
        modules = [str(POWERSHELL_MODULES), *filter(None, [inherited])]
        environment = {
            "PATH": f"{tools}{os.pathsep}{interpreters.path}" if tools is not None else interpreters.path,
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
            "PSModulePath": os.pathsep.join(modules),
        }
        if assets is not None:
            environment["HYBRIDWORKER_ASSETS_URL"], environment["HYBRIDWORKER_ASSETS_TOKEN"] = assets
        return environment

    def finish(self, result: dict[str, Any]) -> None:
        """Record how the job ended and drop its temporary files; job.log stays. A granted sandbox is closed again."""
        if self.granted:
            self._seal()
        shutil.rmtree(self.tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._write(RESULT_FILE, json.dumps(result, indent=2).encode("utf-8"))


def prune_sandboxes(
    root: Path, keep: int = KEEP_FINISHED, max_age_days: float = DEFAULT_KEEP_DAYS, now: float | None = None
) -> int:
    """Delete finished sandboxes older than `max_age_days`, and the oldest beyond `keep`; how many went.

    Unfinished ones (no result.json: running, or left by an agent that died) are never touched.
    """
    oldest = (now if now is not None else time.time()) - max_age_days * 86400
    try:
        finished = []
        for entry in os.scandir(root):
            result = Path(entry.path) / RESULT_FILE
            try:
                finished.append((result.stat().st_mtime, Path(entry.path)))
            except OSError:
                continue
    except FileNotFoundError:
        return 0
    finished.sort()
    excess = max(0, len(finished) - keep)
    doomed = [path for index, (ended, path) in enumerate(finished) if index < excess or ended < oldest]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return len(doomed)


def end_leftovers(root: Path) -> int:
    """Kill what runbooks of an earlier run of the agent left running in their sandboxes; how many.

    Called before this run starts any job, so every process working in a sandbox is a leftover: the agent
    was killed outright, and the runbook's own children outlived it (the runbook itself dies with the agent).
    A process that moved out of its sandbox is not found this way.
    """
    try:
        base = root.resolve()
    except OSError:
        return 0
    ended = 0
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info.get("cwd")
        if not cwd or process.pid == os.getpid():
            continue
        if Path(cwd) == base or base in Path(cwd).parents:
            with contextlib.suppress(psutil.Error):
                process.kill()
                ended += 1
    return ended
