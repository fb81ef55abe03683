"""The jobs task: wait for work on a long-poll, run jobs up to the worker's capacity, pass on stop requests.

It runs beside the heartbeat task, on an asyncio event loop in a thread of its own, with connections
of its own: one that waits on `jobs/next` (answered at once when a job is queued for the group or a
stop is requested for one of this worker's jobs), one for the running jobs' reports. A request waits
on the server whenever the worker has a free slot or a running job, so a Stop arrives within moments.

When the service stops (SIGTERM), no more work is taken; running jobs get `shutdown_grace` seconds to
end by themselves, then are stopped (SIGTERM, SIGKILL after `stop_grace`) and reported Stopped.

Every job started is held under its lease (workers.leases) until its end is reported; when a heartbeat
learns that the server took some back, their runs are ended here at once, unreported. A job handed out
again under a new lease (the server retries it) ends the run under the old one and starts once that is
gone. Finished sandboxes are pruned when the task starts and every PRUNE_SECONDS (and before each job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.backoff import Backoff
from workers.client import ApiError, JobsClient, Unreachable, parse_endpoint
from workers.identity import PrivateGroups, RunAs, agent_user
from workers.job.context import JobContext
from workers.job.payload import JobPayload
from workers.job.process import KILL_WAIT_SECONDS, signal_group
from workers.job.run import BY_REQUEST, SHUTDOWN, JobRun
from workers.leases import MAX_LISTED, Lease
from workers.outputcap import DEFAULT_MAX_OUTPUT_MB, MIB
from workers.sandbox import (
    DEFAULT_KEEP_DAYS,
    Interpreters,
    end_leftovers,
    prune_sandboxes,
    sandboxes_dir,
    write_tools,
)
from workers.task import ServiceHandle

# At full capacity the server gives no job, but a freed slot should be filled soon: ask again this often.
AT_CAPACITY_WAIT = 2.0
# An answer that brings nothing new (e.g. a stop already being carried out) comes back at once: pause a little.
NOTHING_NEW_PAUSE = 1.0
# At shutdown, how long the reports of the last jobs may keep failing before the agent gives up on them.
REPORT_SECONDS = 15.0
DEFAULT_STOP_GRACE = 5.0
DEFAULT_SHUTDOWN_GRACE = 30.0
PRUNE_SECONDS = 3600.0


@dataclass(frozen=True)
class JobSettings:
    capacity: int
    python: str
    stop_grace: float = DEFAULT_STOP_GRACE
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    max_output_mb: int = DEFAULT_MAX_OUTPUT_MB
    keep_sandboxes_days: float = DEFAULT_KEEP_DAYS
    # None: runbooks run as the agent's own user.
    run_as: RunAs | None = None
    # `--allow-run-as`: the users a group's Run as setting may name.
    allowed_run_as: frozenset[str] = frozenset()
    python_problem: str | None = None
    umask: int = 0o022


class JobsTask:
    name = "jobs"

    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self.runs: dict[str, JobRun] = {}
        self._tasks: set[asyncio.Task] = set()
        self._context: JobContext | None = None
        self._unknown_stops: set[str] = set()
        self._problem: str | None = None
        # Jobs handed out again (a new attempt, under a new lease) while their old run is still being ended.
        self._next_attempts: dict[str, JobPayload] = {}
        self._shutting_down = False

    @property
    def held(self) -> int:
        """Jobs taking a slot: those whose end is being reported are done with theirs."""
        return sum(not run.finishing for run in self.runs.values())

    @property
    def join_timeout(self) -> float:
        """How long the service waits for this task after a stop: running jobs get their grace periods."""
        settings = self.settings
        return settings.shutdown_grace + settings.stop_grace + KILL_WAIT_SECONDS + REPORT_SECONDS + 5.0

    def run(self, service: ServiceHandle) -> None:
        asyncio.run(self._main(service))

    def close(self) -> None:
        """Last resort as the service exits: no runbook outlives it, even if its job could not be reported."""
        if self._context is not None:
            for pgid in list(self._context.groups):
                signal_group(pgid, signal.SIGKILL)
            if self._context.private_groups is not None:
                self._context.private_groups.release_all()

    async def _main(self, service: ServiceHandle) -> None:
        stopping = asyncio.Event()
        watcher = asyncio.create_task(self._watch(service, stopping))
        settings = self.settings
        who = settings.run_as.name if settings.run_as is not None else f"{agent_user()} (the agent's own user)"
        allowed = ", ".join(sorted(settings.allowed_run_as)) or "none (--allow-run-as)"
        service.log.info(
            "jobs: up to %d at once, run as %s; users a group's Run as may name: %s; output cap %d MiB a job; "
            "finished sandboxes kept %g days",
            settings.capacity,
            who,
            allowed,
            settings.max_output_mb,
            settings.keep_sandboxes_days,
        )
        leftovers = await asyncio.to_thread(end_leftovers, sandboxes_dir(service.state.path))
        if leftovers:
            service.log.warning("ended %d process(es) that runbooks left running when the agent last died", leftovers)
        pruner = asyncio.create_task(self._prune(service, sandboxes_dir(service.state.path)))
        try:
            tools = await asyncio.to_thread(write_tools, service.state.path, settings.python)
        except OSError as exc:
            tools = None
            service.log.warning("runbooks will not find 'hybridworker' on their PATH: %s", exc)
        service.held.attach(asyncio.get_running_loop(), lambda lost: self._lose(service.log, lost))
        try:
            # The server learns this worker's capacity from the heartbeat: wait for the first one.
            while not service.heartbeat_accepted.is_set():
                if stopping.is_set():
                    return
                await asyncio.sleep(0.1)
            registration = service.registration
            endpoint = parse_endpoint(registration.endpoint)
            ca_bundle = service.state.ca_bundle()
            poller = JobsClient(endpoint, ca_bundle=ca_bundle)
            reporter = JobsClient(endpoint, ca_bundle=ca_bundle)
            # Runbooks' asset requests, a child's wait among them, never hold a connection a report needs.
            relayed = JobsClient(endpoint, ca_bundle=ca_bundle)
            self._context = JobContext(
                client=reporter,
                assets_client=relayed,
                credential=lambda: service.credential,
                worker_name=registration.name,
                sandboxes=sandboxes_dir(service.state.path),
                interpreters=Interpreters(
                    python=settings.python,
                    path=os.environ.get("PATH") or os.defpath,
                    python_problem=settings.python_problem,
                ),
                stop_grace=settings.stop_grace,
                log=service.log,
                held=service.held,
                max_output=settings.max_output_mb * MIB,
                keep_sandboxes_days=settings.keep_sandboxes_days,
                run_as=settings.run_as,
                # As root, any job may run as another user: its default one, or the one its group names.
                private_groups=PrivateGroups() if os.geteuid() == 0 else None,
                allowed_run_as=settings.allowed_run_as,
                umask=settings.umask,
                tools=tools,
                claim_slots=lambda: 0 if stopping.is_set() else max(0, self.settings.capacity - self.held),
                on_claimed=lambda jobs: self._take(service.log, {"jobs": jobs, "stop": []}),
            )
            try:
                await self._poll(service, poller, stopping)
                await self._shut_down(service.log)
            finally:
                await poller.aclose()
                await reporter.aclose()
                await relayed.aclose()
        finally:
            service.held.detach()
            watcher.cancel()
            pruner.cancel()

    @staticmethod
    async def _watch(service: ServiceHandle, stopping: asyncio.Event) -> None:
        while not service.stopping:
            await asyncio.sleep(0.1)
        stopping.set()

    async def _prune(self, service: ServiceHandle, root: Path) -> None:
        while True:
            try:
                pruned = await asyncio.to_thread(prune_sandboxes, root, max_age_days=self.settings.keep_sandboxes_days)
            except OSError as exc:
                service.log.warning("cannot prune the finished sandboxes in %s: %s", root, exc)
            else:
                if pruned:
                    service.log.info("deleted %d finished sandbox(es) past their keeping", pruned)
            await asyncio.sleep(PRUNE_SECONDS)

    def _lose(self, log: logging.Logger, lost: list[Lease]) -> None:
        """On the loop: end at once the runs whose lease the server took back."""
        for job_id, lease in lost:
            run = self.runs.get(job_id)
            if run is not None and run.payload.lease == lease:
                run.lose("the server took it back: this worker was silent past its lease")
            else:
                log.debug("job %s was taken back by the server, but it no longer runs here", job_id)

    async def _poll(self, service: ServiceHandle, client: JobsClient, stopping: asyncio.Event) -> None:
        log = service.log
        backoff = Backoff(cap=30.0)
        long_poll = float(max(1, service.registration.long_poll_timeout))
        stop_waiter = asyncio.create_task(stopping.wait())
        try:
            while not stopping.is_set():
                free = self.settings.capacity - self.held
                wait = long_poll if free > 0 else min(long_poll, AT_CAPACITY_WAIT)
                asked = time.monotonic()
                # Stops already being carried out are named, so they do not end the wait again.
                stopping_now = [job_id for job_id, run in self.runs.items() if run.end_reason is not None]
                # One left out only ends a wait again (its stop is named in the answer once more).
                stopping_now = stopping_now[:MAX_LISTED]
                poll = asyncio.create_task(
                    client.next_jobs(credential=service.credential, wait=wait, stopping=stopping_now)
                )
                await asyncio.wait({poll, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not poll.done():
                    poll.cancel()
                    await asyncio.gather(poll, return_exceptions=True)
                    return
                try:
                    answer = poll.result()
                except ApiError as exc:
                    self._failed(log, exc)
                    await self._pause(max(backoff.next(), exc.retry_after or 0.0), stopping)
                    continue
                except Unreachable as exc:
                    delay = backoff.next()
                    # The heartbeat task tells when the server is unreachable; this is only detail.
                    log.debug("waiting for jobs failed: %s; next attempt in %.1f s", exc.reason, delay)
                    await self._pause(delay, stopping)
                    continue
                backoff.reset()
                if self._problem is not None:
                    log.info("waiting for jobs works again")
                    self._problem = None
                news = self._take(log, answer)
                if not news and time.monotonic() - asked < wait / 2:
                    await self._pause(NOTHING_NEW_PAUSE, stopping)
        finally:
            stop_waiter.cancel()

    def _failed(self, log: logging.Logger, exc: ApiError) -> None:
        if exc.status == 401:
            # The heartbeat task takes up a new credential, or stops the service if the worker was removed.
            log.debug("waiting for jobs refused: %s", exc.detail)
            return
        problem = f"{exc.status} {exc.code}"
        if problem != self._problem:
            log.warning("waiting for jobs refused (HTTP %d): %s", exc.status, exc.detail)
            self._problem = problem

    @staticmethod
    async def _pause(seconds: float, stopping: asyncio.Event) -> None:
        # asyncio.wait_for raises asyncio.TimeoutError, which is the builtin TimeoutError only from Python 3.11.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stopping.wait(), max(0.0, seconds))

    def _take(self, log: logging.Logger, answer: dict[str, Any]) -> bool:
        """Start the jobs and carry out the stops of an answer. True when it brought something new."""
        news = False
        jobs = answer.get("jobs") if isinstance(answer.get("jobs"), list) else []
        for data in jobs:
            try:
                payload = JobPayload.parse(data)
            except ValueError as exc:
                log.error("the server sent a job this agent cannot read: %s", exc)
                continue
            running = self.runs.get(payload.id)
            if running is not None:
                if running.payload.lease != payload.lease and payload.id not in self._next_attempts:
                    # The old lease is stale for sure: end that run, then start this attempt in its sandbox.
                    log.warning("job %s comes again under a new lease; ending the run under the old one", payload.id)
                    running.lose("the server handed the job out again under a new lease")
                    self._next_attempts[payload.id] = payload
                    running.ctx.held.hold(payload.id, payload.lease)
                    news = True
                continue
            news = True
            self._start(payload)
        if self.held > self.settings.capacity:
            log.warning("running %d jobs, over this worker's capacity (%d)", self.held, self.settings.capacity)
        stops = answer.get("stop") if isinstance(answer.get("stop"), list) else []
        for job_id in map(str, stops):
            run = self.runs.get(job_id)
            if run is None:
                if job_id not in self._unknown_stops:
                    log.warning("the server asks to stop job %s, which this worker is not running", job_id)
                    self._unknown_stops.add(job_id)
                continue
            if run.request_stop(BY_REQUEST):
                log.info("job %s: stop requested", job_id)
                news = True
        return news

    def _start(self, payload: JobPayload) -> None:
        context = self._context
        assert context is not None
        run = JobRun(payload, context)
        self.runs[payload.id] = run
        context.held.hold(payload.id, payload.lease)
        task = asyncio.create_task(run.run(), name=f"job {payload.id}")
        self._tasks.add(task)

        def done(task: asyncio.Task, job_id: str = payload.id) -> None:
            self._tasks.discard(task)
            if self.runs.get(job_id) is run:
                del self.runs[job_id]
            context.held.release(job_id, payload.lease)
            attempt = self._next_attempts.pop(job_id, None)
            # At shutdown it is left to the server, which takes it back when told the worker leaves.
            if attempt is not None and not self._shutting_down:
                self._start(attempt)

        task.add_done_callback(done)

    async def _shut_down(self, log: logging.Logger) -> None:
        self._shutting_down = True
        if not self._tasks:
            return
        assert self._context is not None
        settings = self.settings
        self._context.give_up_at = time.monotonic() + settings.shutdown_grace + settings.stop_grace + REPORT_SECONDS
        log.info("waiting up to %.0f s for %d running job(s) to end", settings.shutdown_grace, len(self._tasks))
        await asyncio.wait(set(self._tasks), timeout=settings.shutdown_grace)
        if self._tasks:
            log.info("stopping %d job(s) still running", len(self._tasks))
            for run in list(self.runs.values()):
                run.request_stop(SHUTDOWN)
            await asyncio.wait(set(self._tasks), timeout=settings.stop_grace + KILL_WAIT_SECONDS + REPORT_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
