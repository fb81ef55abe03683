"""One error shape for both APIs: {"code": ..., "detail": ...}, with a message a person can act on."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from automation.api.exceptions import TooManyFailures
from automation.services.errors import ServiceError


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


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        body = {"code": exc.code, "detail": exc.detail}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "detail": "; ".join(_flatten(exc.detail)), "fields": exc.detail}
    elif isinstance(exc, exceptions.ParseError):
        body = {"code": "parse_error", "detail": f"The body is not valid JSON: {exc.detail}"}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        body = {"code": codes if isinstance(codes, str) else exc.default_code, "detail": str(exc.detail)}
    else:
        body = {"code": "error", "detail": str(exc)}
    response.data = body
    if isinstance(exc, TooManyFailures):
        response["Retry-After"] = str(exc.retry_after)
    return response


def json_not_found(request, *args, **kwargs):
    return JsonResponse(
        {"code": "not_found", "detail": f"There is no agent API at {request.path}. Check the endpoint URL."},
        status=404,
    )
