"""One job, from its payload to the report of its end.

Check the content against its SHA-256, write the sandbox, start the runbook in a session of its own (as the
run-as user, see workers.identity), turn its output into stream records sent in ordered batches (within the
job's output cap, see workers.outputcap), end its whole process group on Stop or timeout (SIGTERM, then SIGKILL
after the stop grace period), and report Completed, Failed or Stopped.

A batch the server refuses as too large (HTTP 413) goes again in halves; a single record refused so is cut
shorter (its end marked) until it passes, so no output is dropped for its size. A job the server no longer
takes reports on (HTTP 403, 404, 409 on a report, or named lost by a heartbeat) is ended at once with SIGKILL,
and nothing more is sent about it.
Everything here runs on the jobs task's event loop; see workers.sandbox for what a runbook gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import json
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from workers.backoff import Backoff
from workers.client import ApiError, JobsClient, Unreachable
from workers.identity import NoPrivateGroup, PrivateGroups, RunAs
from workers.leases import HeldJobs
from workers.outputcap import DEFAULT_MAX_OUTPUT_MB, MIB, OutputCap
from workers.sandbox import DEFAULT_KEEP_DAYS, RUNBOOK_FILES, CannotRun, Interpreters, Sandbox, prune_sandboxes
from workers.streams import (
    BATCH_BYTES,
    BATCH_RECORDS,
    ERROR,
    OUTPUT,
    Journal,
    LineSplitter,
    Record,
    classify,
    cut_again,
)

COMPLETED, FAILED, STOPPED = "Completed", "Failed", "Stopped"
SHA_MISMATCH = "the runbook content does not match its SHA-256"
STOPPED_BY_REQUEST = "stopped by request"
# Records go to the server this often at most, unless a full batch is waiting.
BATCH_SECONDS = 0.2
# After a 413, batches are made smaller, but not below this (a batch always holds at least one record).
MIN_BATCH_BYTES = 16 * 1024
# A record the server refuses even at this size is left out (and logged): the limit is not about size then.
MIN_RECORD_CHARS = 1024
# After the runbook ended, how long its output pipes may stay open (a process that escaped its session).
DRAIN_SECONDS = 2.0
# How long to wait for a process group to die after SIGKILL.
KILL_WAIT_SECONDS = 10.0

# Why a job is being ended before its runbook ends by itself.
BY_REQUEST, TIMED_OUT, SHUTDOWN, GONE = "stop", "timeout", "shutdown", "gone"


class JobGone(Exception):
    """The server no longer takes reports on this job (it ended, or the lease moved on)."""


class Rejected(Exception):
    """The server refused a report as malformed: sending it again cannot help."""


class TooLarge(Rejected):
    """The server refused a report's body as too large (HTTP 413): smaller pieces may pass."""


class GaveUp(Exception):
    """The service is shutting down and the server could not be reached in time."""


@dataclass
class JobContext:
    """What every job of the service shares."""

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
    private_groups: PrivateGroups | None = None
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


@dataclass(frozen=True)
class JobPayload:
    id: str
    lease: str
    runbook: str
    version: Any
    runbook_type: str
    content: str
    sha256: str
    parameters: dict[str, Any]
    declared: list[dict[str, Any]]
    timeout_seconds: int | None
    problem: str | None = None
    # The server runs a job again (as a new attempt, under a new lease) when its worker was lost.
    attempt: int = 1

    @classmethod
    def parse(cls, data: Any) -> JobPayload:
        """Raises ValueError when the job cannot even be reported on (no usable id or lease)."""
        if not isinstance(data, dict):
            raise ValueError("a job is not an object")
        job_id, lease = str(uuid.UUID(str(data.get("id")))), str(data.get("lease") or "")
        if not lease:
            raise ValueError(f"job {job_id} comes without a lease")
        problem = None
        content, sha256 = data.get("content"), data.get("sha256")
        parameters, declared = data.get("parameters") or {}, data.get("declared") or []
        timeout = data.get("timeout_seconds")
        attempt = data.get("attempt")
        if not isinstance(content, str) or not isinstance(sha256, str):
            problem = "the job's payload has no runbook content or SHA-256"
        elif not isinstance(parameters, dict) or not isinstance(declared, list):
            problem = "the job's parameters are not an object"
        elif timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
            problem = "the job's timeout is not a whole number of seconds"
        return cls(
            id=job_id,
            lease=lease,
            runbook=str(data.get("runbook") or "?"),
            version=data.get("version"),
            runbook_type=str(data.get("runbook_type") or ""),
            content=content if isinstance(content, str) else "",
            sha256=sha256 if isinstance(sha256, str) else "",
            parameters=parameters if isinstance(parameters, dict) else {},
            declared=declared if isinstance(declared, list) else [],
            timeout_seconds=timeout if problem is None else None,
            problem=problem,
            attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 1 else 1,
        )


# ---- process groups -------------------------------------------------------------------------


_LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_agent() -> None:
    """In the runbook's process, after it took the run-as identity (which would clear the setting): if the
    agent is killed outright (SIGKILL, OOM), the runbook goes with it rather than running on unsupervised."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def signal_group(pgid: int, sig: int) -> bool:
    """Send a signal to a whole process group; False when nothing is left of it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # some member runs as another user; the others got it
    return True


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting for their parent do not count)."""
    if not signal_group(pgid, 0):
        return False
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


async def end_group(pgid: int, grace: float, leader_exited: asyncio.Future) -> None:
    """SIGTERM the group, give it `grace` seconds to go, then SIGKILL whatever is left of it."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if leader_exited.done() and not group_alive(pgid):
            return
    signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while time.monotonic() < deadline and not (leader_exited.done() and not group_alive(pgid)):
        await asyncio.sleep(0.05)


class RunbookProtocol(asyncio.SubprocessProtocol):
    """The runbook's pipes: lines of fd 1 and 2 to `on_line`; futures for its exit and for both pipes closing.

    (asyncio's Process.wait() waits for the pipes too, which a background child may hold open for ever.)
    """

    def __init__(self, on_line: Callable[[int, str], None], loop: asyncio.AbstractEventLoop) -> None:
        self.on_line = on_line
        self.splitters = {1: LineSplitter(), 2: LineSplitter()}
        self.exited: asyncio.Future = loop.create_future()
        self.pipes_closed: asyncio.Future = loop.create_future()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        for line in self.splitters[fd].feed(data):
            self.on_line(fd, line)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.flush(fd)
        self._open.discard(fd)
        if not self._open and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def flush(self, *fds: int) -> None:
        for fd in fds or tuple(self.splitters):
            for line in self.splitters[fd].close():
                self.on_line(fd, line)


def failure_reason(returncode: int, error_tail: str) -> str:
    if returncode < 0:
        try:
            head = f"ended by signal {signal.Signals(-returncode).name}"
        except ValueError:
            head = f"ended by signal {-returncode}"
    else:
        head = f"exit code {returncode}"
    return f"{head}: {error_tail}" if error_tail else head


# ---- one job --------------------------------------------------------------------------------


class JobRun:
    def __init__(self, payload: JobPayload, context: JobContext) -> None:
        self.payload = payload
        self.ctx = context
        self.log = context.log
        self.end_reason: str | None = None
        self.journal: Journal | None = None
        self.output: OutputCap | None = None
        # Why the server no longer takes reports on this job, once it does not.
        self.lost: str | None = None
        self._pgid: int | None = None
        self._end = asyncio.Event()
        self._added = asyncio.Event()
        self._full = asyncio.Event()
        self._problem_logged = False
        self._cut_logged = False
        self._output_closed = False
        # Set once the runbook is over and its end is being reported: the job no longer takes a slot.
        # (The server may count the slot free, and hand out a new job, before its answer to the report arrives.)
        self.finishing = False

    @property
    def id(self) -> str:
        return self.payload.id

    def request_stop(self, why: str = BY_REQUEST) -> bool:
        """End the job early (Stop, timeout, shutdown). False when it is already being ended."""
        if self.end_reason is not None:
            return False
        self.end_reason = why
        self._end.set()
        return True

    def lose(self, why: str) -> None:
        """The server no longer takes reports on the job: kill the runbook now and send nothing more about it."""
        if self.lost is not None:
            return
        self.lost = why
        self.end_reason = GONE
        self._end.set()
        if self._pgid is not None:
            signal_group(self._pgid, signal.SIGKILL)

    async def run(self) -> None:
        """Run the job and report its end; never raises (but lets cancellation through)."""
        started = time.monotonic()
        try:
            status, exit_code, reason, log_reason = await self._run()
        except JobGone as exc:
            self.log.warning("job %s: ended, unreported: the server takes no more reports on it (%s)", self.id, exc)
            return
        except GaveUp as exc:
            self.log.warning("job %s: could not report its end before the service stopped (%s)", self.id, exc)
            return
        except Exception as exc:
            self.log.exception("job %s: the agent failed to run it", self.id)
            with contextlib.suppress(Exception):
                await self._finish(FAILED, None, f"the agent on worker {self.ctx.worker_name} failed: {exc}")
            return
        finally:
            if self.journal is not None:
                self.journal.close()
        # A runbook's own error lines may hold anything (even a secret it printed): they stay out of this log.
        detail = f" (exit code {exit_code})" if exit_code is not None else ""
        if log_reason and reason:
            detail += f": {reason}"
        self.log.info("job %s ended %s%s after %.1f s", self.id, status, detail, time.monotonic() - started)

    async def _run(self) -> tuple[str, int | None, str, bool]:
        """(status, exit code, reason, whether the reason is the agent's own and fit for its log)."""
        p, ctx = self.payload, self.ctx
        sandbox = Sandbox(ctx.sandboxes, p.id)
        await asyncio.to_thread(prune_sandboxes, ctx.sandboxes, max_age_days=ctx.keep_sandboxes_days)
        sandbox.create()
        self.journal = Journal(sandbox.log_file)
        self.journal.on_add = self._on_add
        self.output = OutputCap(self.journal, ctx.max_output, on_passed=self._cap_passed)
        try:
            outcome = await self._run_in(sandbox)
        except JobGone as exc:
            sandbox.finish({"job_id": p.id, "status": None, "reason": f"not reported: {exc}"})
            raise
        status, exit_code, reason, _ = outcome
        sandbox.finish({"job_id": p.id, "status": status, "exit_code": exit_code, "reason": reason})
        await self._finish(status, exit_code, reason)
        return outcome

    async def _run_in(self, sandbox: Sandbox) -> tuple[str, int | None, str, bool]:
        p, ctx = self.payload, self.ctx
        if p.problem:
            return FAILED, None, p.problem, True
        if hashlib.sha256(p.content.encode("utf-8")).hexdigest() != p.sha256.strip().lower():
            return FAILED, None, SHA_MISMATCH, True
        if p.runbook_type not in RUNBOOK_FILES:
            return FAILED, None, f"runbooks of type {p.runbook_type!r} cannot run on worker {ctx.worker_name}", True
        try:
            script = sandbox.write_runbook(p.runbook_type, p.content, p.parameters)
            command = sandbox.command(
                p.runbook_type, script, p.parameters, p.declared, ctx.interpreters, ctx.worker_name
            )
        except CannotRun as exc:
            return FAILED, None, str(exc), True
        if self.end_reason in (BY_REQUEST, SHUTDOWN):
            return self._forced_outcome(self.end_reason, None)
        if ctx.run_as is None or ctx.private_groups is None:
            return await self._execute(sandbox, command, {})
        try:
            gid = await asyncio.to_thread(ctx.private_groups.acquire)
        except (NoPrivateGroup, OSError) as exc:
            return FAILED, None, f"cannot start the runbook on worker {ctx.worker_name}: {exc}", True
        try:
            sandbox.grant(gid)
            return await self._execute(sandbox, command, ctx.run_as.spawn_options(gid))
        finally:
            killed = await asyncio.to_thread(ctx.private_groups.release, gid)
            if killed:
                self.log.info("job %s: killed %d process(es) of the job that had left its session", p.id, killed)

    async def _execute(
        self, sandbox: Sandbox, command: list[str], identity: dict[str, Any]
    ) -> tuple[str, int | None, str, bool]:
        """Start the runbook (with `identity`: subprocess options for the run-as user) and see it to its end."""
        p, ctx = self.payload, self.ctx
        user = ctx.run_as.name if identity and ctx.run_as is not None else None
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: RunbookProtocol(self._line, loop),
                *command,
                cwd=sandbox.path,
                env=sandbox.environment(ctx.interpreters, user),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                umask=ctx.umask,
                preexec_fn=_die_with_agent,
                **identity,
            )
        except OSError as exc:
            return FAILED, None, f"cannot start the runbook on worker {ctx.worker_name}: {exc.strerror or exc}", True
        pgid = transport.get_pid()
        self._pgid = pgid
        ctx.groups.add(pgid)
        if self.lost is not None:
            signal_group(pgid, signal.SIGKILL)
        self.log.info(
            "job %s started: runbook %r version %s (%s)%s, pid %d%s, sandbox %s",
            p.id,
            p.runbook,
            p.version,
            p.runbook_type,
            f", attempt {p.attempt}" if p.attempt > 1 else "",
            pgid,
            f", as {user}" if user else "",
            sandbox.path,
        )
        sender = asyncio.create_task(self._send_records(), name=f"records {p.id}")
        timer = asyncio.create_task(self._time_out(p.timeout_seconds)) if p.timeout_seconds else None
        ender = asyncio.create_task(self._end.wait())
        forced: str | None = None
        try:
            await asyncio.wait({protocol.exited, ender}, return_when=asyncio.FIRST_COMPLETED)
            forced = None if protocol.exited.done() else self.end_reason
            if forced is not None:
                await end_group(pgid, 0.0 if forced == GONE else ctx.stop_grace, protocol.exited)
            # What the runbook left behind (a background child) goes too.
            if group_alive(pgid):
                await end_group(pgid, 0.0 if self.lost else ctx.stop_grace, protocol.exited)
            # asyncio.wait_for raises asyncio.TimeoutError, which is the builtin TimeoutError only from Python 3.11.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.pipes_closed), DRAIN_SECONDS)
        finally:
            for task in (timer, ender):
                if task is not None:
                    task.cancel()
            transport.close()
            protocol.flush()
            self._output_closed = True
            ctx.groups.discard(pgid)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        if self.lost is not None:
            raise JobGone(self.lost)
        assert self.output is not None and self.journal is not None
        self.output.close()
        returncode = transport.get_returncode()
        if forced is not None:
            return self._forced_outcome(forced, returncode)
        if returncode == 0:
            return COMPLETED, 0, "", False
        return FAILED, returncode, failure_reason(returncode, self.journal.error_tail()), False

    def _forced_outcome(self, forced: str, returncode: int | None) -> tuple[str, int | None, str, bool]:
        if forced == TIMED_OUT:
            return FAILED, returncode, f"timed out after {self.payload.timeout_seconds} s", True
        if forced == SHUTDOWN:
            return STOPPED, returncode, f"stopped: the worker service on {self.ctx.worker_name} was shutting down", True
        return STOPPED, returncode, STOPPED_BY_REQUEST, True

    async def _time_out(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self.request_stop(TIMED_OUT)

    # ---- records --------------------------------------------------------------------------

    def _line(self, fd: int, line: str) -> None:
        if self.output is None or self._output_closed:
            return
        stream, text = classify(line, OUTPUT if fd == 1 else ERROR)
        self.output.add(stream, text)

    def _cap_passed(self) -> None:
        assert self.output is not None
        self.log.warning(
            "job %s: its output passed the cap of %s; only its last part is kept (in memory), and sent at the end",
            self.id,
            self.output.cap_text,
        )

    def _on_add(self, backlog: int) -> None:
        self._added.set()
        if backlog >= BATCH_RECORDS:
            self._full.set()

    def _next_batch(self) -> list[Record]:
        journal = self.journal
        return journal.batch(max_bytes=self.ctx.batch_bytes) if journal is not None and journal.backlog else []

    async def _send_records(self) -> None:
        """Ordered batches, every BATCH_SECONDS or BATCH_RECORDS. The first goes after BATCH_SECONDS even
        when empty (it marks the job Running); a job that ends sooner says everything in its end report,
        so a short job costs one request."""
        journal = self.journal
        assert journal is not None
        first = True
        while self.lost is None:
            if not first and journal.backlog == 0:
                self._added.clear()
                await self._added.wait()
            if journal.backlog < BATCH_RECORDS:
                self._full.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._full.wait(), BATCH_SECONDS)
            try:
                stop = await self._send_batch(self._next_batch())
            except JobGone as exc:
                self.lose(str(exc))
                return
            except GaveUp:
                return
            first = False
            if stop:
                self.request_stop(BY_REQUEST)

    async def _send_batch(self, batch: list[Record]) -> bool:
        """Send records and acknowledge them; True when the server asks for a stop."""
        journal = self.journal
        assert journal is not None
        records = [record.as_json() for record in batch]
        try:
            answer = await self._report(
                lambda credential: self.ctx.client.job_records(
                    credential=credential, job_id=self.id, lease=self.payload.lease, records=records
                )
            )
        except TooLarge as exc:
            return await self._send_smaller(batch, exc)
        except Rejected as exc:
            self.log.warning("job %s: the server refused records %s: %s", self.id, _seqs(batch), exc)
            answer = {}
        journal.acknowledge(len(batch))
        return answer.get("stop") is True

    async def _send_smaller(self, batch: list[Record], exc: Exception) -> bool:
        """A batch refused as too large goes in halves; a single record, cut shorter."""
        assert self.journal is not None
        ctx = self.ctx
        ctx.batch_bytes = max(MIN_BATCH_BYTES, min(ctx.batch_bytes, sum(record.size for record in batch) // 2))
        if len(batch) > 1:
            half = len(batch) // 2
            stop = await self._send_batch(batch[:half])
            return await self._send_batch(batch[half:]) or stop
        record = batch[0]
        limit = len(record.text) // 2
        if limit < MIN_RECORD_CHARS:
            self.log.error(
                "job %s: the server refuses record %d as too large even at %d characters (%s); it is left out",
                self.id,
                record.seq,
                len(record.text),
                exc,
            )
            self.journal.acknowledge(1)
            return False
        text = cut_again(record.text, limit)
        smaller = replace(record, text=text, size=len(json.dumps(record.as_json() | {"text": text})))
        if not self._cut_logged:
            self.log.warning(
                "job %s: the server refused record %d of %d characters as too large (%s); sending it cut shorter",
                self.id,
                record.seq,
                len(record.text),
                exc,
            )
            self._cut_logged = True
        return await self._send_batch([smaller])

    async def _finish(self, status: str, exit_code: int | None, reason: str) -> None:
        """Send what is left of the records, the last batch with the end report."""
        self.finishing = True
        journal = self.journal
        batch = self._next_batch()
        while journal is not None and len(batch) < journal.backlog:
            await self._send_batch(batch)
            batch = self._next_batch()
        try:
            await self._report_end(status, exit_code, reason, batch)
        except TooLarge:
            await self._send_batch(batch)
            batch = []
            try:
                await self._report_end(status, exit_code, reason, batch)
            except Rejected as exc:
                self.log.error("job %s: the server refused the report of its end: %s", self.id, exc)
                return
        except Rejected as exc:
            self.log.error("job %s: the server refused the report of its end: %s", self.id, exc)
            return
        if journal is not None:
            journal.acknowledge(len(batch))
        self.ctx.held.release(self.id, self.payload.lease)

    async def _report_end(self, status: str, exit_code: int | None, reason: str, batch: list[Record]) -> None:
        records = [record.as_json() for record in batch]
        ctx = self.ctx
        claim = ctx.claim_slots() if ctx.on_claimed is not None else 0
        answer = await self._report(
            lambda credential: ctx.client.finish_job(
                credential=credential,
                job_id=self.id,
                lease=self.payload.lease,
                status=status,
                exit_code=exit_code,
                reason=reason,
                records=records,
                claim=claim,
            )
        )
        jobs = answer.get("jobs")
        if claim and isinstance(jobs, list) and jobs and ctx.on_claimed is not None:
            ctx.on_claimed(jobs)

    async def _report(self, call: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Call the server, retrying with backoff while it is unreachable or failing."""
        backoff = Backoff(base=0.5, cap=30.0)
        while True:
            if self.lost is not None:
                raise JobGone(self.lost)
            try:
                return await call(self.ctx.credential())
            except ApiError as exc:
                if exc.status in (403, 404, 409):
                    raise JobGone(exc.detail) from None
                if exc.status == 413:
                    raise TooLarge(exc.detail) from None
                if exc.status in (400, 422):
                    raise Rejected(exc.detail) from None
                delay = max(backoff.next(), exc.retry_after or 0.0)
                problem = f"HTTP {exc.status}: {exc.detail}"
                if not self._problem_logged:
                    self.log.warning("job %s: the server refused a report (%s); retrying", self.id, problem)
                    self._problem_logged = True
            except Unreachable as exc:
                delay = backoff.next()
                problem = exc.reason
                # The heartbeat task says when the server is unreachable; here it is only detail.
                self.log.debug("job %s: report failed (%s); next attempt in %.1f s", self.id, problem, delay)
            if self.ctx.give_up_at is not None and time.monotonic() + delay > self.ctx.give_up_at:
                raise GaveUp(problem)
            await asyncio.sleep(delay)


def _seqs(batch: list) -> str:
    return f"{batch[0].seq}-{batch[-1].seq}" if batch else "(none)"
