"""What the server hears about one job, under its lease: its records in ordered batches, then its end.

Records go every BATCH_SECONDS, or at once when BATCH_RECORDS wait; the last batch rides on the end report,
which may also claim the next jobs. A report the server cannot be reached for is retried with backoff (given
up only when the service shuts down, see JobContext.give_up_at). A batch the server refuses as too large
(HTTP 413) goes again in halves; a single record refused so is cut shorter (its end marked) until it passes,
so no output is dropped for its size. A job the server no longer takes reports on (HTTP 403, 404, 409) is
gone: JobGone, and nothing more is sent about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from workers.backoff import Backoff
from workers.client import ApiError, Unreachable
from workers.job.context import JobContext
from workers.job.payload import JobPayload
from workers.streams import BATCH_RECORDS, Journal, Record, cut_again

# Records go to the server this often at most, unless a full batch is waiting.
BATCH_SECONDS = 0.2
# After a 413, batches are made smaller, but not below this (a batch always holds at least one record).
MIN_BATCH_BYTES = 16 * 1024
# A record the server refuses even at this size is left out (and logged): the limit is not about size then.
MIN_RECORD_CHARS = 1024


class JobGone(Exception):
    """The server no longer takes reports on this job (it ended, or the lease moved on)."""


class Rejected(Exception):
    """The server refused a report as malformed: sending it again cannot help."""


class TooLarge(Rejected):
    """The server refused a report's body as too large (HTTP 413): smaller pieces may pass."""


class GaveUp(Exception):
    """The service is shutting down and the server could not be reached in time."""


class Reporter:
    def __init__(self, job: JobPayload, context: JobContext, lost: Callable[[], str | None]) -> None:
        self.job = job
        self.ctx = context
        self.log = context.log
        # Set once the sandbox is made: a job that fails before has no records, only its end to report.
        self.journal: Journal | None = None
        # Why the server no longer takes reports on this job, once it does not.
        self._lost = lost
        self._added = asyncio.Event()
        self._full = asyncio.Event()
        self._problem_logged = False
        self._cut_logged = False

    @property
    def id(self) -> str:
        return self.job.id

    def attach(self, journal: Journal) -> None:
        self.journal = journal
        journal.on_add = self._on_add

    def _on_add(self, backlog: int) -> None:
        self._added.set()
        if backlog >= BATCH_RECORDS:
            self._full.set()

    def _next_batch(self) -> list[Record]:
        journal = self.journal
        return journal.batch(max_bytes=self.ctx.batch_bytes) if journal is not None and journal.backlog else []

    async def stream_records(self, *, on_gone: Callable[[str], None], on_stop: Callable[[], None]) -> None:
        """Ordered batches while the runbook runs, every BATCH_SECONDS or BATCH_RECORDS. The first goes after
        BATCH_SECONDS even when empty (it marks the job Running); a job that ends sooner says everything in its
        end report, so a short job costs one request."""
        journal = self.journal
        assert journal is not None
        first = True
        while self._lost() is None:
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
                on_gone(str(exc))
                return
            except GaveUp:
                return
            first = False
            if stop:
                on_stop()

    async def _send_batch(self, batch: list[Record]) -> bool:
        """Send records and acknowledge them; True when the server asks for a stop."""
        journal = self.journal
        assert journal is not None
        records = [record.as_json() for record in batch]
        try:
            answer = await self._report(
                lambda credential: self.ctx.client.job_records(
                    credential=credential, job_id=self.id, lease=self.job.lease, records=records
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

    async def report_end(self, status: str, exit_code: int | None, reason: str) -> None:
        """Send what is left of the records, the last batch with the end report."""
        journal = self.journal
        batch = self._next_batch()
        while journal is not None and len(batch) < journal.backlog:
            await self._send_batch(batch)
            batch = self._next_batch()
        try:
            await self._send_end(status, exit_code, reason, batch)
        except TooLarge:
            await self._send_batch(batch)
            batch = []
            try:
                await self._send_end(status, exit_code, reason, batch)
            except Rejected as exc:
                self.log.error("job %s: the server refused the report of its end: %s", self.id, exc)
                return
        except Rejected as exc:
            self.log.error("job %s: the server refused the report of its end: %s", self.id, exc)
            return
        if journal is not None:
            journal.acknowledge(len(batch))
        self.ctx.held.release(self.id, self.job.lease)

    async def _send_end(self, status: str, exit_code: int | None, reason: str, batch: list[Record]) -> None:
        records = [record.as_json() for record in batch]
        ctx = self.ctx
        claim = ctx.claim_slots() if ctx.on_claimed is not None else 0
        answer = await self._report(
            lambda credential: ctx.client.finish_job(
                credential=credential,
                job_id=self.id,
                lease=self.job.lease,
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
            lost = self._lost()
            if lost is not None:
                raise JobGone(lost)
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
