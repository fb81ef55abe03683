"""Logging filters for requests. Kept free of Django and DRF imports: logging is configured before
the apps are loaded.

RequestIdFilter names the request id of an API fault. RefusalFilter logs a refused request (403) as one
line: who, what, why, never a traceback. Django logs a PermissionDenied raised in a view with its whole
traceback at WARNING, and a refusal answered by the APIs or the services as "Forbidden: <path>" without
saying who or why, so any signed-in Reader could fill the log with tracebacks and bury the real errors.
RefusalFilter, on the loggers that report refusals (the portal's pages as well as the APIs), rewrites each
such record in place into one line; faults (5xx) and everything else pass through untouched. It lives
here, below the portal, because the APIs' error handler notes refusals too and nothing in automation/
imports portal/.
"""

import logging


class RequestIdFilter(logging.Filter):
    """On django.request: the line with the traceback of a fault Django handled itself (before or
    around any view) names the request id that the JSON 500 gave the client."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(getattr(record, "request", None), "api_request_id", None)
        if request_id:
            record.msg = f"{record.msg} (request id {request_id})"
        return True


REASON_ATTRIBUTE = "refusal_reason"


def note_refusal(request, reason: str) -> None:
    """Where a refusal is answered without an exception Django sees (the APIs' JSON, the services'
    error page), say why, for the log line."""
    setattr(getattr(request, "_request", request), REASON_ATTRIBUTE, reason)


def _escaped(value) -> str:
    # As Django's log_response does: a path or name cannot start a forged log line.
    return str(value).encode("unicode_escape").decode("ascii")


def _who(request) -> str:
    try:
        user = request.user
        return user.get_username() if user.is_authenticated else "anonymous"
    except Exception:  # a log line must never fail; the session may be unreadable
        return "unknown"


def _why(record: logging.LogRecord, request) -> str:
    if record.exc_info and record.exc_info[1] is not None and str(record.exc_info[1]):
        return str(record.exc_info[1])
    if reason := getattr(request, REASON_ATTRIBUTE, None):
        return reason
    if record.name == "django.security.csrf" and record.args:
        return f"CSRF check failed: {record.args[0]}"
    return "forbidden"


REWRITTEN_ATTRIBUTE = "refusal_rewritten"


class RefusalFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if getattr(record, "status_code", None) != 403 or request is None:
            return True
        # Once per record: logging configured twice (django.setup() again, as building the ASGI application
        # does) leaves two of these filters on a logger, and the second would find the reason already gone.
        if getattr(record, REWRITTEN_ATTRIBUTE, False):
            return True
        setattr(record, REWRITTEN_ATTRIBUTE, True)
        why = _why(record, request)
        record.msg = "Refused %s %s for %s from %s: %s"
        record.args = tuple(
            _escaped(part)
            for part in (request.method, request.path, _who(request), request.META.get("REMOTE_ADDR", "?"), why)
        )
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True
