"""Secret values a job read, kept out of its streams: each becomes `******` before a record is numbered.

The job's relay (workers.job.assets) adds every value the server marks secret (an encrypted variable, a
password, an encrypted connection field, a certificate) before the runbook gets the answer, so any line the
runbook prints with it afterwards is masked before it reaches job.log or the server, as GitHub masks secrets
in a workflow's log. The agent reads output line by line: a multi-line secret is masked whole and line by line.
"""

from __future__ import annotations

import json
import re
from typing import Any

MASK = "******"
# A value this short is not masked: masking "a", "1" or "no" would mangle every other line of output while
# hiding next to nothing (a secret that short is guessed in a moment anyway). GitHub leaves such values too.
MIN_MASKED_CHARS = 3


class Masker:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        candidates = {text, *text.splitlines()}
        new = {candidate for candidate in candidates if _maskable(candidate)} - self._values
        if not new:
            return
        self._values |= new
        # Longest first: where one secret holds another, the whole of the longer one goes.
        ordered = sorted(self._values, key=lambda item: (-len(item), item))
        self._pattern = re.compile("|".join(re.escape(item) for item in ordered))

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)


def _maskable(value: str) -> bool:
    # Blank lines of a multi-line secret (a PEM block's padding) would otherwise mask every run of spaces.
    return len(value.strip()) >= MIN_MASKED_CHARS
