"""A job's stream records: how a runbook's output becomes numbered records, kept on disk until the server has them.

Standard output is Output and standard error is Error. In either, a line that starts with `WARNING:`,
`VERBOSE:`, `ERROR:` or `PROGRESS:` goes to that stream instead, the prefix (and one space after it)
removed, as on Azure's Linux worker (PowerShell's own Write-Warning and Write-Verbose print such lines).

Each record is one line, numbered from 0 per job (`seq`) and stamped with the time the agent read it.
The server stores at most 1 MiB (1,048,576 characters) of text per record: a longer line becomes one
record cut to that size, its end marked ` … [cut: N more characters]` (the marker counts in the limit).
While such a line is read, only the part that is kept stays in memory; the rest is only counted.

Every record is written to the job's `job.log` in the sandbox (one JSON object a line) the moment it is
numbered; the records the server has not acknowledged are sent again from there, so a server outage loses
none. Batches are kept under 2 MiB of JSON (the server's agent API takes bodies up to 8 MiB).
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

OUTPUT, ERROR, WARNING, VERBOSE, PROGRESS = "output", "error", "warning", "verbose", "progress"
PREFIXES = (("WARNING:", WARNING), ("VERBOSE:", VERBOSE), ("ERROR:", ERROR), ("PROGRESS:", PROGRESS))
# The server stores at most this much text per record; a longer line is cut to it.
MAX_RECORD_CHARS = 1024 * 1024
CUT_MARK = " … [cut: {} more characters]"
_CUT_AT_END = re.compile(r" … \[cut: (\d+) more characters\]\Z")
# A batch: at most this many records, or this much JSON, whichever comes first.
BATCH_RECORDS = 500
BATCH_BYTES = 2 * 1024 * 1024
# Records waiting for the server are kept in memory up to this many; beyond, they are read back from job.log.
MEMORY_RECORDS = 20_000
# The last lines of the Error stream that a failed job's status reason quotes.
REASON_LINES = 5
REASON_CHARS = 1000


def classify(line: str, default: str) -> tuple[str, str]:
    """The stream a line goes to, and its text: `WARNING: disk low` is ("warning", "disk low")."""
    for prefix, stream in PREFIXES:
        if line.startswith(prefix):
            text = line[len(prefix) :]
            return stream, text[1:] if text.startswith(" ") else text
    return default, line


def _clean(line: str) -> str:
    # PostgreSQL text cannot hold NUL.
    return line.replace("\x00", "\ufffd")


def cut(text: str, limit: int, dropped: int = 0) -> str:
    """`text` (followed by `dropped` characters already left out) as at most `limit` characters, the cut marked."""
    if not dropped and len(text) <= limit:
        return text
    total = len(text) + dropped
    # The marker for the whole length is at least as long as the one finally written.
    keep = min(len(text), max(0, limit - len(CUT_MARK.format(total))))
    return text[:keep] + CUT_MARK.format(total - keep)


def cut_again(text: str, limit: int) -> str:
    """Cut a record's text shorter still; a marker already there keeps counting what was left out before."""
    match = _CUT_AT_END.search(text)
    if match is None:
        return cut(text, limit)
    return cut(text[: match.start()], limit, int(match[1]))


class LineSplitter:
    """Bytes from a pipe in, whole lines out: UTF-8 (a bad byte becomes U+FFFD), each line at most `max_chars`.

    Of a longer line only the first `max_chars` characters are kept while it is read; the rest is counted.
    """

    def __init__(self, max_chars: int = MAX_RECORD_CHARS) -> None:
        self.max_chars = max_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._kept: list[str] = []
        self._kept_chars = 0
        self._dropped = 0
        self._carriage = False
        self._started = False

    def feed(self, data: bytes) -> list[str]:
        *complete, rest = self._decoder.decode(data).split("\n")
        lines = []
        for piece in complete:
            self._take(piece)
            lines.append(self._line())
        self._take(rest)
        return lines

    def close(self) -> list[str]:
        """The last line, when the output did not end with a newline."""
        self._take(self._decoder.decode(b"", final=True))
        return [self._line()] if self._started else []

    def _take(self, piece: str) -> None:
        if not piece:
            return
        self._started = True
        room = max(0, self.max_chars - self._kept_chars)
        if room:
            self._kept.append(piece[:room])
            self._kept_chars += min(room, len(piece))
        self._dropped += max(0, len(piece) - room)
        self._carriage = piece.endswith("\r")

    def _line(self) -> str:
        text, dropped = "".join(self._kept), self._dropped
        # A CRLF line end is just a line end.
        if self._carriage:
            if dropped:
                dropped -= 1
            else:
                text = text[:-1]
        self._kept, self._kept_chars, self._dropped = [], 0, 0
        self._carriage = self._started = False
        return cut(_clean(text), self.max_chars, dropped)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Record:
    seq: int
    stream: str
    text: str
    time: str
    # Its length as JSON, about what it adds to a request body.
    size: int = field(default=0, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "stream": self.stream, "text": self.text, "time": self.time}


class Journal:
    """A job's records: numbered, appended to job.log at once, and queued until the server acknowledges them.

    Batches are taken from the front of the queue, in order, and acknowledged in order: `sent` records
    are done, records `sent` to `next_seq - 1` are still owed to the server.
    """

    def __init__(self, path: Path, *, memory_records: int = MEMORY_RECORDS) -> None:
        self.path = path
        self.memory_records = memory_records
        # The runbook may run as another user: its records are the agent's, private to it.
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        self._offset = self._file.tell()
        self.next_seq = 0
        self.sent = 0
        self._queue: deque[Record] = deque()
        # When the queue overflowed: (the first seq not in memory, where its line starts in job.log).
        self._spilled: tuple[int, int] | None = None
        self.last_errors: deque[str] = deque(maxlen=REASON_LINES)
        self.on_add: Callable[[int], None] | None = None

    @property
    def backlog(self) -> int:
        """How many records the server has not acknowledged yet."""
        return self.next_seq - self.sent

    def add(self, stream: str, text: str, time: str | None = None) -> Record:
        """Number a record and write it to job.log; `time`: when it was read (default: now)."""
        record = Record(seq=self.next_seq, stream=stream, text=text, time=time or now_iso())
        self.next_seq += 1
        line = (json.dumps(record.as_json(), ensure_ascii=False) + "\n").encode("utf-8")
        record = replace(record, size=len(line))
        if self._spilled is None and len(self._queue) >= self.memory_records:
            self._spilled = (record.seq, self._offset)
        if self._spilled is None:
            self._queue.append(record)
        self._file.write(line)
        self._offset += len(line)
        if stream == ERROR:
            self.last_errors.append(text)
        if self.on_add is not None:
            self.on_add(self.backlog)
        return record

    def batch(self, limit: int = BATCH_RECORDS, max_bytes: int = BATCH_BYTES) -> list[Record]:
        """The oldest unacknowledged records (at least one when there are any); they stay queued until acknowledged."""
        self._file.flush()
        if not self._queue and self._spilled is not None:
            self._read_back()
        taken: list[Record] = []
        size = 0
        for record in self._queue:
            if taken and (len(taken) >= limit or size + record.size > max_bytes):
                break
            taken.append(record)
            size += record.size
        return taken

    def acknowledge(self, count: int) -> None:
        for _ in range(min(count, len(self._queue))):
            self._queue.popleft()
        self.sent += count

    def _read_back(self) -> None:
        """Refill the queue from job.log, where the records that did not fit in memory are."""
        assert self._spilled is not None
        seq, offset = self._spilled
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            while len(self._queue) < self.memory_records and seq < self.next_seq:
                line = handle.readline()
                if not line.endswith(b"\n"):
                    break
                data = json.loads(line)
                self._queue.append(Record(data["seq"], data["stream"], data["text"], data["time"], size=len(line)))
                seq, offset = seq + 1, offset + len(line)
        self._spilled = (seq, offset) if seq < self.next_seq else None

    def error_tail(self) -> str:
        """The last lines of the Error stream, at most REASON_CHARS (the end kept)."""
        text = "\n".join(self.last_errors).strip()
        return text[-REASON_CHARS:] if len(text) > REASON_CHARS else text

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
