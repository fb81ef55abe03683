"""Logging filters for the APIs. Kept free of Django and DRF imports: logging is configured before
the apps are loaded."""

import logging


class RequestIdFilter(logging.Filter):
    """On django.request: the line with the traceback of a fault Django handled itself (before or
    around any view) names the request id that the JSON 500 gave the client."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(getattr(record, "request", None), "api_request_id", None)
        if request_id:
            record.msg = f"{record.msg} (request id {request_id})"
        return True
