from django.shortcuts import render
from django.utils.http import http_date

from automation.api.logs import note_refusal
from automation.services.errors import ServiceError


class ServiceErrorMiddleware:
    """A refusal from the service layer that a view did not handle becomes a clear error page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ServiceError):
            if exception.status == 403:
                note_refusal(request, exception.detail)
            return render(
                request,
                "errors/error.html",
                {
                    "status": exception.status,
                    "title": _TITLES.get(exception.status, "Error"),
                    "detail": exception.detail,
                },
                status=exception.status,
            )
        return None


_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}


class DateHeaderMiddleware:
    """Every answer says the server's time: agents check their clock against it (daphne sends no Date)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Date"):
            response["Date"] = http_date()
        return response
