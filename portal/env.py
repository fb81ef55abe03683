"""Typed readers for environment variables.

A malformed value, or one outside the bounds a setting allows, stops the process with a message naming
the variable, rather than falling back to a default the operator did not ask for. A secret may instead
come from a file named by `<NAME>_FILE` (a container's mounted secret), so it need not sit in the
process environment; no message ever shows a secret's value.
"""

import math
import os
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_Number = TypeVar("_Number", int, float)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    _check_default(name, default, minimum, maximum)
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    return _bounded(name, value, minimum, maximum)


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    _check_default(name, default, minimum, maximum)
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    # float() also takes "nan" and "inf": neither is a duration or a size anyone means.
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}")
    return _bounded(name, value, minimum, maximum)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return _split(raw)


def env_secret(name: str, default: str) -> str:
    """`name`, or the content of the file `<name>_FILE` names, without its trailing newline (the one an
    editor or `echo` adds). Setting both is refused: which one wins would be a guess."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not path:
        return value or default
    if value:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both")
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            content = handle.read()
    except OSError as error:
        raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        # The decoder's own message would quote a byte of the secret.
        raise ImproperlyConfigured(f"{name}_FILE: {path} is not UTF-8 text") from None
    content = content.removesuffix("\n").removesuffix("\r")
    if not content.strip():
        raise ImproperlyConfigured(f"{name}_FILE: {path} is empty")
    return content


def env_secret_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list of secrets (keys newest first), from `name` or `<name>_FILE`."""
    return _split(env_secret(name, "")) or default


def _split(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _bounded(name: str, value: _Number, minimum: _Number | None, maximum: _Number | None) -> _Number:
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {_show(minimum)}, got {_show(value)}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {_show(maximum)}, got {_show(value)}")
    return value


def _check_default(name: str, default: float, minimum: float | None, maximum: float | None) -> None:
    # A default the bounds refuse is a mistake in settings.py, not in the environment: say so at once.
    if (minimum is not None and default < minimum) or (maximum is not None and default > maximum):
        raise ValueError(f"{name}: the default {default!r} is out of bounds")


def _show(number: float) -> str:
    # "at most 60, got 61", not "61.0": the message quotes numbers as the operator would write them.
    return str(int(number)) if float(number).is_integer() else str(number)
