"""What a task of the service is, and what it may use of the service that runs it.

The service (workers.service) starts its tasks (workers.heartbeat, workers.jobs); the tasks see the service
only through ServiceHandle, so no task module imports the service module, even for its types.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from workers.client import AgentClient
from workers.leases import HeldJobs
from workers.state import Registration, StateDir


class ServiceHandle(Protocol):
    state: StateDir
    registration: Registration
    credential: str
    client: AgentClient
    log: logging.Logger
    # Concurrent jobs; sent as the `capacity` fact with every heartbeat.
    capacity: int | None
    # Set by the first accepted heartbeat: from then on the server knows this worker's capacity.
    heartbeat_accepted: threading.Event
    # The jobs held under a lease: the jobs task adds them, the heartbeat lists them.
    held: HeldJobs

    @property
    def stopping(self) -> bool: ...

    def wait(self, seconds: float) -> bool:
        """Sleep, but wake at once on a stop request. True when stopping."""

    def stop(self, exit_code: int = ...) -> None:
        """End the whole service; the first reason to stop decides the exit status."""

    def reload_registration(self) -> bool:
        """Take up a registration made while running (`register` again). True if the credential changed."""


class Task(Protocol):
    """A task may also have `join_timeout` (seconds it may take to end after a stop; default JOIN_TIMEOUT)
    and `close()` (called as the service exits, even if the task did not end in time)."""

    name: str

    def run(self, service: ServiceHandle) -> None:
        """Work until service.stopping; call service.stop(code) to end the whole service."""
