"""One job's run, phase by phase: set up its sandbox, check and launch the runbook, supervise it, report its end.

Check the content against its SHA-256, write the sandbox, start the runbook in a session of its own (as the
run-as user, see workers.identity), turn its output into stream records (within the job's output cap, see
workers.outputcap) that workers.job.reporting sends, end its whole process group on Stop or timeout (see
workers.job.process), and report Completed, Failed or Stopped. While the runbook runs, its asset relay
(workers.job.assets) lets it read its account's assets, and what it read from encrypted ones is masked in its
records (workers.job.masking). A job the server no longer takes reports on
(HTTP 403, 404, 409 on a report, or named lost by a heartbeat) is ended at once with SIGKILL, and nothing
more is sent about it.
Everything here runs on the jobs task's event loop; see workers.sandbox for what a runbook gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from workers.identity import NoPrivateGroup, RunAs, RunAsRefused, can_access, closed_folder, job_run_as
from workers.job.assets import AssetRelay
from workers.job.context import JobContext
from workers.job.masking import Masker
from workers.job.outcome import COMPLETED, FAILED, SHA_MISMATCH, STOPPED, STOPPED_BY_REQUEST, Outcome, failure_reason
from workers.job.payload import JobPayload
from workers.job.process import RunbookProtocol, die_with_agent, end_group, group_alive, signal_group
from workers.job.reporting import GaveUp, JobGone, Reporter
from workers.outputcap import OutputCap
from workers.sandbox import RUNBOOK_FILES, CannotRun, Interpreters, Sandbox, prune_sandboxes
from workers.streams import ERROR, OUTPUT, Journal, classify

# After the runbook ended, how long its output pipes may stay open (a process that escaped its session).
DRAIN_SECONDS = 2.0

# Why a job is being ended before its runbook ends by itself.
BY_REQUEST, TIMED_OUT, SHUTDOWN, GONE = "stop", "timeout", "shutdown", "gone"


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
        self.reporter = Reporter(payload, context, lambda: self.lost)
        # What the job read from encrypted assets, masked in its records (filled by its relay).
        self.masker = Masker()
        self.relay: AssetRelay | None = None
        self._pgid: int | None = None
        self._end = asyncio.Event()
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
            outcome = await self._run_and_report()
        except JobGone as exc:
            self.log.warning("job %s: ended, unreported: the server takes no more reports on it (%s)", self.id, exc)
            return
        except GaveUp as exc:
            self.log.warning("job %s: could not report its end before the service stopped (%s)", self.id, exc)
            return
        except Exception as exc:
            self.log.exception("job %s: the agent failed to run it", self.id)
            with contextlib.suppress(Exception):
                await self._report_end(
                    Outcome(FAILED, None, f"the agent on worker {self.ctx.worker_name} failed: {exc}", True)
                )
            return
        finally:
            if self.journal is not None:
                self.journal.close()
        # A runbook's own error lines may hold anything (even a secret it printed): they stay out of this log.
        detail = f" (exit code {outcome.exit_code})" if outcome.exit_code is not None else ""
        if outcome.own_reason and outcome.reason:
            detail += f": {outcome.reason}"
        self.log.info("job %s ended %s%s after %.1f s", self.id, outcome.status, detail, time.monotonic() - started)

    async def _report_end(self, outcome: Outcome) -> None:
        self.finishing = True
        await self.reporter.report_end(outcome.status, outcome.exit_code, outcome.reason)

    async def _run_and_report(self) -> Outcome:
        """Phase 1: the sandbox and its journal around the run, then the end report."""
        p, ctx = self.payload, self.ctx
        sandbox = Sandbox(ctx.sandboxes, p.id)
        await asyncio.to_thread(prune_sandboxes, ctx.sandboxes, max_age_days=ctx.keep_sandboxes_days)
        sandbox.create()
        self.journal = Journal(sandbox.log_file)
        self.reporter.attach(self.journal)
        self.output = OutputCap(self.journal, ctx.max_output, on_passed=self._cap_passed)
        try:
            outcome = await self._check_and_launch(sandbox)
        except JobGone as exc:
            sandbox.finish({"job_id": p.id, "status": None, "reason": f"not reported: {exc}"})
            raise
        sandbox.finish(
            {"job_id": p.id, "status": outcome.status, "exit_code": outcome.exit_code, "reason": outcome.reason}
        )
        await self._report_end(outcome)
        return outcome

    async def _check_and_launch(self, sandbox: Sandbox) -> Outcome:
        """Phase 2: check the job, write the runbook and its command line, open the job's asset relay (see
        workers.job.assets), and take the identity it runs as."""
        p, ctx = self.payload, self.ctx
        if p.problem:
            return Outcome(FAILED, None, p.problem, True)
        if hashlib.sha256(p.content.encode("utf-8")).hexdigest() != p.sha256.strip().lower():
            return Outcome(FAILED, None, SHA_MISMATCH, True)
        if p.runbook_type not in RUNBOOK_FILES:
            return Outcome(
                FAILED, None, f"runbooks of type {p.runbook_type!r} cannot run on worker {ctx.worker_name}", True
            )
        try:
            run_as, interpreters = await self._identity()
        except RunAsRefused as exc:
            self.log.warning("job %s: not started: %s", p.id, exc)
            return Outcome(FAILED, None, str(exc), True)
        try:
            script = sandbox.write_runbook(p.runbook_type, p.content, p.file_parameters())
            command = sandbox.command(p.runbook_type, script, p.parameters, p.declared, interpreters, ctx.worker_name)
        except CannotRun as exc:
            return Outcome(FAILED, None, str(exc), True)
        if self.end_reason in (BY_REQUEST, SHUTDOWN):
            return self._forced_outcome(self.end_reason, None)
        self.relay = AssetRelay(
            job_id=p.id,
            lease=p.lease,
            client=ctx.assets_client or ctx.client,
            credential=ctx.credential,
            masker=self.masker,
            worker_name=ctx.worker_name,
            log=self.log,
        )
        # The token is useless once the job ended, but a runbook that prints its environment need not publish it.
        self.masker.add(self.relay.token)
        # Closed only once the runbook's processes are gone (the private group's stragglers too).
        async with self.relay:
            return await self._launch(sandbox, command, run_as)

    async def _identity(self) -> tuple[RunAs | None, Interpreters]:
        """Who the runbook runs as (None: as the agent), and the interpreters it may use. A job whose group names
        a user runs as that user or not at all (RunAsRefused): never silently as the agent's default."""
        p, ctx = self.payload, self.ctx
        if p.run_as is None:
            return ctx.run_as, ctx.interpreters
        run_as = await asyncio.to_thread(job_run_as, p.run_as, ctx.allowed_run_as, ctx.worker_name)
        if run_as is None:
            return None, dataclasses.replace(ctx.interpreters, python_problem=None)
        await asyncio.to_thread(self._reachable, run_as)
        # The agent chose its interpreter for its default user; this one was just checked on its own.
        return run_as, dataclasses.replace(ctx.interpreters, python_problem=None)

    def _reachable(self, run_as: RunAs) -> None:
        """Asked of the kernel as that user (the user may have come into being since the agent started)."""
        ctx, worker = self.ctx, self.ctx.worker_name
        if not can_access(run_as, ctx.sandboxes, "-x"):
            closed = closed_folder(run_as, ctx.sandboxes) or ctx.sandboxes
            raise RunAsRefused(
                f"user {run_as.name!r} cannot reach the sandboxes of worker {worker} ({ctx.sandboxes}): "
                f"let it through the folder {closed} (chmod o+x {closed})"
            )
        python = ctx.interpreters.python
        if self.payload.runbook_type == "python3" and not can_access(run_as, Path(python), "-x"):
            raise RunAsRefused(
                f"user {run_as.name!r} cannot run the Python interpreter {python} on worker {worker}: "
                "start its agent with --python naming one that user can run"
            )

    async def _launch(self, sandbox: Sandbox, command: list[str], run_as: RunAs | None) -> Outcome:
        """Take the identity the runbook runs as (a private group when the agent is root), then run it."""
        p, ctx = self.payload, self.ctx
        if run_as is None:
            return await self._start_and_supervise(sandbox, command, None)
        if ctx.private_groups is None:  # only a root agent switches users, and a root agent has them
            return Outcome(FAILED, None, f"cannot start the runbook on worker {ctx.worker_name} as {run_as.name}", True)
        try:
            gid = await asyncio.to_thread(ctx.private_groups.acquire)
        except (NoPrivateGroup, OSError) as exc:
            return Outcome(FAILED, None, f"cannot start the runbook on worker {ctx.worker_name}: {exc}", True)
        try:
            sandbox.grant(gid)
            return await self._start_and_supervise(sandbox, command, run_as, gid)
        finally:
            killed = await asyncio.to_thread(ctx.private_groups.release, gid)
            if killed:
                self.log.info("job %s: killed %d process(es) of the job that had left its session", p.id, killed)

    async def _start_and_supervise(
        self, sandbox: Sandbox, command: list[str], run_as: RunAs | None, gid: int | None = None
    ) -> Outcome:
        """Phase 3: start the runbook (as `run_as` with the private group `gid`, or as the agent), stream its
        records while it runs, end its process group when it must end early, and tell how it ended."""
        p, ctx = self.payload, self.ctx
        identity: dict[str, Any] = run_as.spawn_options(gid) if run_as is not None and gid is not None else {}
        user = run_as.name if identity and run_as is not None else None
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: RunbookProtocol(self._line, loop),
                *command,
                cwd=sandbox.path,
                env=sandbox.environment(ctx.interpreters, user, assets=self._assets(), tools=ctx.tools),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                umask=ctx.umask,
                preexec_fn=die_with_agent,
                **identity,
            )
        except OSError as exc:
            return Outcome(
                FAILED, None, f"cannot start the runbook on worker {ctx.worker_name}: {exc.strerror or exc}", True
            )
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
        sender = asyncio.create_task(
            self.reporter.stream_records(on_gone=self.lose, on_stop=lambda: self.request_stop(BY_REQUEST)),
            name=f"records {p.id}",
        )
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
            return Outcome(COMPLETED, 0, "", False)
        return Outcome(FAILED, returncode, failure_reason(returncode, self.journal.error_tail()), False)

    def _forced_outcome(self, forced: str, returncode: int | None) -> Outcome:
        if forced == TIMED_OUT:
            return Outcome(FAILED, returncode, f"timed out after {self.payload.timeout_seconds} s", True)
        if forced == SHUTDOWN:
            why = f"stopped: the worker service on {self.ctx.worker_name} was shutting down"
            return Outcome(STOPPED, returncode, why, True)
        return Outcome(STOPPED, returncode, STOPPED_BY_REQUEST, True)

    async def _time_out(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self.request_stop(TIMED_OUT)

    def _assets(self) -> tuple[str, str] | None:
        return (self.relay.url, self.relay.token) if self.relay is not None else None

    def _line(self, fd: int, line: str) -> None:
        if self.output is None or self._output_closed:
            return
        stream, text = classify(line, OUTPUT if fd == 1 else ERROR)
        self.output.add(stream, self.masker.mask(text))

    def _cap_passed(self) -> None:
        assert self.output is not None
        self.log.warning(
            "job %s: its output passed the cap of %s; only its last part is kept (in memory), and sent at the end",
            self.id,
            self.output.cap_text,
        )
