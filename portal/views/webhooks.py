"""A runbook's webhooks (Azure's runbook → Webhooks): a section of the runbook blade, + Add webhook, a webhook's
properties blade, and Extend, Rotate, signing on and off and Delete, each in a dialog.

A webhook's URL (and its signing secret) exist only in the answer of the service that made them: the dialog
that answers Create, Rotate or Require signed calls shows them once, with a copy button, and is never cached.
Nothing else has them to show, so no later page, log line or Activity log entry can.
"""

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from automation.queries.groups import group_names_to_run_on
from automation.queries.runbooks import runbooks_of
from automation.queries.webhooks import last_calls, webhooks_of
from automation.services import webhooks as webhook_services
from automation.services.runbooks import latest_version
from portal.views.base import account_blade, blade_context, can_operate, finish, no_store, require_role
from portal.views.dialogs import account_dialog, dialog, posted
from portal.webhook_forms import WebhookExtendForm, WebhookForm, WebhookPropertiesForm

# How the service words an accepted call's outcome on the row (services.webhooks._start).
STARTED = "Started job "
STATUS_CLASSES = {"Enabled": "ok", "Disabled": "stopped", "Expired": "failed"}


def _decorate(hooks: list) -> list:
    """What a row shows besides its fields: its status word (and dot), and its last call."""
    calls = last_calls(hooks)
    now = timezone.now()
    for hook in hooks:
        hook.status_word = "Expired" if hook.is_expired(now) else ("Enabled" if hook.enabled else "Disabled")
        hook.status_class = STATUS_CLASSES[hook.status_word]
        hook.last_call = _shown_call(calls[hook.pk])
    return hooks


def _shown_call(call) -> dict | None:
    """A last call as the blade shows it: an accepted one links the job it started."""
    if call is None:
        return None
    started = call.outcome.removeprefix(STARTED) if call.accepted and call.outcome.startswith(STARTED) else ""
    return {"at": call.at, "outcome": call.outcome, "accepted": call.accepted, "job_id": started}


def section(book) -> dict:
    """What the runbook blade's Webhooks section reads: one query, and one Redis read for the last calls."""
    return {"webhooks": _decorate(list(webhooks_of(book)))}


def _runbook(account, runbook_id):
    return get_object_or_404(runbooks_of(account), pk=runbook_id)


def _webhook(account, runbook_id, webhook_id):
    book = _runbook(account, runbook_id)
    return book, get_object_or_404(webhooks_of(book), pk=webhook_id)


def _declared(book) -> list[dict]:
    """The parameters a webhook fixes values of: the published version's, the draft's until it is published
    (as the service checks them)."""
    version = latest_version(book)
    return version.parameters if version is not None else book.parameters


def _issued(request, account, book, issued, *, title: str, done: str):
    """The URL and signing secret just made, shown this once: no cache may keep the answer."""
    context = blade_context(account, "runbooks", runbook=book, issued=issued, title=title, done=done)
    return no_store(dialog(request, "webhooks/partials/issued_dialog.html", context, name=book.name, status=200))


def _runbook_url(account, book) -> str:
    return reverse("portal:runbook", args=[account.pk, book.pk]) + "#webhooks"


def _webhook_url(account, book, hook) -> str:
    return reverse("portal:webhook", args=[account.pk, book.pk, hook.pk])


@account_dialog("operator")
def add(request, account, runbook_id):
    book = _runbook(account, runbook_id)
    groups = group_names_to_run_on(account)
    form = posted(request, WebhookForm, groups=groups, declared=_declared(book))
    if request.method == "POST" and groups and form.is_valid():
        data = form.cleaned_data
        issued = form.call(
            webhook_services.create_webhook,
            runbook=book,
            actor=request.actor,
            name=data["name"],
            enabled=data["enabled"],
            expiry_time=data["expiry_time"],
            parameters=form.parameter_values(),
            run_on=data["run_on"],
            signed=data["signed"],
            from_text=True,
        )
        if issued is not None:
            return _issued(
                request,
                account,
                book,
                issued,
                title="Created webhook",
                done=_webhook_url(account, book, issued.webhook),
            )
    context = blade_context(account, "runbooks", runbook=book, form=form, published=book.published_version)
    return dialog(request, "webhooks/partials/add_dialog.html", context, name=book.name)


@account_blade
@require_http_methods(["GET", "POST"])
def webhook(request, account, runbook_id, webhook_id):
    """A webhook's properties blade: what it is and how it was last called; Operators and Owners change it."""
    book, hook = _webhook(account, runbook_id, webhook_id)
    groups = group_names_to_run_on(account)
    form = WebhookPropertiesForm(
        request.POST if request.method == "POST" else None, webhook=hook, groups=groups, declared=_declared(book)
    )
    status = 200
    if request.method == "POST":
        require_role(account, "operator")
        saved = form.is_valid() and form.call(
            webhook_services.update_webhook,
            webhook=hook,
            actor=request.actor,
            enabled=form.cleaned_data["enabled"],
            parameters=form.parameter_values(),
            run_on=form.cleaned_data["run_on"],
            from_text=True,
        )
        if saved:
            return finish(request, _webhook_url(account, book, hook), success=f"Saved webhook {hook.name}.")
        status = 400
    (hook,) = _decorate([hook])
    context = blade_context(
        account, "runbooks", runbook=book, webhook=hook, form=form if can_operate(account) else None
    )
    return render(request, "webhooks/detail.html", context, status=status)


@account_dialog("operator")
def extend(request, account, runbook_id, webhook_id):
    book, hook = _webhook(account, runbook_id, webhook_id)
    form = posted(request, WebhookExtendForm)
    if form.is_valid():
        extended = form.call(webhook_services.extend_webhook, webhook=hook, actor=request.actor, **form.cleaned_data)
        if extended is not None:
            until = timezone.localtime(extended.expiry_time).strftime("%Y-%m-%d %H:%M %Z")
            said = f"Extended webhook {hook.name}: it takes calls until {until}."
            return finish(request, _webhook_url(account, book, hook), success=said)
    context = blade_context(account, "runbooks", runbook=book, webhook=hook, form=form)
    return dialog(request, "webhooks/partials/extend_dialog.html", context, name=hook.name)


@account_dialog("operator")
def rotate(request, account, runbook_id, webhook_id):
    book, hook = _webhook(account, runbook_id, webhook_id)
    if request.method == "POST":
        issued = webhook_services.rotate_webhook_token(webhook=hook, actor=request.actor)
        return _issued(
            request, account, book, issued, title="New URL for webhook", done=_webhook_url(account, book, hook)
        )
    context = blade_context(account, "runbooks", runbook=book, webhook=hook)
    return dialog(request, "webhooks/partials/rotate_dialog.html", context, name=hook.name)


SIGNING_CHOICES = ("on", "off")


@account_dialog("operator")
def signing(request, account, runbook_id, webhook_id):
    """Require signed calls (a new secret, shown once; again on a signed webhook: the old secret stops), or stop
    requiring them."""
    book, hook = _webhook(account, runbook_id, webhook_id)
    error = None
    if request.method == "POST":
        choice = request.POST.get("signing")
        if choice == "on":
            issued = webhook_services.enable_signing(webhook=hook, actor=request.actor)
            title = "Signing secret of webhook"
            return _issued(request, account, book, issued, title=title, done=_webhook_url(account, book, hook))
        if choice == "off":
            webhook_services.disable_signing(webhook=hook, actor=request.actor)
            said = f"Webhook {hook.name} takes unsigned calls again."
            return finish(request, _webhook_url(account, book, hook), success=said)
        error = "Choose whether calls must be signed: signing is on or off."
    context = blade_context(account, "runbooks", runbook=book, webhook=hook, error=error)
    return dialog(
        request, "webhooks/partials/signing_dialog.html", context, name=hook.name, status=400 if error else 200
    )


@account_dialog("operator")
def delete(request, account, runbook_id, webhook_id):
    book, hook = _webhook(account, runbook_id, webhook_id)
    if request.method == "POST":
        webhook_services.delete_webhook(webhook=hook, actor=request.actor)
        return finish(request, _runbook_url(account, book), success=f"Deleted webhook {hook.name}.")
    context = blade_context(account, "runbooks", runbook=book, webhook=hook)
    return dialog(request, "webhooks/partials/delete_dialog.html", context, name=hook.name)
