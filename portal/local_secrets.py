"""Secrets generated once and kept under var/ when the environment does not supply them.

Several processes (daphne, Celery, manage.py) may start at the same moment, so the file is
created with O_EXCL: the first writer wins and everyone else reads what it wrote.
"""

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path


def _read(path: Path) -> str | None:
    # A writer that won the O_EXCL race may not have written yet; give it a moment.
    for _ in range(50):
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    return None


def load_or_create(directory: Path, name: str, generate: Callable[[], str]) -> str:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = _read(path)
        if value is None:
            raise RuntimeError(f"{path} is empty; delete it to generate a new secret") from None
        return value
    value = generate()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def token(nbytes: int = 48) -> Callable[[], str]:
    return lambda: secrets.token_urlsafe(nbytes)
