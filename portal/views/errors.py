from django.shortcuts import render


def _error(request, status: int, title: str, detail: str):
    return render(request, "errors/error.html", {"status": status, "title": title, "detail": detail}, status=status)


def bad_request(request, exception=None):
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request, exception=None):
    detail = str(exception) if exception and str(exception) else "You do not have permission to do this."
    return _error(request, 403, "Not allowed", detail)


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing here, or you do not have access to it.")


def server_error(request):
    return _error(request, 500, "Something went wrong", "The error was logged. Try again in a moment.")


def csrf_failure(request, reason=""):
    return _error(
        request,
        403,
        "Form expired",
        "The form's security token was missing or did not match. Reload the page and try again.",
    )
