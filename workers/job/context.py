"""What every job run of the service shares: the reporting client, the settings, the held leases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.client import JobsClient
from workers.identity import PrivateGroups, RunAs
from workers.leases import HeldJobs
from workers.outputcap import DEFAULT_MAX_OUTPUT_MB, MIB
from workers.sandbox import DEFAULT_KEEP_DAYS, Interpreters
from workers.streams import BATCH_BYTES


@dataclass
class JobContext:
    client: JobsClient
    credential: Callable[[], str]
    worker_name: str
    sandboxes: Path
    interpreters: Interpreters
    stop_grace: float
    log: logging.Logger
    # The jobs the heartbeat lists, with their leases.
    held: HeldJobs = field(default_factory=HeldJobs)
    max_output: int = DEFAULT_MAX_OUTPUT_MB * MIB
    keep_sandboxes_days: float = DEFAULT_KEEP_DAYS
    # Set when the agent runs as root: runbooks run as this user, each job with a private group.
    run_as: RunAs | None = None
    # Set when the agent runs as root (for the jobs run as `run_as`, or as a user their group names).
    private_groups: PrivateGroups | None = None
    # `--allow-run-as`: the users a group's Run as setting may name (workers.identity.job_run_as).
    allowed_run_as: frozenset[str] = frozenset()
    # What the jobs' asset relays ask the server with (workers.job.assets); None: `client`.
    assets_client: JobsClient | None = None
    # The folder whose `hybridworker` runbooks find first on their PATH (workers.sandbox.write_tools).
    tools: Path | None = None
    # The runbook's umask (the agent keeps a stricter one for its own files).
    umask: int = 0o022
    # What a batch may weigh; lowered when the server refuses one as too large.
    batch_bytes: int = BATCH_BYTES
    # Set when the service shuts down: reports still failing after this moment are given up.
    give_up_at: float | None = None
    # Process groups of running runbooks, for the last-resort kill when the service exits.
    groups: set[int] = field(default_factory=set)
    # How many next jobs an end report may claim (the slots free once this one ends; 0 when shutting
    # down), and where the claimed ones go: one exchange per job instead of an end report and a poll.
    claim_slots: Callable[[], int] = lambda: 0
    on_claimed: Callable[[list[Any]], None] | None = None
