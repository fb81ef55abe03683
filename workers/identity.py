"""Who runbooks run as (`hybridworker run --run-as USER`), and how parallel jobs are kept apart.

An agent running as root runs no runbook as root: jobs run as `--run-as USER`, by default the account
`hybridworker` if it exists, else `nobody` (`--run-as root` runs them as root, as an explicit choice). The
runbook gets that user's uid and supplementary groups, and USER / LOGNAME name it (HOME stays the sandbox).

Jobs of one user could read each other's environment (/proc/PID/environ), working folder and files: the
kernel lets a process look into another of the same uid and gid. So each running job gets a primary group of
its own, a gid from PRIVATE_GIDS that no group in the system database uses; its sandbox belongs to root and
that group, mode 1770 (the sticky bit keeps the agent's files there, job.log among them, out of the
runbook's reach). A job cannot look into another's processes (their gids differ) nor into its sandbox. Each
gid is locked (flock) under LOCK_DIR while in use, so several agents on one machine never share one; when
the job ends every process still running with that gid (one that left the session included) is killed.

An agent that does not run as root runs jobs as itself; `--run-as` naming anyone else is refused at start
(exit status 2). Such jobs share the agent's uid: they are not kept apart from each other.

A group's Run as setting (Azure's hybrid worker credentials) names a user for each of its jobs. The portal must
not be able to make an agent run anything as root or as any user the machine's owner did not choose, so a root
agent runs a job as that user only if `--allow-run-as` lists it (root itself only when listed by name) and it
exists here; otherwise the job fails before its runbook starts, with a reason naming the worker, the user and
the fix (RunAsRefused). A job so run gets the same private group as any other.

Whatever the user, a runbook's command line (its named arguments, parameters among them) is visible to
every process on the machine, as any command line is, unless /proc is mounted with hidepid.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import shlex
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from workers.errors import EXIT_USAGE, AgentError

DEDICATED_USER = "hybridworker"
FALLBACK_USER = "nobody"
# Below 61184, where systemd's DynamicUser ids start, and within the 16 bits a container's id map usually has.
PRIVATE_GIDS = range(59_000, 61_184)
LOCK_DIR = Path("/run/hybridworker/gids")
PROBE_SECONDS = 10.0


# The start of every refusal's reason: the server's explanation of a failed job recognises it by this.
REFUSED_PREFIX = "Run as: "


class RunAsRefused(Exception):
    """The job may not, or cannot, run as the user its group names; the message is the job's status reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSED_PREFIX + reason)


class NoPrivateGroup(Exception):
    """Every gid of PRIVATE_GIDS is in use."""


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    def spawn_options(self, gid: int) -> dict[str, object]:
        """subprocess options that start a process as this user, with `gid` as its primary group."""
        return {"user": self.uid, "group": gid, "extra_groups": list(self.groups)}


def agent_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _lookup(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        if name.isdigit():
            with contextlib.suppress(KeyError):
                return pwd.getpwuid(int(name))
    raise AgentError(f"--run-as {name}: there is no such user on this machine", exit_code=EXIT_USAGE)


def resolve_run_as(requested: str | None) -> RunAs | None:
    """The user jobs run as; None: as the agent itself (an agent that is not root, or `--run-as root`)."""
    if os.geteuid() != 0:
        if requested is not None and _lookup(requested).pw_uid != os.geteuid():
            raise AgentError(
                f"--run-as {requested}: only an agent running as root can run jobs as another user; "
                f"this one runs as {agent_user()}, and so do its jobs",
                exit_code=EXIT_USAGE,
            )
        return None
    if requested is None:
        try:
            entry = pwd.getpwnam(DEDICATED_USER)
        except KeyError:
            entry = _lookup(FALLBACK_USER)
    else:
        entry = _lookup(requested)
    if entry.pw_uid == 0:
        return None
    return _spawnable(entry)


def allowed_users(values: list[str] | None) -> frozenset[str]:
    """`--allow-run-as USER[,USER...]`, repeatable, as one set of names. An agent that is not root may list only
    itself: it could not switch to anyone else, and a list that says otherwise would mislead."""
    names = frozenset(name.strip() for value in values or () for name in value.split(",") if name.strip())
    if os.geteuid() != 0:
        others = sorted(names - {agent_user()})
        if others:
            raise AgentError(
                f"--allow-run-as {','.join(others)}: only an agent running as root can run jobs as another user; "
                f"this one runs as {agent_user()}, and so do its jobs",
                exit_code=EXIT_USAGE,
            )
    return names


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except (KeyError, ValueError):
        return False
    return True


def _spawnable(entry: pwd.struct_passwd) -> RunAs:
    groups = tuple(dict.fromkeys(os.getgrouplist(entry.pw_name, entry.pw_gid)))
    return RunAs(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups)


def job_run_as(user: str, allowed: frozenset[str], worker_name: str) -> RunAs | None:
    """Who a job whose group runs as `user` runs as: None for the agent itself. Raises RunAsRefused."""
    fix = f"--allow-run-as {shlex.quote(user)}"
    if os.geteuid() != 0:
        if user == agent_user():
            return None
        raise RunAsRefused(
            f"worker {worker_name}'s agent does not run as root, so it runs every job as itself "
            f"({agent_user()!r}), not as {user!r}; run it as root with {fix}"
        )
    if user not in allowed:
        raise RunAsRefused(f"worker {worker_name} may not run jobs as {user!r}: start its agent with {fix}")
    try:
        entry = pwd.getpwnam(user)
    except (KeyError, ValueError):
        raise RunAsRefused(
            f"user {user!r} does not exist on worker {worker_name}: create it there, "
            "or give the group a Run as credential whose user name exists"
        ) from None
    # Listed by name, root is the machine owner's explicit choice (as `--run-as root` is).
    return None if entry.pw_uid == 0 else _spawnable(entry)


def can_access(run_as: RunAs, path: Path, test: str) -> bool:
    """Whether the user can reach `path` as `test -x`/`-r`/... says, asked of the kernel in a process of theirs."""
    try:
        result = subprocess.run(
            ["/bin/sh", "-c", f'test {test} "$1"', "sh", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=PROBE_SECONDS,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
            **run_as.spawn_options(run_as.gid),
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def closed_folder(run_as: RunAs, path: Path) -> Path | None:
    """The first folder on the way to `path` (itself included) that the user may not search, judged by its mode."""
    for folder in [*reversed(path.parents), path]:
        try:
            info = folder.stat()
        except OSError:
            return folder
        if info.st_uid == run_as.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in run_as.groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


def _gids_in_use() -> set[int]:
    used: set[int] = set()
    for process in psutil.process_iter(["gids"]):
        gids = process.info["gids"]
        if gids:
            used.update(gids)
    return used


def kill_group_members(gid: int) -> int:
    """SIGKILL every process whose real or effective gid is `gid`; how many there were."""
    killed = 0
    for process in psutil.process_iter(["gids"]):
        gids = process.info["gids"]
        if gids and gid in (gids.real, gids.effective):
            with contextlib.suppress(OSError, psutil.Error):
                process.send_signal(signal.SIGKILL)
                killed += 1
    return killed


class PrivateGroups:
    """Hands out a private primary gid per running job, locked machine-wide while the job holds it."""

    def __init__(self, lock_dir: Path = LOCK_DIR, gids: range = PRIVATE_GIDS) -> None:
        self.lock_dir = lock_dir
        self.gids = gids
        self._locks: dict[int, int] = {}

    def acquire(self) -> int:
        self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        in_use = _gids_in_use()
        for gid in self.gids:
            if gid in self._locks or gid in in_use or _group_exists(gid):
                continue
            fd = os.open(self.lock_dir / f"{gid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._locks[gid] = fd
            return gid
        raise NoPrivateGroup(f"all {len(self.gids)} private groups ({self.gids.start}-{self.gids.stop - 1}) are in use")

    def release(self, gid: int) -> int:
        """End whatever still runs with `gid` and give it back; how many processes were killed."""
        killed = kill_group_members(gid)
        fd = self._locks.pop(gid, None)
        if fd is not None:
            os.close(fd)
        return killed

    def release_all(self) -> None:
        for gid in list(self._locks):
            self.release(gid)


def _group_exists(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True
