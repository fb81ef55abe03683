"""The rules for what a person or a program may write into the product: names, text and numbers.

One place, so the portal's forms, the management API and the services refuse the same things in
the same words (the services apply them; forms and serializers only pass values on).
"""

import math
import re
from typing import Any

from django.core.exceptions import ValidationError

NAME_RULE = (
    "Names are 1 to 128 characters: letters A-Z and a-z, digits, spaces, '-', '_' and '.', "
    "do not start or end with a space, and are not only dots."
)
NAME_PATTERN = r"[A-Za-z0-9._-](?:[A-Za-z0-9 ._-]{0,126}[A-Za-z0-9._-])?"
_NAME = re.compile(NAME_PATTERN)

# What a 64-bit integer column holds, and so every whole number the product stores or hands on.
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
# A JSON value nested deeper than this is refused: nothing a runbook takes needs more, and every page,
# encoder and database that shows or stores it copes with this much.
MAX_JSON_DEPTH = 64

# The kinds of text, from strict to lenient:
#   LINE: one line (token names, filters): no control character at all, no line or paragraph separator.
#   TEXT: text that may span lines (descriptions, parameter values): tab, line feed and CR LF line ends.
#   CODE: a runbook's content, passed to an interpreter as it is (escape sequences, form feeds...): only
#         what no database can store, NUL, and lone surrogates, which are not text (no UTF-8 for them).
# C0 controls (but those named), DEL and C1 controls are refused in LINE and TEXT: a database may store
# them, but a runbook's command line, a terminal or a log viewer takes them as commands, not text.
LINE, TEXT, CODE = "line", "text", "code"
_NOT_ALLOWED = {
    LINE: re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]"),
    TEXT: re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]|\r(?!\n)"),
    CODE: re.compile("[\x00\ud800-\udfff]"),
}


def validate_name(value: str) -> None:
    # Only-dots names would be read as "." and ".." path segments in URLs.
    if not isinstance(value, str) or not _NAME.fullmatch(value) or not value.strip("."):
        raise ValidationError(NAME_RULE, code="invalid_name")


def is_name(value: Any) -> bool:
    try:
        validate_name(value)
    except ValidationError:
        return False
    return True


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"a NUL character ({code})"
    if 0xD800 <= ord(char) <= 0xDFFF:
        return f"half of a surrogate pair ({code}), which is not text"
    if char in "\n\r\u2028\u2029":
        return f"a line break ({code})"
    return f"a control character ({code})"


def text_problem(value: str, kind: str = TEXT) -> str | None:
    """What is wrong with this text for its kind ("contains ..."), or None when it is fine."""
    found = _NOT_ALLOWED[kind].search(value)
    if found is None:
        return None
    return f"contains {_describe(found.group()[0])} at position {found.start()}"


def validate_text(value: str, kind: str = TEXT, *, label: str) -> None:
    """Refuse text with characters its kind does not take, naming `label` and the character."""
    problem = text_problem(value, kind)
    if problem:
        raise ValidationError(f"{label} {problem}.", code="invalid_text")


def int_problem(value: Any) -> str | None:
    """Why this is not a whole number a 64-bit column holds (true, 5.0 and NaN are not), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number"
    if not MIN_INT <= value <= MAX_INT:
        return f"must be a whole number from {MIN_INT} to {MAX_INT}"
    return None


def _key(key: str) -> str:
    return repr(key if len(key) <= 40 else key[:40] + "…")


def json_problem(value: Any) -> str | None:
    """What in a JSON value (a parsed one: dicts, lists, strings, numbers, booleans, None) no database,
    page or runbook could take: text that is not TEXT, NaN or an infinity, nesting past MAX_JSON_DEPTH.
    Walked without recursion, so a deep value is answered, not a RecursionError."""
    stack = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        at = f"at {where}" if where else "at its top"
        if depth > MAX_JSON_DEPTH:
            return f"is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, str):
            problem = text_problem(item, TEXT)
            if problem:
                return f"{problem} of the text {at}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"holds {item} {at}, which JSON cannot say"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"has a key that is not text {at}"
                problem = text_problem(key, TEXT)
                if problem:
                    return f"{problem} of the key {_key(key)} {at}"
                stack.append((child, depth + 1, f"{where}[{_key(key)}]"))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{where}[{index}]") for index, child in enumerate(item))
        elif item is not None and not isinstance(item, (bool, int)):
            return f"holds a {type(item).__name__}, which is not JSON"
    return None
