from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from automation.models import ApiToken
from automation.services import tokens as token_services
from automation.services.actor import Actor
from automation.services.errors import ServiceError
from portal.forms import ApiTokenForm
from portal.views.base import finish, no_store


@login_required
def profile(request):
    tokens = list(ApiToken.objects.filter(user=request.user).order_by("-created_at"))
    return render(request, "profile/index.html", {"tokens": tokens})


@login_required
@require_http_methods(["GET", "POST"])
def new_token(request):
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            new = token_services.create_token(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_days=form.cleaned_data["expires_days"],
                actor=Actor.from_request(request),
            )
        except ServiceError as error:
            form.add_service_error(error)
        else:
            template = "profile/partials/token_created.html" if request.htmx else "profile/token_created.html"
            return no_store(render(request, template, {"new": new}))
    template = "profile/partials/new_token_dialog.html" if request.htmx else "profile/new_token.html"
    return render(request, template, {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def revoke_token(request, token_id: int):
    token = get_object_or_404(ApiToken, user=request.user, pk=token_id)
    if request.method == "POST":
        token_services.revoke_token(user=request.user, token_id=token.pk, actor=Actor.from_request(request))
        messages.success(request, f"Revoked API token {token.name}.")
        return finish(request, "portal:profile")
    template = "profile/partials/revoke_dialog.html" if request.htmx else "profile/revoke.html"
    return render(request, template, {"token": token})
