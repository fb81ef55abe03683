from django.apps import AppConfig

from automation import live


def close_live_sockets(sender, request, user, **kwargs):
    """Sign-out closes the live sockets of that browser session, in every daphne process.

    Module level on purpose: a receiver defined inside ready() and connected by weak reference is
    collected as soon as ready() returns, and then never runs.
    """
    if user is not None and request.session.session_key:
        # Sent before logout() flushes the session, so the key is still the one the sockets hold.
        live.session_ended(user.pk, request.session.session_key)


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out

        user_logged_out.connect(close_live_sockets, dispatch_uid="portal.close_live_sockets")
