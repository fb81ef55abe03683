"""Host facts sent with registration and every heartbeat (names and types the server expects)."""

from __future__ import annotations

import ipaddress
import logging
import os
import platform
import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers import __version__

log = logging.getLogger("hybridworker")

# psutil is imported in the functions that use it: the CLI loads this module for every command (MAX_CAPACITY
# bounds `run --capacity`), `hybridworker asset` too, which runs inside a job with whatever Python its user may
# run (the standard library may be all it has).

MAX_ADDRESSES = 32
MAX_CAPACITY = 1024
_NAME_CHARS = re.compile(r"[^A-Za-z0-9 ._-]+")


def os_name() -> str:
    """PRETTY_NAME from os-release ("Debian GNU/Linux 12 (bookworm)"), else what platform knows."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                if line.startswith("PRETTY_NAME="):
                    return line.partition("=")[2].strip().strip("\"'")[:200]
        except OSError:
            continue
    return platform.platform()[:200]


def ip_addresses() -> list[str]:
    """Every address of the host, those other machines can reach first."""
    import psutil

    found: list[tuple[int, str]] = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            text = address.address.split("%", 1)[0]
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            rank = 3 if ip.is_loopback else 2 if ip.is_link_local else 1 if ip.version == 6 else 0
            found.append((rank, text))
    ordered = [text for _, text in sorted(found, key=lambda item: item[0])]
    return list(dict.fromkeys(ordered))[:MAX_ADDRESSES]


def cpu_count() -> int:
    # The CPUs this process may use: in a container or under taskset that is fewer than the host's.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        import psutil

        return max(1, psutil.cpu_count() or 1)


def disk_free_bytes(path: Path) -> int:
    """Free space of the filesystem that holds `path` (or would, once it exists)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def default_worker_name() -> str:
    """The host name, made to fit the server's naming rule."""
    name = _NAME_CHARS.sub("-", socket.gethostname()).strip(" ")[:128].strip(" ")
    return name if name.strip(".") else "worker"


def _safely(collect: Callable[[], Any]) -> Any:
    # A fact that cannot be read must not stop a registration or a heartbeat.
    try:
        return collect()
    except Exception as exc:
        log.debug("cannot collect a host fact: %s", exc)
        return None


def collect_facts(state_dir: Path, *, capacity: int | None = None) -> dict[str, Any]:
    """`capacity`: the concurrent jobs this worker takes (`run --capacity`); by default its CPU count."""
    import psutil

    memory = _safely(psutil.virtual_memory)
    cpus = _safely(cpu_count)
    load = _safely(os.getloadavg)
    facts: dict[str, Any] = {
        "hostname": _safely(lambda: socket.gethostname()[:255]),
        "os": _safely(os_name),
        "ip_addresses": _safely(ip_addresses),
        "cpu_count": cpus,
        "memory_bytes": int(memory.total) if memory else None,
        "memory_available_bytes": int(memory.available) if memory else None,
        "disk_free_bytes": _safely(lambda: int(disk_free_bytes(state_dir))),
        "load": [round(max(0.0, float(value)), 2) for value in load] if load else None,
        "agent_version": __version__,
        "python_version": platform.python_version(),
        "capacity": capacity or (min(cpus, MAX_CAPACITY) if cpus else None),
        "clock": time.time(),
    }
    return {key: value for key, value in facts.items() if value is not None}
