"""The state folder: everything one agent keeps on disk, one file per concern.

Several agents can share a machine, each with its own state folder (and so its own machine id).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workers.errors import AgentError

MACHINE_ID_FILE = "machine_id"
REGISTRATION_FILE = "registration.json"
CREDENTIAL_FILE = "credential"
CA_BUNDLE_FILE = "ca-bundle.pem"
HEARTBEAT_FILE = "last_heartbeat.json"
PID_FILE = "hybridworker.pid"
LOCK_FILE = "hybridworker.lock"
LOG_FILE = "hybridworker.log"

_MACHINE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/hybridworker")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hybridworker"


@dataclass(frozen=True)
class Registration:
    """What `register` learned from the server; the credential is kept apart, in a 0600 file."""

    endpoint: str
    account_id: str
    group: str
    name: str
    worker_id: str
    heartbeat_interval: int
    long_poll_timeout: int
    registered_at: float
    ca_bundle_source: str | None = None


@dataclass(frozen=True)
class LastHeartbeat:
    at: float
    interval: int
    server_time: float | None = None


def _write_private(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AgentError(f"{path} is damaged ({exc}); register again to rewrite it") from None
    if not isinstance(data, dict):
        raise AgentError(f"{path} is damaged; register again to rewrite it")
    return data


class StateDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(os.path.abspath(Path(path).expanduser()))

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def option(self) -> str:
        """What a suggested command needs to reach this folder: nothing for the default one."""
        if self.path == default_state_dir():
            return ""
        return f" --state-dir {shlex.quote(str(self.path))}"

    @property
    def log_path(self) -> Path:
        return self.file(LOG_FILE)

    @property
    def lock_path(self) -> Path:
        return self.file(LOCK_FILE)

    def exists(self) -> bool:
        return self.path.is_dir()

    def ensure(self) -> None:
        """Create the folder private to its owner: it holds the worker's credential.

        Search permission that `run` gave (a root agent's jobs pass through to their sandboxes) is left as it is.
        """
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.path.stat()
        if info.st_uid == os.geteuid():
            os.chmod(self.path, 0o700 | (info.st_mode & 0o011))

    # ---- machine id ----------------------------------------------------------------------

    def machine_id(self) -> str | None:
        try:
            value = self.file(MACHINE_ID_FILE).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            value = ""
        if not _MACHINE_ID.fullmatch(value):
            raise AgentError(
                f"{self.file(MACHINE_ID_FILE)} is damaged. Delete it to generate a new machine id "
                "(the server will then see this as a new machine)."
            )
        return value

    def machine_id_or_create(self) -> tuple[str, bool]:
        """The machine id, generated on first use and kept for good (also across `remove`)."""
        existing = self.machine_id()
        if existing is not None:
            return existing, False
        self.ensure()
        value = uuid.uuid4().hex
        _write_private(self.file(MACHINE_ID_FILE), f"{value}\n".encode())
        return value, True

    # ---- registration --------------------------------------------------------------------

    def registration(self) -> Registration | None:
        data = _read_json(self.file(REGISTRATION_FILE))
        if data is None:
            return None
        try:
            return Registration(**data)
        except TypeError:
            raise AgentError(f"{self.file(REGISTRATION_FILE)} is damaged; register again to rewrite it") from None

    def credential(self) -> str | None:
        try:
            return self.file(CREDENTIAL_FILE).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def ca_bundle(self) -> Path | None:
        path = self.file(CA_BUNDLE_FILE)
        return path if path.is_file() else None

    def save_registration(self, registration: Registration, *, credential: str, ca_bundle_pem: bytes | None) -> None:
        self.ensure()
        # The registration file goes last: its presence is what "registered" means.
        _write_private(self.file(CREDENTIAL_FILE), f"{credential}\n".encode())
        if ca_bundle_pem is None:
            self.file(CA_BUNDLE_FILE).unlink(missing_ok=True)
        else:
            _write_private(self.file(CA_BUNDLE_FILE), ca_bundle_pem)
        _write_private(self.file(REGISTRATION_FILE), json.dumps(asdict(registration), indent=2).encode())

    def clear_registration(self) -> None:
        """Forget the registration; the machine id stays, so registering again is the same machine."""
        for name in (REGISTRATION_FILE, CREDENTIAL_FILE, CA_BUNDLE_FILE, HEARTBEAT_FILE):
            self.file(name).unlink(missing_ok=True)

    # ---- what the running service leaves for `status` and `diagnose` ----------------------

    def record_heartbeat(self, heartbeat: LastHeartbeat) -> None:
        _write_private(self.file(HEARTBEAT_FILE), json.dumps(asdict(heartbeat)).encode())

    def last_heartbeat(self) -> LastHeartbeat | None:
        try:
            data = _read_json(self.file(HEARTBEAT_FILE))
            return LastHeartbeat(**data) if data else None
        except (AgentError, TypeError):
            return None  # only informative: a damaged file just means "unknown"

    def write_pid(self) -> None:
        _write_private(self.file(PID_FILE), f"{os.getpid()}\n".encode())

    def clear_pid(self) -> None:
        path = self.file(PID_FILE)
        try:
            if int(path.read_text().strip()) == os.getpid():
                path.unlink()
        except (FileNotFoundError, ValueError):
            pass

    def service_pid(self) -> int | None:
        """The pid of the `hybridworker run` using this folder, if it is alive."""
        path = self.file(PID_FILE)
        try:
            pid = int(path.read_text().strip())
            written = path.stat().st_mtime
        except (FileNotFoundError, ValueError, PermissionError):
            return None
        # Imported here: the CLI loads this module for every command, `hybridworker asset` too, which runs inside a
        # job with whatever Python its user may run (the standard library may be all it has).
        import psutil

        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            # A pid from an older boot may belong to another program by now.
            if process.create_time() > written + 1:
                return None
            cmdline = process.cmdline()
        except psutil.NoSuchProcess:
            return None
        except psutil.AccessDenied:
            return pid
        if "run" in cmdline and any("hybridworker" in part or part.startswith("workers") for part in cmdline):
            return pid
        return None


def seconds_ago(timestamp: float, now: float | None = None) -> float:
    return max(0.0, (now if now is not None else time.time()) - timestamp)
