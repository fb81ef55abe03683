import json
import uuid

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from automation.models import FINAL_STATUSES, Job
from automation.queries.groups import group_names_to_run_on
from automation.queries.jobs import streams_of
from automation.queries.runbooks import runbooks_of
from automation.queries.waiting import annotate_waiting_reasons
from automation.services import jobs as job_services
from automation.services import runbooks as runbook_services
from automation.services.errors import ServiceError
from portal.forms import RunbookCreateForm, RunbookEditForm, StartJobForm
from portal.views import webhooks
from portal.views.base import (
    account_blade,
    blade_context,
    can_operate,
    finish,
    partial_or_page,
    require_role,
    wants_partial,
)
from portal.views.dialogs import account_dialog, act, attempt, create_dialog, dialog, posted

# The editor's language for each runbook type (Ace's mode names).
EDITOR_MODES = {"python3": "python", "bash": "sh", "powershell": "powershell"}
# The Test pane shows the newest records of a test; the job's own blade has every one.
TEST_PANE_RECORDS = 500


@account_blade
def runbooks(request, account):
    context = blade_context(account, "runbooks", runbooks=list(runbooks_of(account)))
    return render(request, "runbooks/index.html", context)


@account_dialog("operator")
def create(request, account):
    def done(book):
        said = f"Created runbook {book.name}. Write it, then Publish."
        return said, reverse("portal:runbook", args=[account.pk, book.pk])

    template = "runbooks/partials/create_dialog.html"
    return create_dialog(request, account, RunbookCreateForm, runbook_services.create_runbook, template, done=done)


def _runbook(account, runbook_id):
    return get_object_or_404(runbooks_of(account), pk=runbook_id)


def _editor_initial(book) -> dict:
    return {
        "description": book.description,
        "parameters": json.dumps(book.parameters, indent=2) if book.parameters else "",
        "content": book.draft,
        "retries": book.retries,
        "timeout_seconds": book.timeout_seconds,
    }


def _blade(request, account, book, form: RunbookEditForm, *, status: int = 200, refused: bool = False):
    """The runbook blade with this form in its editor: the saved draft, or what was posted and refused."""
    if not can_operate(account):
        for field in form.fields.values():
            # A select has no read-only state: it is shown disabled.
            field.widget.attrs["disabled" if getattr(field.widget, "input_type", "") == "select" else "readonly"] = True
    versions = list(book.versions.order_by("-number")[:20])
    context = blade_context(
        account,
        "runbooks",
        runbook=book,
        form=form,
        versions=versions,
        next_version=(book.published_version or 0) + 1,
        publish_refused=refused,
        editor_mode=EDITOR_MODES.get(book.runbook_type, "text"),
        **webhooks.section(book),
    )
    return render(request, "runbooks/detail.html", context, status=status)


@account_blade
@require_http_methods(["GET", "POST"])
def runbook(request, account, runbook_id):
    book = _runbook(account, runbook_id)
    form = RunbookEditForm(request.POST if request.method == "POST" else None, initial=_editor_initial(book))
    status = 200
    if request.method == "POST":
        require_role(account, "operator")
        saved = form.is_valid() and form.call(
            runbook_services.update_draft, runbook=book, actor=request.actor, **_posted_changes(form, request.POST)
        )
        if saved:
            return finish(
                request, "portal:runbook", account_id=account.pk, runbook_id=book.pk, success="Saved the draft."
            )
        status = 400
    return _blade(request, account, book, form, status=status)


@account_blade
@require_POST
def publish(request, account, runbook_id):
    """Publish submits the editor's form (with or without JavaScript), so what is published is what the
    editor shows: its changes are saved and published by one service call, or neither happens and the
    blade comes back with the text as it was typed. A POST without the editor's fields publishes the
    saved draft."""
    require_role(account, "operator")
    book = _runbook(account, runbook_id)
    form = RunbookEditForm(request.POST, initial=_editor_initial(book))
    posted = any(name in request.POST for name in form.fields)
    if posted and not form.is_valid():
        return _blade(request, account, book, form, status=400, refused=True)
    changes = _changed_fields(book, _posted_changes(form, request.POST)) if posted else {}
    if not posted:
        version = act(request, runbook_services.publish_runbook, runbook=book, actor=request.actor).value
        if version is None:
            return finish(request, "portal:runbook", account_id=account.pk, runbook_id=book.pk)
    else:
        version = form.call(runbook_services.publish_runbook, runbook=book, actor=request.actor, **changes)
        if version is None:
            return _blade(request, account, book, form, status=400, refused=True)
    if changes:
        messages.success(
            request, f"Saved the editor's changes and published them as version {version.number} of {book.name}."
        )
    else:
        messages.success(request, f"Published version {version.number} of {book.name}.")
    return finish(request, "portal:runbook", account_id=account.pk, runbook_id=book.pk)


@account_dialog("operator")
def delete(request, account, runbook_id):
    book = _runbook(account, runbook_id)
    error = None
    if request.method == "POST":
        deletion = attempt(runbook_services.delete_runbook, runbook=book, actor=request.actor)
        if not deletion.refused:
            return finish(request, "portal:runbooks", account_id=account.pk, success=f"Deleted runbook {book.name}.")
        if not wants_partial(request):
            messages.error(request, deletion.error.detail)
            return finish(request, "portal:runbook", account_id=account.pk, runbook_id=book.pk)
        # The dialog says why, and the blade stays as it is, with whatever the editor holds.
        error = deletion.error.detail
    context = blade_context(account, "runbooks", runbook=book, error=error, blocked=error is not None)
    return dialog(
        request, "runbooks/partials/delete_dialog.html", context, name=book.name, status=400 if error else 200
    )


@account_dialog("operator")
def start(request, account, runbook_id):
    book = _runbook(account, runbook_id)
    version = runbook_services.latest_version(book)
    groups = group_names_to_run_on(account)
    declared = version.parameters if version else []
    form = posted(request, StartJobForm, groups=groups, declared=declared)
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
            said = f"Started {book.name} on {job.group_name}."
            return finish(request, "portal:job", account_id=account.pk, job_id=job.pk, success=said)
    context = blade_context(account, "runbooks", runbook=book, version=version, form=form)
    return dialog(request, "runbooks/partials/start_dialog.html", context, name=book.name)


# ---- the Test pane ---------------------------------------------------------------------------------


def _test_job(book, job_id) -> Job:
    try:
        job_id = uuid.UUID(str(job_id))
    except ValueError:
        raise Http404("No such test job.") from None
    return get_object_or_404(Job.objects.filter(runbook=book, is_test=True), pk=job_id)


def _latest_test(book) -> Job | None:
    return Job.objects.filter(runbook=book, is_test=True).order_by("-created_at").first()


def _test_output_context(account, book, job: Job | None) -> dict:
    context = {"account": account, "runbook": book, "job": job, "records": [], "earlier": False}
    if job is not None:
        annotate_waiting_reasons([job])
        newest = list(streams_of(job).order_by("-seq")[: TEST_PANE_RECORDS + 1])
        context["earlier"] = len(newest) > TEST_PANE_RECORDS
        context["records"] = newest[:TEST_PANE_RECORDS][::-1]
        context["open"] = job.status not in FINAL_STATUSES
    return context


def _posted_changes(form: RunbookEditForm, posted) -> dict:
    """The form's values, but the settings only when they were posted (a left-out retries is not 0)."""
    changes = dict(form.cleaned_data)
    for name in ("retries", "timeout_seconds"):
        if name not in posted or (name == "retries" and changes[name] is None):
            changes.pop(name, None)
    return changes


def _differs(name: str, value, current: dict) -> bool:
    if name == "parameters":
        # Compared as the service keeps it ("required": false spelled out), so an unchanged one is not written.
        try:
            value = runbook_services.checked_declaration(value)
        except ServiceError:
            return True  # update_draft says what is wrong with it
    return value != current[name]


def _changed_fields(book, posted: dict) -> dict:
    """Of the posted fields, those that differ from what is saved: an unchanged one is not written again."""
    current = {
        "description": book.description,
        "parameters": book.parameters,
        "content": book.draft,
        "retries": book.retries,
        "timeout_seconds": book.timeout_seconds,
    }
    return {name: value for name, value in posted.items() if _differs(name, value, current)}


def _save_posted_draft(request, book) -> tuple[bool, list[str]]:
    """The editor's fields come along with a test (the page's form is included in the post), so the test
    runs what is on screen: they are saved first, and only what differs from the saved draft is written.
    Returns (saved, errors); with errors nothing was saved and nothing may be started."""
    posted = [name for name in ("description", "parameters", "content") if name in request.POST]
    if not posted:
        return False, []
    form = RunbookEditForm(request.POST)
    if form.is_valid():
        changes = _changed_fields(book, {name: form.cleaned_data[name] for name in posted})
        if not changes:
            return False, []
        if form.call(runbook_services.update_draft, runbook=book, actor=request.actor, **changes) is not None:
            return True, []
    errors = []
    for name, messages_ in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        errors += [f"{label}: {message}" if label else message for message in messages_]
    return False, errors


@account_blade
@require_http_methods(["GET", "POST"])
def test_pane(request, account, runbook_id):
    """The Test pane: run the draft on a group and watch its output. A test job is a snapshot of the saved
    draft, so what the editor posts along is saved first."""
    require_role(account, "operator")
    book = _runbook(account, runbook_id)
    groups = group_names_to_run_on(account)
    saved, draft_errors, job = False, [], None
    if request.method == "POST":
        saved, draft_errors = _save_posted_draft(request, book)
        form = StartJobForm(request.POST, groups=groups, declared=book.parameters, auto_id="test_%s")
        if not draft_errors and form.is_valid():
            job = form.call(
                job_services.start_test,
                runbook=book,
                group_name=form.cleaned_data["run_on"],
                parameters=form.parameter_values(),
                timeout_seconds=form.cleaned_data["timeout_seconds"],
                actor=request.actor,
                from_text=True,
            )
            if job is not None and not wants_partial(request):
                messages.success(request, f"Started a test of the draft on {job.group_name}.")
                url = reverse("portal:runbook_test", args=[account.pk, book.pk])
                return redirect(f"{url}?job={job.pk}")
    else:
        wanted = request.GET.get("job")
        job = _test_job(book, wanted) if wanted else _latest_test(book)
        # Testing again usually means the same group as last time.
        last_group = job.group_name if job is not None and job.group_name in groups else None
        form = StartJobForm(groups=groups, declared=book.parameters, auto_id="test_%s", initial={"run_on": last_group})
    failed = bool(draft_errors or (request.method == "POST" and job is None))
    if job is None:
        job = _latest_test(book)
    context = _test_output_context(account, book, job)
    context.update(blade_context(account, "runbooks", form=form, saved=saved, draft_errors=draft_errors))
    status = 400 if failed else 200
    return partial_or_page(request, "runbooks/partials/test_pane.html", "runbooks/test.html", context, status=status)


@account_blade
def test_pane_output(request, account, runbook_id, job_id):
    """The Test pane's status and output of one test, fetched again whenever the job pushes a change."""
    require_role(account, "operator")
    book = _runbook(account, runbook_id)
    job = _test_job(book, job_id)
    return render(request, "runbooks/partials/test_output.html", _test_output_context(account, book, job))


@account_dialog("operator")
def test_pane_stop(request, account, runbook_id, job_id):
    book = _runbook(account, runbook_id)
    job = _test_job(book, job_id)
    error = None
    if request.method == "POST":
        stop = attempt(job_services.request_stop, job=job, actor=request.actor)
        error = stop.error.detail if stop.refused else None
        if not wants_partial(request):
            if error:
                messages.error(request, error)
            url = reverse("portal:runbook_test", args=[account.pk, book.pk])
            return redirect(f"{url}?job={job.pk}")
        if error is None:
            # The dialog closes (an empty modal) and the pane fetches the output again at once, without
            # waiting for the push.
            return HttpResponse("", headers={"HX-Trigger": "test-job-changed"})
    context = blade_context(account, "runbooks", runbook=book, job=job, error=error, blocked=error is not None)
    status = 400 if error else 200
    return dialog(request, "runbooks/partials/test_stop_dialog.html", context, name=book.name, status=status)
