"""One error shape for both APIs: {"code": ..., "detail": ...}, with a message a person can act on.

`error_response` is the one place where an exception of an API request becomes an answer. DRF's
exception handler calls it for everything a DRF view raises, the API middleware for plain views, and
Django's error views (portal/urls.py) for what fails before or around a view. An exception it does not
know is a 500 that names a request id, which the log line with its traceback carries too.
"""

import logging
import re
import uuid

from django.core.exceptions import BadRequest, DisallowedHost, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.views import set_rollback

from automation.api.exceptions import PayloadTooLarge
from automation.api.logs import note_refusal
from automation.api.parsers import body_limit
from automation.services.errors import NotFound, ServiceError

logger = logging.getLogger("automation.api")

# /webhooks/ too: its callers are programs, which get JSON errors like the APIs' clients.
API_PATH = re.compile(r"/(agentsvc|api|webhooks)(/|$)")
REQUEST_ID_HEADER = "X-Request-ID"


def is_api_path(path: str) -> bool:
    return API_PATH.match(path) is not None


def no_such_operation_detail(path: str) -> str:
    if path.startswith("/agentsvc"):
        return (
            f"There is no agent API operation at {path}. Check the endpoint URL: it is the agent service URL "
            "on the Automation account's Keys blade."
        )
    if path.startswith("/webhooks"):
        return (
            f"There is no webhook at {path}: a webhook's URL is /webhooks/<id>?token=<token>, as shown at its creation."
        )
    return f"There is no management API operation at {path}. The operations are listed at /api/docs/."


@csrf_exempt
def no_such_operation(request, *args, **kwargs):
    """The catch-all of both APIs: any method, any path; exempt from CSRF so a POST is a 404 too."""
    return JsonResponse({"code": "not_found", "detail": no_such_operation_detail(request.path)}, status=404)


def get_or_not_found(queryset, detail: str, **lookup):
    """get_object_or_404 in the product's words: Django's says "No Runbook matches the given query"."""
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        raise NotFound(detail) from None


def _flatten(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}{name}." if name else prefix)
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    return [f"{prefix.rstrip('.')}: {detail}" if prefix else str(detail)]


def _describe(request, exc, view) -> tuple[int, dict, dict] | None:
    """(status, body, headers) for an exception the APIs know; None for a fault."""
    if isinstance(exc, ServiceError):
        body = {"code": exc.code, "detail": exc.detail}
        if exc.field:
            body["field"] = exc.field
        retry_after = getattr(exc, "retry_after", None)
        return exc.status, body, ({"Retry-After": str(retry_after)} if retry_after else {})
    if isinstance(exc, RequestDataTooBig):
        # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE) fired before the parser's: the same 413.
        exc = PayloadTooLarge(f"The request body is over the {body_limit(view)} byte limit.")
    elif isinstance(exc, Resolver404):
        return 404, {"code": "not_found", "detail": no_such_operation_detail(request.path)}, {}
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DisallowedHost):
        host = request.META.get("HTTP_HOST", "")
        detail = f"This server does not answer to the host name {host!r}: use the address its operator gave you."
        return 400, {"code": "bad_request", "detail": detail}, {}
    elif isinstance(exc, (SuspiciousOperation, BadRequest, MultiPartParserError, UnreadablePostError)):
        return 400, {"code": "bad_request", "detail": "The request could not be read."}, {}
    if not isinstance(exc, exceptions.APIException):
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "detail": "; ".join(_flatten(exc.detail))}
        if isinstance(exc.detail, dict):  # the Error schema's `fields`: each field at fault with its messages
            body["fields"] = exc.detail
    elif isinstance(exc, exceptions.ParseError):
        body = {"code": "parse_error", "detail": f"The body is not valid JSON: {exc.detail}"}
    else:
        codes = exc.get_codes()
        body = {"code": codes if isinstance(codes, str) else exc.default_code, "detail": str(exc.detail)}
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    return exc.status_code, body, headers


def error_response(request, exc: BaseException, *, view=None) -> JsonResponse:
    described = _describe(request, exc, view)
    if described is None:
        return server_error_response(request, exc)
    status, body, headers = described
    if status == 403:
        note_refusal(request, body["detail"])
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def server_error_response(request, exc: BaseException | None) -> JsonResponse:
    """A fault: a JSON 500 naming a request id, never the exception itself (it may hold data).

    With `exc`, the traceback is logged here, with the id. Without it (Django's handler500 is given
    none), Django logs the traceback itself and RequestIdFilter adds the id to that line.
    """
    request_id = uuid.uuid4().hex
    detail = (
        f"The server failed to answer this request (request id {request_id}). The error was logged with "
        "that id; try again, and give the id to the server's operator if it happens again."
    )
    response = JsonResponse({"code": "server_error", "detail": detail}, status=500)
    response[REQUEST_ID_HEADER] = request_id
    if exc is not None:
        logger.error("Server error, request id %s: %s %s", request_id, request.method, request.path, exc_info=exc)
        response._has_been_logged = True  # Django would log the 500 again, without the traceback or the id
    else:
        request.api_request_id = request_id
    return response


def exception_handler(exc, context):
    """DRF's exception handler for both APIs: never None, so no DRF view lets an exception through."""
    set_rollback()
    return error_response(context["request"], exc, view=context.get("view"))
