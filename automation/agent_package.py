"""The agent as the portal serves it: a wheel of `workers/` alone, and the `install.sh` that installs it.

Another machine gets the `hybridworker` command without the project or Django: `install.sh` makes a
virtual environment and pip-installs this wheel into it, whose only requirements are the agent's own
(httpx and psutil, at the versions the project pins). The wheel is built in memory, once per process,
with pypa's `wheel` library (it writes the RECORD with every file's hash); it is under 200 KiB (stored,
not compressed), so each later download is a copy of bytes already in memory. Its content only depends on the source, so
every daphne process of a scaled-out portal serves the same bytes.
"""

import hashlib
import ipaddress
import logging
import shlex
import stat
import tempfile
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from urllib.parse import urlsplit
from zipfile import ZIP_STORED, ZipInfo

from packaging.requirements import Requirement
from wheel.wheelfile import WheelFile

import workers

DISTRIBUTION = "hybridworker"
# The distribution of the portal, whose pins the agent's requirements take.
PROJECT = "automation-hrw"
# What workers/ imports beyond the standard library (tests/automation/api/test_agent_downloads.py checks it).
AGENT_REQUIREMENTS = ("httpx", "psutil")
# The oldest Python the agent runs on; install.sh refuses an older one with this in its message.
MIN_PYTHON = (3, 9)
SOURCE = Path(workers.__file__).resolve().parent
# Every entry gets this time, so the same source gives the same bytes (and the same SHA-256) in every
# process: install.sh from one daphne names the hash of the wheel that another one may serve.
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class AgentWheel:
    filename: str
    data: bytes
    sha256: str


class _ReproducibleWheel(WheelFile):
    """WheelFile that dates every entry ZIP_TIME, RECORD (which it writes itself, dated now) included."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None):
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = ZipInfo(zinfo_or_arcname, date_time=ZIP_TIME)
            # Stored, not deflated: deflate's output depends on the host's zlib, and every daphne of a
            # scaled-out portal (perhaps on different images) must serve the bytes install.sh names.
            zinfo_or_arcname.compress_type = ZIP_STORED
            zinfo_or_arcname.external_attr = (0o644 | stat.S_IFREG) << 16
        super().writestr(zinfo_or_arcname, data, compress_type)


def wheel_filename() -> str:
    return f"{DISTRIBUTION}-{workers.__version__}-py3-none-any.whl"


def agent_requirements() -> list[str]:
    """The agent's requirements with the project's own pins (pyproject.toml is the one place they are set)."""
    try:
        declared = [Requirement(line) for line in requires(PROJECT) or []]
    except PackageNotFoundError as exc:
        raise RuntimeError(f"the {PROJECT} distribution is not installed (pip install -e .)") from exc
    found = {req.name.lower(): req for req in declared if not req.marker}
    missing = [name for name in AGENT_REQUIREMENTS if name not in found]
    if missing:
        raise RuntimeError(f"{PROJECT} does not declare {', '.join(missing)}, which the agent needs")
    return [str(found[name]) for name in AGENT_REQUIREMENTS]


def _metadata() -> str:
    message = EmailMessage()
    message["Metadata-Version"] = "2.1"
    message["Name"] = DISTRIBUTION
    message["Version"] = workers.__version__
    message["Summary"] = "The Hybrid Runbook Worker agent of a self-hosted Automation account"
    message["Requires-Python"] = ">={}.{}".format(*MIN_PYTHON)
    for requirement in agent_requirements():
        message["Requires-Dist"] = requirement
    return message.as_string()


def _wheel_info() -> str:
    return "Wheel-Version: 1.0\nGenerator: automation-hrw portal\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


# What the wheel carries besides Python: the PowerShell module runbooks import (runbook_helper/powershell/).
DATA_SUFFIXES = (".psm1", ".psd1")


def _sources() -> list[Path]:
    return sorted(
        p
        for p in SOURCE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix == ".py" or p.suffix in DATA_SUFFIXES)
    )


def build_wheel(destination: Path) -> Path:
    """Write the agent's wheel into the folder `destination`; returns its path."""
    path = destination / wheel_filename()
    dist_info = f"{DISTRIBUTION}-{workers.__version__}.dist-info"
    entries = [(f"workers/{p.relative_to(SOURCE).as_posix()}", p.read_bytes()) for p in _sources()]
    entries += [
        (f"{dist_info}/METADATA", _metadata().encode()),
        (f"{dist_info}/WHEEL", _wheel_info().encode()),
        (f"{dist_info}/entry_points.txt", b"[console_scripts]\nhybridworker = workers.cli:main\n"),
        (f"{dist_info}/top_level.txt", b"workers\n"),
    ]
    # The library logs each file it adds at INFO: that is noise in the portal's log.
    logging.getLogger("wheel").setLevel(logging.WARNING)
    with _ReproducibleWheel(path, "w", compression=ZIP_STORED) as wheel:
        for name, data in entries:
            wheel.writestr(name, data)
    return path


_lock = threading.Lock()
_built: AgentWheel | None = None


def agent_wheel() -> AgentWheel:
    """The wheel, built on first use; concurrent first requests wait for the one build."""
    global _built
    if _built is None:
        with _lock:
            if _built is None:
                with tempfile.TemporaryDirectory(prefix="hybridworker-wheel-") as folder:
                    data = build_wheel(Path(folder)).read_bytes()
                _built = AgentWheel(wheel_filename(), data, hashlib.sha256(data).hexdigest())
    return _built


def install_script(*, wheel_url: str, portal_url: str) -> str:
    """install.sh for this portal: it downloads the wheel from `wheel_url` and checks its SHA-256."""
    from django.template.loader import render_to_string

    wheel = agent_wheel()
    context = {
        "portal_url": shlex.quote(portal_url),
        "wheel_url": shlex.quote(wheel_url),
        "wheel_name": shlex.quote(wheel.filename),
        "wheel_sha256": wheel.sha256,
        "version": shlex.quote(workers.__version__),
        "min_python": "{}.{}".format(*MIN_PYTHON),
        "min_python_tuple": "({}, {})".format(*MIN_PYTHON),
    }
    return render_to_string("agent/install.sh", context)


def install_line(portal_url: str) -> str:
    """The line a person pastes on another machine to install the agent (as root: into /opt/hybridworker,
    linked from /usr/local/bin; otherwise under their home)."""
    return f"curl -fsSL {shlex.quote(portal_url.rstrip('/') + '/agentsvc/install.sh')} | sh"


def install_warning(portal_url: str) -> str | None:
    """Why the install line will not work, or is unsafe, from another machine; None when it is fine."""
    parts = urlsplit(portal_url)
    host = (parts.hostname or "").lower()
    try:
        loopback = host == "localhost" or host.endswith(".localhost") or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return (
            f"The portal's address, {portal_url}, is this computer's own: another machine cannot reach it. "
            "Serve the portal at an address the machines reach and set PORTAL_BASE_URL to it (README: Behind TLS)."
        )
    if parts.scheme != "https":
        return (
            "The portal is served over plain HTTP: anyone on the network path could change the agent on its way "
            "to the machine, where the script runs as whoever pastes it. Serve the portal over HTTPS first "
            "(README: Behind TLS)."
        )
    return None


def register_line(*, endpoint: str, group_name: str) -> str:
    """The `hybridworker register` line for a group: the key is read from standard input (a prompt that
    does not echo, at a terminal), so it stays out of the command line and the shell's history."""
    return f"hybridworker register --group {shlex.quote(group_name)} --endpoint {shlex.quote(endpoint)} --token -"
