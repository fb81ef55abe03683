"""A job's output cap (`hybridworker run --max-output-mb`, default 50 MiB): a runaway job fills neither the server
nor this machine.

Output is measured as record text, one character per character plus one per line end. Up to half the cap
(the head) goes to the server as it comes. Past that, records are held back in memory and only the most
recent are kept (the tail: the other half of the cap, and at most TAIL_RECORDS records). The job keeps
running. When the first record has to be left out, a warning record says so at once, for anyone watching;
when the job ends, one more warning record tells what was left out, followed by the tail.

Records are numbered only when they are sent (head, warnings, tail), so sequence numbers stay contiguous;
job.log holds exactly what is sent, so the sandbox does not grow with what was left out either.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from workers.streams import WARNING, Journal, now_iso

DEFAULT_MAX_OUTPUT_MB = 50
MIB = 1024 * 1024
# The tail's bound in records, whatever their size: a flood of empty lines must not fill memory either.
TAIL_RECORDS = 100_000


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


class OutputCap:
    """Between the runbook's lines and the journal: passes the head on, keeps the tail until `close()`."""

    def __init__(
        self,
        journal: Journal,
        cap: int,
        *,
        tail_records: int = TAIL_RECORDS,
        on_passed: Callable[[], None] | None = None,
    ) -> None:
        self.journal = journal
        self.cap = cap
        self.head_limit = cap // 2
        self.tail_limit = cap - self.head_limit
        self.tail_records = tail_records
        self.on_passed = on_passed
        self.size = 0
        self.left_out = 0
        self.left_out_size = 0
        # The seq of the warning sent when the cap was passed: the left-out records come after it.
        self.passed_at: int | None = None
        self._holding = False
        self._tail: deque[tuple[str, str, str, int]] = deque()
        self._tail_size = 0

    @property
    def cap_text(self) -> str:
        mib = self.cap / MIB
        return f"{mib:g} MiB" if mib >= 1 else f"{self.cap:,} characters"

    def add(self, stream: str, text: str) -> None:
        size = len(text) + 1
        self.size += size
        if not self._holding and self.size <= self.head_limit:
            self.journal.add(stream, text)
            return
        self._holding = True
        self._tail.append((stream, text, now_iso(), size))
        self._tail_size += size
        # The newest record always stays, however large.
        while len(self._tail) > 1 and (self._tail_size > self.tail_limit or len(self._tail) > self.tail_records):
            *_, dropped = self._tail.popleft()
            self._tail_size -= dropped
            self.left_out += 1
            self.left_out_size += dropped
        if self.left_out and self.passed_at is None:
            warning = self.journal.add(
                WARNING,
                f"output passed this job's cap of {self.cap_text}: from here on only the last "
                f"{_mib(self.tail_limit)} are kept, and sent when the job ends",
            )
            self.passed_at = warning.seq
            if self.on_passed is not None:
                self.on_passed()

    def close(self) -> None:
        """The job ended: say what was left out, then hand over the tail."""
        if self.left_out:
            self.journal.add(
                WARNING,
                f"output passed this job's cap of {self.cap_text}: {self.left_out:,} records "
                f"({_mib(self.left_out_size)}) between record {self.passed_at} and the last "
                f"{_mib(self._tail_size)} ({len(self._tail):,} records) were left out",
            )
        while self._tail:
            stream, text, time, _ = self._tail.popleft()
            self.journal.add(stream, text, time=time)
        self._tail_size = 0
