"""Who may open a WebSocket: pages of the portal's own origin, and the origins the settings trust.

A browser sends the session cookie with a WebSocket handshake whatever page opened it, and the
same-origin policy does not apply to WebSockets: the Origin header is the only thing that tells the
portal's pages from another site's. Channels' AllowedHostsOriginValidator compares host names only,
so another web application on the same machine (same host, another port) would pass it. This one
compares the whole origin: scheme, host and port.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

from portal.proxies import from_trusted_proxy

Origin = tuple[str, str, int]

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of a serialised origin; None for "null" or anything that is not one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _header(scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == name]


def _scheme(scope) -> str:
    """The scheme of the page that opened the socket, as Django's request.scheme would say."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    peer = (scope.get("client") or ("",))[0] or ""
    # As for every request (portal.proxies): the scheme header is believed only from a trusted proxy.
    if proxy_header and from_trusted_proxy(peer):
        name, secure_value = proxy_header
        # Django's META name of the header ("HTTP_X_FORWARDED_PROTO") as it travels ("x-forwarded-proto").
        values = _header(scope, name.removeprefix("HTTP_").replace("_", "-").lower().encode())
        if values:
            return "https" if values[0].split(",")[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") == "wss" else "http"


def own_origin(scope) -> Origin | None:
    """The origin the portal was reached at for this handshake, if its host is one the portal answers to."""
    hosts = _header(scope, b"x-forwarded-host") if getattr(settings, "USE_X_FORWARDED_HOST", False) else []
    hosts = hosts or _header(scope, b"host")
    if len(hosts) < 1:
        return None
    host = hosts[0].split(",")[0].strip()
    domain, _ = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]  # Django's own default in DEBUG
    if not domain or not validate_host(domain, allowed_hosts):
        return None
    return parse_origin(f"{_scheme(scope)}://{host}")


def _trusted(origin: Origin) -> bool:
    """CSRF_TRUSTED_ORIGINS (with Django's `https://*.example.com` subdomain form) and PORTAL_BASE_URL."""
    scheme, host, port = origin
    for pattern in [*settings.CSRF_TRUSTED_ORIGINS, settings.PORTAL_BASE_URL]:
        wildcard = "://*." in pattern
        trusted = parse_origin(pattern.replace("://*.", "://", 1) if wildcard else pattern)
        if trusted is None:
            continue
        trusted_scheme, trusted_host, trusted_port = trusted
        if trusted_scheme != scheme or trusted_port != port:
            continue
        if host == trusted_host or (wildcard and is_same_domain(host, "." + trusted_host)):
            return True
    return False


def origin_allowed(scope) -> bool:
    origins = _header(scope, b"origin")
    # No Origin: not a browser (every browser sends one with a WebSocket handshake), so not a portal page;
    # scripts have the API. Two of them: not a browser either.
    if len(origins) != 1:
        return False
    origin = parse_origin(origins[0])
    if origin is None:
        return False
    return origin == own_origin(scope) or _trusted(origin)


class SameOriginValidator:
    """ASGI middleware: a WebSocket handshake from another origin is refused before the socket opens (403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
