from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out

        from portal import notify

        def close_live_sockets(sender, request, user, **kwargs):
            if user is not None:
                notify.session_ended(user.pk, request.session.session_key)

        user_logged_out.connect(close_live_sockets, dispatch_uid="portal.close_live_sockets")
