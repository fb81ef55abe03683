"""API exceptions; kept apart from the handler so authentication classes can import them
without importing rest_framework.views (which imports the authentication classes)."""

from rest_framework import exceptions, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


class TooManyFailures(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_failures"

    def __init__(self, retry_after: int):
        super().__init__(
            f"Too many failed authentication attempts from this address or with this credential; try again in "
            f"{retry_after} s. A valid key, credential or token is always accepted."
        )
        self.retry_after = retry_after


class BadCredentials(exceptions.AuthenticationFailed):
    default_code = "unauthorized"
