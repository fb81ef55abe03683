"""The sign-in's brute-force protection (django-axes), as the settings wire it in: which address a sign-in
comes from, what a locked-out person sees, and the audit entry a lockout leaves."""

import math
from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.shortcuts import render
from django.utils import timezone

from automation.services.signin import record_lockout


def client_ip(request) -> str | None:
    # The client's address as portal.proxies.TrustedProxyMiddleware (first of all middleware) left it: the
    # connection's own, or from X-Forwarded-For only when the connection is one of TRUSTED_PROXIES. The
    # same address the failed-authentication limit and the Activity log use.
    return request.META.get("REMOTE_ADDR") or None


def _remaining(request, credentials, cool_off: timedelta) -> timedelta:
    """What is left of the lockout: it runs from the failure that caused it (later ones do not extend it)."""
    username = get_client_username(request, credentials if isinstance(credentials, dict) else None)
    last = (
        AccessAttempt.objects.filter(username=username, ip_address=client_ip(request))
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if last is None:
        return cool_off
    now = getattr(request, "axes_attempt_time", None) or timezone.now()
    return max(timedelta(seconds=1), min(cool_off, last + cool_off - now))


def lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    if cool_off:
        cool_off = _remaining(request, credentials, cool_off)
    seconds = math.ceil(cool_off.total_seconds()) if cool_off else None
    in_admin = request.path.startswith("/admin/")
    response = render(
        request,
        "admin/locked_out.html" if in_admin else "registration/locked_out.html",
        {"minutes": -(-seconds // 60) if seconds else None, "title": "Sign-in locked", "site_header": None},
        status=429,
    )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


class AuditedAxesHandler(AxesDatabaseHandler):
    """Axes's database handler (its attempts and failure log stay visible in the admin), plus one audit
    entry when a username and address become locked out."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        # Counted only while not yet locked out (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off), so the
        # limit is reached once per lockout: a flood of attempts during it adds no entries.
        failures = getattr(request, "axes_failures_since_start", None)
        if request is not None and failures is not None and failures == get_failure_limit(request, credentials):
            record_lockout(
                username=str((credentials or {}).get("username") or ""),
                ip=request.axes_ip_address,
                failures=failures,
            )
