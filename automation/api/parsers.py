import json
import math
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from automation.api.exceptions import PayloadTooLarge

# A \uD800-\uDFFF escape; whether it is half of a pair is checked only when the body has one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(ValueError):
    """Valid to Python's json, not to us: the message says why."""


def _object(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                # RFC 8259 leaves the meaning to the reader; Python keeps the last, others the first.
                raise _Refused(f'it names the key "{key}" more than once in one object; name each key once.')
            seen.add(key)
    return obj


def _constant(name: str):
    raise _Refused(f"{name} is not a JSON number.")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"the number {text[:40]} is out of range.")
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)


def loads(text: str):
    """json.loads for request bodies: refuses what Python would read but JSON does not have (NaN,
    Infinity, 1e400 as infinity), duplicate keys, lone surrogates, and nesting that would exhaust the
    stack; each as ValueError, with a message for the client."""
    try:
        value = _DECODER.decode(text)
        if "\\u" in text and _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise _Refused("it is nested too deep.") from None
    except UnicodeEncodeError:
        raise _Refused("it holds a lone surrogate escape (\\ud800 to \\udfff), which is not a character.") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's int max str digits
            raise _Refused("a number has too many digits.") from None
        raise
    return value


class LimitedJSONParser(JSONParser):
    """JSON bodies up to AGENT_MAX_BODY_BYTES (the agent API); larger ones are refused before parsing."""

    limit_setting = "AGENT_MAX_BODY_BYTES"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = getattr(settings, self.limit_setting)
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is over the {limit} byte limit.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is over the {limit} byte limit.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("it is not UTF-8.") from None
        if not text.strip():
            raise ParseError("the body is empty.")
        try:
            return loads(text)
        except ValueError as exc:
            raise ParseError(str(exc)) from None


class ApiJSONParser(LimitedJSONParser):
    """The management API carries whole runbooks, so its bodies may be larger than an agent's."""

    limit_setting = "API_MAX_BODY_BYTES"


class StreamJSONParser(LimitedJSONParser):
    """Stream batches carry records of up to 1 MiB each (JSON escaping can make one several times that)."""

    limit_setting = "AGENT_STREAM_MAX_BODY_BYTES"


def body_limit(view) -> int:
    """The body limit of the view's parser: what a 413 names, whichever check fired first."""
    for parser in getattr(view, "parser_classes", None) or ():
        if getattr(parser, "limit_setting", None):
            return getattr(settings, parser.limit_setting)
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class VariableJSONParser(LimitedJSONParser):
    """A variable's value may be 1 MiB of JSON that a client escapes to several times that (portal/settings.py)."""

    limit_setting = "VARIABLE_MAX_BODY_BYTES"
