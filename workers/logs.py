"""The service's log: a rotating file in the state folder, plus stderr for journald.

Secrets are never logged on purpose; the redacting filter is the safety net for the day an
exception message or a library log line carries one.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

LOGGER_NAME = "hybridworker"
MAX_BYTES = 1024 * 1024
BACKUP_COUNT = 5
REDACTED = "[redacted]"


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def hide(self, secret: str | None) -> None:
        if secret and len(secret) >= 8:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_service_logging(log_path: Path, redact: Redactor, *, verbose: bool = False) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    to_file = logging.handlers.RotatingFileHandler(
        log_path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
    )
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    # journald (or the terminal) adds its own timestamps.
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter("%(message)s"))
    for handler in (to_file, to_stderr):
        handler.addFilter(RedactingFilter(redact))
        logger.addHandler(handler)
    # httpx logs every request at INFO: one line per heartbeat is noise, not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return logger
