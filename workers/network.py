"""How the agent reaches the server: which proxy, which trusted CAs, and what a failure means."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import ssl
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_for(url: str, environ: dict[str, str] | None = None) -> str | None:
    """The proxy a request to `url` goes through, from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY.

    Loopback never goes through a proxy: a proxy elsewhere cannot reach this machine's 127.0.0.1,
    and many machines set HTTPS_PROXY without listing localhost in NO_PROXY.
    """
    parts = urlsplit(url)
    if is_loopback(parts.hostname):
        return None
    env = os.environ if environ is None else environ
    proxies: dict[str, str] = {}
    # Lower case wins over upper case, as in curl and urllib.
    for name, value in sorted(env.items(), key=lambda item: item[0].islower()):
        if value and name.lower().endswith("_proxy"):
            proxies[name.lower().removesuffix("_proxy")] = value
    if parts.hostname and urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def without_password(url: str) -> str:
    """A proxy URL fit to print: user names stay, passwords go."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Trust `ca_bundle` alone when given (a private CA); otherwise the system's CAs, or certifi's."""
    if ca_bundle is not None:
        try:
            return ssl.create_default_context(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise ValueError(f"cannot use {ca_bundle} as a CA bundle: {reason}") from None
    paths = ssl.get_default_verify_paths()
    has_system_store = bool(paths.cafile and os.path.isfile(paths.cafile)) or bool(
        paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath)
    )
    # A minimal container may have no system store: then httpx's own (certifi, or SSL_CERT_FILE).
    return ssl.create_default_context() if has_system_store else httpx.create_ssl_context()


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def certificate_problem(exc: BaseException) -> str | None:
    """OpenSSL's reason when a failure was the server's certificate not being trusted."""
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return link.verify_message or link.reason or "certificate verify failed"
    return None


def describe_transport_error(exc: BaseException) -> str:
    """One short reason a person can act on: "connection refused", "host name not found", ..."""
    certificate = certificate_problem(exc)
    if certificate:
        return f"TLS certificate not accepted: {certificate}"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the answer"
    if isinstance(exc, httpx.ProxyError):
        return f"the proxy refused the connection ({exc})"
    for link in _chain(exc):
        if isinstance(link, socket.gaierror):
            return f"host name not found ({link.strerror})"
        if isinstance(link, ssl.SSLError):
            return f"TLS handshake failed ({link.reason or link})"
        if isinstance(link, OSError) and link.errno:
            if link.errno == errno.ECONNREFUSED:
                return "connection refused"
            return os.strerror(link.errno).lower()
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection without answering"
    return str(exc) or type(exc).__name__
