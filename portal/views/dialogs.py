"""Dialogs of the blades: how a view asks a service, how a refusal reaches the person, and how a dialog
renders both with JavaScript (a partial swapped into the page's modal) and without (a page of its own).

A confirm-and-act dialog is a few lines of view and one short template that fills
`partials/confirm_dialog.html`; see `portal/views/groups.py`'s `delete`.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from portal.service_calls import Outcome, attempt
from portal.views.base import account_blade, blade_context, finish, require_role, wants_partial


def act(request, action: Callable[..., Any], /, **kwargs) -> Outcome:
    """attempt(), with a refusal said as an error message on the page the view leads to next."""
    outcome = attempt(action, **kwargs)
    if outcome.refused:
        messages.error(request, outcome.error.detail)
    return outcome


def account_dialog(role: str):
    """A dialog of an account's blade, for members of `role` and above: GET shows it, POST acts. The role
    is checked before anything is looked up, so a Reader learns nothing from a dialog's URL."""

    def decorate(view):
        @account_blade
        @require_http_methods(["GET", "POST"])
        @wraps(view)
        def wrapper(request, account, *args, **kwargs):
            require_role(account, role)
            return view(request, account, *args, **kwargs)

        return wrapper

    return decorate


def posted(request, form_class, **kwargs):
    """The dialog's form: bound to what was posted (files included), or empty to be filled in."""
    if request.method == "POST":
        return form_class(request.POST, request.FILES, **kwargs)
    return form_class(**kwargs)


def dialog(
    request,
    template: str,
    context: dict,
    *,
    name: str | None = None,
    heading: str | None = None,
    title: str | None = None,
    crumbs: tuple[tuple[str, str | None], ...] = (),
    status: int | None = None,
):
    """A dialog: the partial for htmx's modal, or for a browser without JavaScript the same partial on a
    page of its own. Within an account it stands on the blade (`name` titles the page, `heading` the blade,
    both the blade's heading unless given); outside one (Home, Profile) under the breadcrumbs `crumbs`,
    (label, url) pairs after Home, the last one's url None when it is this page. Unless `status` says
    otherwise, a form the dialog shows again with errors answers 400, so htmx and tests see a refusal."""
    if status is None:
        status = 400 if getattr(context.get("form"), "errors", None) else 200
    if wants_partial(request):
        return render(request, template, context, status=status)
    if "account" in context:
        heading = heading or context["blade_heading"]
        page = {"dialog": template, "name": name or heading, "heading": heading, "crumbs": crumbs}
        return render(request, "shell/dialog_page.html", {**context, "dialog_page": page}, status=status)
    page = {"dialog": template, "title": title, "crumbs": crumbs}
    return render(request, "shell/user_dialog_page.html", {**context, "dialog_page": page}, status=status)


def create_dialog(request, account, form_class, service: Callable[..., Any], template: str, *, done):
    """A dialog whose form makes one thing through `service`: the form (again, saying what was wrong), or
    the thing made and the person taken where `done(thing)` says, as (what was done, URL). The blade is the
    template's folder."""
    form = posted(request, form_class)
    made = form.submit(service, account=account, actor=request.actor)
    if made is None:
        return dialog(request, template, blade_context(account, template.split("/")[0], form=form))
    said, url = done(made)
    return finish(request, url, success=said)
