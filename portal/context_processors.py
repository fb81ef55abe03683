from django.conf import settings

from automation.queries.notifications import unread_count


def shell(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(user), "portal_region": settings.PORTAL_REGION}
