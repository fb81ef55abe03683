import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from automation.api.exceptions import PayloadTooLarge


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
            return json.loads(text)
        except ValueError as exc:
            raise ParseError(str(exc)) from None


class ApiJSONParser(LimitedJSONParser):
    """The management API carries whole runbooks, so its bodies may be larger than an agent's."""

    limit_setting = "API_MAX_BODY_BYTES"


class StreamJSONParser(LimitedJSONParser):
    """Stream batches carry records of up to 1 MiB each (JSON escaping can make one several times that)."""

    limit_setting = "AGENT_STREAM_MAX_BODY_BYTES"
