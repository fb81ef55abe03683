from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from automation.queries.notifications import panel_for, unread_count
from automation.services import notifications as notification_services
from portal.views.base import partial_or_page, wants_partial


def _panel(request, status: int = 200):
    ctx = {"notifications": panel_for(request.user), "unread_notifications": unread_count(request.user)}
    return partial_or_page(request, "notifications/partials/panel.html", "notifications/index.html", ctx, status=status)


@login_required
def panel(request):
    return _panel(request)


@login_required
def bell(request):
    return render(request, "notifications/partials/bell.html", {"unread_notifications": unread_count(request.user)})


@login_required
@require_POST
def mark_read(request):
    ids = request.POST.getlist("id") or None
    try:
        notification_services.mark_read(user=request.user, notification_ids=ids)
    except ValidationError:
        return HttpResponseBadRequest("Unknown notification id.")
    return _panel(request) if wants_partial(request) else redirect("portal:notifications")


@login_required
@require_POST
def dismiss_all(request):
    notification_services.dismiss_all(user=request.user)
    return _panel(request) if wants_partial(request) else redirect("portal:notifications")
