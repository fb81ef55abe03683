"""`hybridworker status`: the registration, the last heartbeat and whether the service runs."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from workers.console import Console
from workers.errors import EXIT_OK, AgentError
from workers.state import StateDir, seconds_ago

# Past this many missed intervals the server shows the worker offline as well.
OVERDUE_AFTER_INTERVALS = 3


def ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def status(state: StateDir, console: Console) -> int:
    registration = state.registration() if state.exists() else None
    if registration is None:
        raise AgentError(
            f"not registered (state folder {state.path}). Register with "
            f"'hybridworker register --group NAME --endpoint URL --token -{state.option}'."
        )
    now = time.time()
    heartbeat = state.last_heartbeat()
    if heartbeat is None:
        last = "none yet"
    else:
        last = f"{when(heartbeat.at)} ({ago(seconds_ago(heartbeat.at, now))})"
        if seconds_ago(heartbeat.at, now) > OVERDUE_AFTER_INTERVALS * max(heartbeat.interval, 1):
            last += f"; overdue: the server expects one every {heartbeat.interval} s"
    pid = state.service_pid()
    rows = [
        ("Worker", f"{registration.name} (id {registration.worker_id})"),
        ("Group", registration.group),
        ("Account", registration.account_id),
        ("Endpoint", registration.endpoint),
        ("Registered", when(registration.registered_at)),
        ("Last heartbeat", last),
        ("Service", f"running (pid {pid})" if pid else "not running"),
        ("State folder", str(state.path)),
    ]
    for label, value in rows:
        console.say(f"{label + ':':<16}{value}")
    return EXIT_OK
