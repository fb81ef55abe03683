"""Dialogs of the blades: how a view asks a service, how a refusal reaches the person, and how a dialog
renders both with JavaScript (a partial swapped into the page's modal) and without (a page of its own).

A confirm-and-act dialog is a few lines of view and one short template that fills
`partials/confirm_dialog.html`; see `portal/views/groups.py`'s `delete`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.shortcuts import render

from automation.services.errors import ServiceError
from portal.views.base import wants_partial


@dataclass(frozen=True)
class Outcome:
    """What a service call came to: its value, or the refusal a person can act on."""

    value: Any = None
    error: ServiceError | None = None

    @property
    def refused(self) -> bool:
        return self.error is not None


def attempt(action: Callable[..., Any], /, **kwargs) -> Outcome:
    """Run a service for a view. A refusal of the request comes back in the outcome for the view to show
    (in a dialog, on a form); not being allowed or not finding the thing (403, 404) is raised, for the
    error pages, which say so without telling a stranger what exists."""
    try:
        return Outcome(value=action(**kwargs))
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return Outcome(error=error)


def act(request, action: Callable[..., Any], /, **kwargs) -> Outcome:
    """attempt(), with a refusal said as an error message on the page the view leads to next."""
    outcome = attempt(action, **kwargs)
    if outcome.refused:
        messages.error(request, outcome.error.detail)
    return outcome


def dialog(
    request,
    template: str,
    context: dict,
    *,
    name: str | None = None,
    heading: str | None = None,
    title: str | None = None,
    crumbs: tuple[tuple[str, str | None], ...] = (),
    status: int = 200,
):
    """A dialog: the partial for htmx's modal, or for a browser without JavaScript the same partial on a
    page of its own. Within an account it stands on the blade (`name` titles the page, `heading` the blade,
    both the blade's heading unless given); outside one (Home, Profile) under the breadcrumbs `crumbs`,
    (label, url) pairs after Home, the last one's url None when it is this page."""
    if wants_partial(request):
        return render(request, template, context, status=status)
    if "account" in context:
        heading = heading or context["blade_heading"]
        page = {"dialog": template, "name": name or heading, "heading": heading, "crumbs": crumbs}
        return render(request, "shell/dialog_page.html", {**context, "dialog_page": page}, status=status)
    page = {"dialog": template, "title": title, "crumbs": crumbs}
    return render(request, "shell/user_dialog_page.html", {**context, "dialog_page": page}, status=status)
