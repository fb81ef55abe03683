from django.shortcuts import render

from automation.services.errors import ServiceError


class ServiceErrorMiddleware:
    """A refusal from the service layer that a view did not handle becomes a clear error page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ServiceError):
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
