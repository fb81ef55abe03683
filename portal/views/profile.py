from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from automation.models import ApiToken
from automation.services import tokens as token_services
from automation.services.actor import Actor
from portal.forms import ApiTokenForm
from portal.views.base import finish, no_store
from portal.views.dialogs import dialog, posted


@login_required
def profile(request):
    tokens = list(ApiToken.objects.filter(user=request.user).order_by("-created_at"))
    return render(request, "profile/index.html", {"tokens": tokens})


def _dialog(request, template: str, context: dict):
    """A dialog of the Profile page (on a page of its own under Home > Profile without JavaScript)."""
    crumbs = (("Profile", reverse("portal:profile")),)
    return dialog(request, template, context, title="Profile", crumbs=crumbs)


@login_required
@require_http_methods(["GET", "POST"])
def new_token(request):
    form = posted(request, ApiTokenForm)
    if form.is_valid():
        new = form.call(
            token_services.create_token,
            user=request.user,
            name=form.cleaned_data["name"],
            expires_days=form.cleaned_data["expires_days"],
            actor=Actor.from_request(request),
        )
        if new is not None:
            return no_store(_dialog(request, "profile/partials/token_created.html", {"new": new}))
    return _dialog(request, "profile/partials/new_token_dialog.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def revoke_token(request, token_id: int):
    token = get_object_or_404(ApiToken, user=request.user, pk=token_id)
    if request.method == "POST":
        token_services.revoke_token(user=request.user, token_id=token.pk, actor=Actor.from_request(request))
        return finish(request, "portal:profile", success=f"Revoked API token {token.name}.")
    return _dialog(request, "profile/partials/revoke_dialog.html", {"token": token})
