import json

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods, require_POST

from automation.models import HybridWorkerGroup
from automation.queries.runbooks import runbooks_of
from automation.services import jobs as job_services
from automation.services import runbooks as runbook_services
from automation.services.errors import ServiceError
from portal.forms import RunbookCreateForm, RunbookEditForm, StartJobForm
from portal.views.base import account_blade, finish, require_role


@account_blade
def runbooks(request, account):
    items = list(runbooks_of(account))
    return render(request, "runbooks/index.html", {"account": account, "blade": "runbooks", "runbooks": items})


@account_blade
@require_http_methods(["GET", "POST"])
def create(request, account):
    require_role(account, "operator")
    form = RunbookCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        runbook = form.call(runbook_services.create_runbook, account=account, actor=request.actor, **form.cleaned_data)
        if runbook is not None:
            messages.success(request, f"Created runbook {runbook.name}. Write it, then Publish.")
            return finish(request, "portal:runbook", account_id=account.pk, runbook_id=runbook.pk)
    template = "runbooks/partials/create_dialog.html" if request.htmx else "runbooks/create.html"
    ctx = {"account": account, "blade": "runbooks", "form": form}
    return render(request, template, ctx, status=400 if form.errors else 200)


def _runbook(account, runbook_id):
    return get_object_or_404(runbooks_of(account), pk=runbook_id)


@account_blade
@require_http_methods(["GET", "POST"])
def runbook(request, account, runbook_id):
    book = _runbook(account, runbook_id)
    initial = {
        "description": book.description,
        "parameters": json.dumps(book.parameters, indent=2) if book.parameters else "",
        "content": book.draft,
    }
    form = RunbookEditForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        require_role(account, "operator")
        saved = form.is_valid() and form.call(
            runbook_services.update_draft, runbook=book, actor=request.actor, **form.cleaned_data
        )
        if saved:
            messages.success(request, "Saved the draft.")
            return finish(request, "portal:runbook", account_id=account.pk, runbook_id=book.pk)
        status = 400
    versions = list(book.versions.order_by("-number")[:20])
    context = {"account": account, "blade": "runbooks", "runbook": book, "form": form, "versions": versions}
    return render(request, "runbooks/detail.html", context, status=status)


@account_blade
@require_POST
def publish(request, account, runbook_id):
    require_role(account, "operator")
    book = _runbook(account, runbook_id)
    try:
        version = runbook_services.publish_runbook(runbook=book, actor=request.actor)
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Published version {version.number} of {book.name}.")
    return finish(request, "portal:runbook", account_id=account.pk, runbook_id=book.pk)


@account_blade
@require_http_methods(["GET", "POST"])
def delete(request, account, runbook_id):
    require_role(account, "operator")
    book = _runbook(account, runbook_id)
    if request.method == "POST":
        try:
            runbook_services.delete_runbook(runbook=book, actor=request.actor)
        except ServiceError as error:
            if error.status in (403, 404):
                raise
            messages.error(request, error.detail)
            return finish(request, "portal:runbook", account_id=account.pk, runbook_id=book.pk)
        messages.success(request, f"Deleted runbook {book.name}.")
        return finish(request, "portal:runbooks", account_id=account.pk)
    template = "runbooks/partials/delete_dialog.html" if request.htmx else "runbooks/delete.html"
    return render(request, template, {"account": account, "blade": "runbooks", "runbook": book})


@account_blade
@require_http_methods(["GET", "POST"])
def start(request, account, runbook_id):
    require_role(account, "operator")
    book = _runbook(account, runbook_id)
    version = runbook_services.latest_version(book)
    groups = list(
        HybridWorkerGroup.objects.filter(account=account, deleting_since__isnull=True)
        .order_by("name")
        .values_list("name", flat=True)
    )
    declared = version.parameters if version else []
    form = StartJobForm(request.POST if request.method == "POST" else None, groups=groups, declared=declared)
    if request.method == "POST" and version is not None and form.is_valid():
        job = form.call(
            job_services.start_job,
            account=account,
            runbook_name=book.name,
            group_name=form.cleaned_data["run_on"],
            parameters=form.parameter_values(),
            timeout_seconds=form.cleaned_data["timeout_seconds"],
            actor=request.actor,
            from_text=True,
        )
        if job is not None:
            messages.success(request, f"Started {book.name} on {job.group_name}.")
            return finish(request, "portal:job", account_id=account.pk, job_id=job.pk)
    context = {"account": account, "blade": "runbooks", "runbook": book, "version": version, "form": form}
    template = "runbooks/partials/start_dialog.html" if request.htmx else "runbooks/start.html"
    return render(request, template, context, status=400 if form.errors else 200)
