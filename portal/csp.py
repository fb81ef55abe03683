"""The Content-Security-Policy of every answer (django-csp), with the live socket's own address added."""

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase


class PortalCSPMiddleware(CSPMiddleware):
    """'self' in connect-src covers ws: and wss: only in CSP3 browsers (older Safari refuses the socket),
    so the page's own WebSocket origin is named too: the host it was requested at, which ALLOWED_HOSTS
    has already vetted, with wss: behind TLS (SECURE_PROXY_SSL_HEADER included)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts  # a 400 for a bad Host: no socket to name
        socket_origin = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        parts.update = {**(parts.update or {})}
        parts.update["connect-src"] = [*parts.update.get("connect-src", []), socket_origin]
        return parts
