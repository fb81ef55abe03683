"""A job's stream records: how a runbook's output becomes numbered records, kept on disk until the server has them.

Standard output is Output and standard error is Error. In either, a line that starts with `WARNING:`,
`VERBOSE:`, `ERROR:` or `PROGRESS:` goes to that stream instead, the prefix (and one space after it)
removed, as on Azure's Linux worker (PowerShell's own Write-Warning and Write-Verbose print such lines).

Each record is one line, numbered from 0 per job (`seq`) and stamped with the time the agent read it.
Every record is written to the job's `job.log` in the sandbox (one JSON object a line) the moment it is
read; the records the server has not acknowledged are sent again from there, so a server outage loses none.
"""

import codecs
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUTPUT, ERROR, WARNING, VERBOSE, PROGRESS = "output", "error", "warning", "verbose", "progress"
PREFIXES = (("WARNING:", WARNING), ("VERBOSE:", VERBOSE), ("ERROR:", ERROR), ("PROGRESS:", PROGRESS))
# A longer line becomes several records: the server stores up to 1 MiB of text per record.
MAX_RECORD_CHARS = 64 * 1024
# A batch: at most this many records, or this much text, whichever comes first.
BATCH_RECORDS = 500
BATCH_CHARS = 1024 * 1024
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
    # PostgreSQL text cannot hold NUL; a CRLF line end is just a line end.
    return line.removesuffix("\r").replace("\x00", "\ufffd")


class LineSplitter:
    """Bytes from a pipe in, whole lines out: UTF-8 (a bad byte becomes U+FFFD), long lines cut in pieces."""

    def __init__(self, max_chars: int = MAX_RECORD_CHARS) -> None:
        self.max_chars = max_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""

    def _pieces(self, line: str) -> list[str]:
        return [line[i : i + self.max_chars] for i in range(0, len(line), self.max_chars)] or [""]

    def feed(self, data: bytes) -> list[str]:
        self._buffer += self._decoder.decode(data)
        *complete, self._buffer = self._buffer.split("\n")
        lines = [piece for line in complete for piece in self._pieces(_clean(line))]
        while len(self._buffer) > self.max_chars:
            lines.append(_clean(self._buffer[: self.max_chars]))
            self._buffer = self._buffer[self.max_chars :]
        return lines

    def close(self) -> list[str]:
        """The last line, when the output did not end with a newline."""
        rest = self._buffer + self._decoder.decode(b"", final=True)
        self._buffer = ""
        return self._pieces(_clean(rest)) if rest else []


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Record:
    seq: int
    stream: str
    text: str
    time: str

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
        self._file = open(path, "ab")  # noqa: SIM115 - closed in close()
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

    def add(self, stream: str, text: str) -> Record:
        record = Record(seq=self.next_seq, stream=stream, text=text, time=now_iso())
        self.next_seq += 1
        line = (json.dumps(record.as_json(), ensure_ascii=False) + "\n").encode("utf-8")
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

    def batch(self, limit: int = BATCH_RECORDS, max_chars: int = BATCH_CHARS) -> list[Record]:
        """The oldest unacknowledged records (at least one when there are any); they stay queued until acknowledged."""
        self._file.flush()
        if not self._queue and self._spilled is not None:
            self._read_back()
        taken: list[Record] = []
        chars = 0
        for record in self._queue:
            if taken and (len(taken) >= limit or chars + len(record.text) > max_chars):
                break
            taken.append(record)
            chars += len(record.text)
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
                self._queue.append(Record(seq=data["seq"], stream=data["stream"], text=data["text"], time=data["time"]))
                seq, offset = seq + 1, offset + len(line)
        self._spilled = (seq, offset) if seq < self.next_seq else None

    def error_tail(self) -> str:
        """The last lines of the Error stream, at most REASON_CHARS (the end kept)."""
        text = "\n".join(self.last_errors).strip()
        return text[-REASON_CHARS:] if len(text) > REASON_CHARS else text

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
