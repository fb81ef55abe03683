"""The client's address and scheme behind a reverse proxy, believed only from the proxies the settings trust.

`TRUSTED_PROXIES` lists the networks of our own proxies and load balancers. A request whose immediate peer
is one of them has REMOTE_ADDR replaced by the right-most X-Forwarded-For address that no trusted proxy
vouches for: that is the last hop a proxy of ours saw, the only part of the header a client cannot forge.
From any other peer X-Forwarded-For is ignored, and the header named by SECURE_PROXY_SSL_HEADER is
removed, so only our proxy can say that a request came over HTTPS. Everything downstream (throttling,
the Activity log, `request.is_secure()`) then reads the ordinary META keys.

Kept free of Django imports at module level: settings.py validates TRUSTED_PROXIES with `parse_networks`.
"""

import ipaddress
from functools import cache

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """CIDRs (or single addresses); ValueError names the first one that is not."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network (CIDR such as 10.0.0.0/8)") from None
    return tuple(networks)


@cache
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def _address(value: str):
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443", as some proxies write it
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.9:5678": some load balancers add the client's port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == network.version and address in network for network in networks)


def client_address(peer: str, forwarded_for: str, networks: tuple[Network, ...]) -> str:
    """The right-most address of peer + X-Forwarded-For (read right to left) that is not a trusted proxy."""
    client = peer
    current = _address(peer)
    for hop in reversed(forwarded_for.split(",") if forwarded_for else []):
        if not _trusted(current, networks):
            break
        address = _address(hop)
        if address is None:  # a garbled hop: believe nothing to its left
            break
        client, current = str(address), address
    return client


def from_trusted_proxy(peer: str) -> bool:
    """Whether the immediate peer is one of TRUSTED_PROXIES (for connections that skip the middleware)."""
    from django.conf import settings

    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    return bool(networks) and _trusted(_address(peer), networks)


class TrustedProxyMiddleware:
    """First in MIDDLEWARE, so every later part sees the client's address and scheme. Async-capable
    without a thread hop: it runs on every agent request, and does no I/O."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        _resolve(request)
        return self.get_response(request)  # under ASGI, the coroutine the handler awaits


def _resolve(request) -> None:
    from django.conf import settings

    meta = request.META
    peer = meta.get("REMOTE_ADDR") or ""
    if from_trusted_proxy(peer):
        networks = _networks(tuple(settings.TRUSTED_PROXIES))
        meta["REMOTE_ADDR"] = client_address(peer, meta.get("HTTP_X_FORWARDED_FOR", ""), networks)
        return
    proto_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proto_header:
        meta.pop(proto_header[0], None)
