"""The APIs' part of Django's request handling, so that every answer under /agentsvc/ and /api/ is JSON.

DRF views answer their own exceptions (automation.api.errors.exception_handler). What is left: a plain
view's exception (process_exception here), and what Django turns into a response itself before or
around any view: a host not allowed, a middleware's fault, a CSRF refusal. For those, Django calls its
error views, which portal/urls.py wraps with `api_error_view`. All of them end in
automation.api.errors.error_response.
"""

import re
from functools import wraps

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import JsonResponse
from rest_framework.exceptions import ValidationError

from automation.api.errors import error_response, is_api_path, server_error_response

# C0 controls and DEL: no name or id holds one, and PostgreSQL cannot even compare text with a NUL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _url_refusal(request):
    if not is_api_path(request.path):
        return None
    found = _CONTROL.search(request.path)
    if found:
        return error_response(
            request,
            ValidationError({"path": [f"The URL path holds a control character (U+{ord(found.group()):04X})."]}),
        )
    if request.META.get("QUERY_STRING"):
        for name, values in request.GET.lists():
            found = _CONTROL.search(name) or next(filter(None, map(_CONTROL.search, values)), None)
            if found:
                message = f"Must not hold a control character (found U+{ord(found.group()):04X})."
                return error_response(request, ValidationError({name: [message]}))
    return None


class ApiErrorMiddleware:
    """Last in MIDDLEWARE, so its process_exception runs before any other's (which may render HTML).

    Async-capable without a thread hop: the agents' long-poll is an async view, and this runs on every
    agent request, so it does no I/O.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return _url_refusal(request) or self.get_response(request)

    async def _acall(self, request):
        return _url_refusal(request) or await self.get_response(request)

    def process_exception(self, request, exception):
        return error_response(request, exception) if is_api_path(request.path) else None


def api_error_view(page_view):
    """Django's error view for pages (handler400/403/404/500), answering JSON under the APIs instead."""

    @wraps(page_view)
    def view(request, exception=None):
        if not is_api_path(request.path):
            return page_view(request, exception) if exception is not None else page_view(request)
        if exception is None:  # handler500: Django logs the traceback, RequestIdFilter adds the id
            return server_error_response(request, None)
        return error_response(request, exception)

    return view


def api_csrf_failure(page_view):
    """CSRF_FAILURE_VIEW: the API views are exempt (they check CSRF themselves, for sessions only),
    so this is a safety net; under the APIs it still answers JSON."""

    @wraps(page_view)
    def view(request, reason=""):
        if not is_api_path(request.path):
            return page_view(request, reason=reason)
        detail = (
            f"The request was refused by the CSRF check ({reason}). API clients authenticate with "
            "'Authorization: Bearer <token>'; a browser session must send the X-CSRFToken header."
        )
        return JsonResponse({"code": "csrf_failed", "detail": detail}, status=403)

    return view
