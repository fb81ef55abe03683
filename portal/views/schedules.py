"""The Schedules blades (Shared resources → Schedules) and a runbook's Schedules: the list, + Add a schedule and
a schedule's properties blade (each showing the next five runs before anything is saved), Enable / Disable,
Delete (naming the runbooks it takes off), and a runbook's links (+ Add a schedule, Unlink)."""

from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from automation.models import Runbook
from automation.queries import schedules as queries
from automation.queries.groups import group_names_to_run_on
from automation.queries.runbooks import runbooks_of
from automation.services import runbooks as runbook_services
from automation.services import schedules as services
from portal.schedule_forms import LinkScheduleForm, Preview, ScheduleForm
from portal.views.base import account_blade, blade_context, finish, paginate, partial_or_page, require_role
from portal.views.dialogs import account_dialog, act, attempt, dialog, posted


def _context(account, **values) -> dict:
    return blade_context(account, "schedules", **values)


def _schedule(account, schedule_id):
    return get_object_or_404(queries.list_schedules(account), pk=schedule_id)


def _url(account, schedule) -> str:
    return reverse("portal:schedule", args=[account.pk, schedule.pk])


@account_blade
def schedules(request, account):
    page = paginate(request, queries.list_schedules(account))
    return partial_or_page(
        request, "schedules/partials/table.html", "schedules/index.html", _context(account, page=page)
    )


@account_blade
@require_http_methods(["GET", "POST"])
def add(request, account):
    """+ Add a schedule: a blade of its own (the form is long); "Preview" (or, with JavaScript, any change)
    shows the next runs of what is typed, and Create saves it."""
    require_role(account, "operator")
    form = ScheduleForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and "preview" not in request.POST:
        made = form.submit(services.create_schedule, account=account, actor=request.actor)
        if made is not None:
            return finish(request, _url(account, made), success=f"Created schedule {made.name}.")
    context = _context(account, form=form, preview=form.preview())
    return render(request, "schedules/add.html", context, status=400 if form.errors else 200)


@account_blade
@require_POST
def preview(request, account):
    """The next runs of a schedule form as it stands (htmx asks on every change), saved or not: nothing is
    written, and a rule the service refuses says why instead. Only the rule is read, so + Add's form and a
    properties blade's are one."""
    form = ScheduleForm(request.POST)
    return render(request, "schedules/partials/next_runs.html", {"preview": form.preview()})


@account_blade
@require_http_methods(["GET", "POST"])
def schedule(request, account, schedule_id):
    """A schedule's properties blade: its rule, next runs, links and recent fires; for Operators and Owners its
    form, which saves only what changed."""
    row = _schedule(account, schedule_id)
    posted_form = request.method == "POST"
    if posted_form:
        require_role(account, "operator")
    form = ScheduleForm(request.POST if posted_form else None, row=row)
    if posted_form and "preview" not in request.POST:
        saved = form.submit(services.update_schedule, account=account, name=row.name, actor=request.actor)
        if saved is not None:
            return finish(request, request.path, success=f"Saved schedule {row.name}.")
    detail = queries.schedule_detail(account, row.name)
    context = _context(
        account,
        row=detail,
        form=form,
        preview=form.preview(),
        saved_preview=Preview(zone=detail.time_zone, runs=services.schedule_next_runs(schedule=detail)),
    )
    return render(request, "schedules/detail.html", context, status=400 if form.errors else 200)


@account_blade
@require_POST
def enable(request, account, schedule_id):
    """Enable or Disable (`enabled` yes / no): enabling again keeps the start time, unlike Azure."""
    require_role(account, "operator")
    row = _schedule(account, schedule_id)
    on = request.POST.get("enabled") == "yes"
    outcome = act(
        request, services.set_schedule_enabled, account=account, name=row.name, enabled=on, actor=request.actor
    )
    said = None if outcome.refused else f"{'Enabled' if on else 'Disabled'} schedule {row.name}."
    return finish(request, _url(account, row), success=said)


@account_dialog("operator")
def delete(request, account, schedule_id):
    row = _schedule(account, schedule_id)
    if request.method == "POST":
        outcome = attempt(services.delete_schedule, account=account, name=row.name, actor=request.actor)
        if not outcome.refused:
            url = reverse("portal:schedules", args=[account.pk])
            return finish(request, url, success=f"Deleted schedule {row.name}.")
    links = list(queries.links_of_schedule(row))
    return dialog(
        request, "schedules/partials/delete_dialog.html", _context(account, row=row, links=links), name=row.name
    )


@account_dialog("operator")
def link_runbook(request, account, schedule_id):
    """+ Link a runbook, from the schedule's blade: choose the runbook; its own link dialog asks the rest (its
    parameters are its published version's)."""
    row = _schedule(account, schedule_id)
    linked = set(queries.links_of_schedule(row).values_list("runbook_id", flat=True))
    books = [book for book in runbooks_of(account) if book.published_version and book.pk not in linked]
    context = _context(account, row=row, runbooks=books)
    return dialog(request, "schedules/partials/link_runbook_dialog.html", context, name=row.name)


# ---- a runbook's schedules ----------------------------------------------------------------------------------


def _runbook(account, runbook_id) -> Runbook:
    return get_object_or_404(runbooks_of(account), pk=runbook_id)


@account_blade
def runbook_schedules(request, account, runbook_id):
    """A runbook's Schedules: the section its blade fetches (htmx), or a blade of its own without JavaScript."""
    book = _runbook(account, runbook_id)
    links = list(queries.links_of_runbook(book))
    context = blade_context(account, "runbooks", runbook=book, links=links)
    page = "schedules/runbook_schedules.html"
    return partial_or_page(request, "schedules/partials/runbook_links.html", page, context)


@account_dialog("operator")
def runbook_link(request, account, runbook_id):
    """+ Add a schedule, from the runbook's blade: a schedule, then what Start asks (Run on and the published
    version's parameters), then the overlap policy."""
    book = _runbook(account, runbook_id)
    version = runbook_services.latest_version(book)
    names = list(queries.list_schedules(account).values_list("name", flat=True))
    declared = version.parameters if version else []
    initial = {"schedule": request.GET.get("schedule", "")}
    form = posted(
        request,
        LinkScheduleForm,
        groups=group_names_to_run_on(account),
        declared=declared,
        schedules=names,
        initial=initial,
    )
    if request.method == "POST" and version is not None and form.is_valid():
        link = form.call(
            services.link_schedule,
            account=account,
            runbook_name=book.name,
            schedule_name=form.cleaned_data["schedule"],
            run_on=form.cleaned_data["run_on"],
            parameters=form.parameter_values(),
            overlap=form.cleaned_data["overlap"],
            actor=request.actor,
            from_text=True,
        )
        if link is not None:
            said = f"Linked {book.name} to schedule {link.schedule.name}."
            return finish(request, "portal:runbook", account_id=account.pk, runbook_id=book.pk, success=said)
    context = blade_context(account, "runbooks", runbook=book, version=version, form=form, has_schedules=bool(names))
    # Posted for a runbook with nothing published: refused, as the dialog says.
    status = 400 if request.method == "POST" and (version is None or form.errors) else None
    return dialog(request, "schedules/partials/link_dialog.html", context, name=book.name, status=status)


@account_dialog("operator")
def runbook_unlink(request, account, runbook_id, link_id):
    """Unlink: from the runbook's blade, or from the schedule's (`back=schedule` returns there)."""
    book = _runbook(account, runbook_id)
    link = get_object_or_404(queries.links_of_runbook(book), pk=link_id)
    back_to_schedule = request.GET.get("back", request.POST.get("back")) == "schedule"
    if request.method == "POST":
        outcome = attempt(services.unlink_schedule, account=account, runbook=book, link_id=link.pk, actor=request.actor)
        if not outcome.refused:
            url = (
                _url(account, link.schedule)
                if back_to_schedule
                else reverse("portal:runbook", args=[account.pk, book.pk])
            )
            return finish(request, url, success=f"Unlinked {book.name} from schedule {link.schedule.name}.")
    context = blade_context(account, "runbooks", runbook=book, link=link, back_to_schedule=back_to_schedule)
    return dialog(request, "schedules/partials/unlink_dialog.html", context, name=book.name)
