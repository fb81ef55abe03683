from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render

from automation.models import JobStatus, StartedBy
from automation.models.jobs import STOPPABLE_STATUSES
from automation.queries.jobs import BadFilter, children_of, jobs_of, stream_position, streams_of
from automation.queries.schedules import with_schedule_ids
from automation.queries.waiting import annotate_waiting_reasons
from automation.services import jobs as job_services
from portal.views.base import account_blade, blade_context, finish, paginate, partial_or_page
from portal.views.dialogs import account_dialog, act, dialog

TABS = {"all": None, "output": "output", "errors": "error", "warnings": "warning"}


@account_blade
def jobs(request, account):
    filters = {k: v for k, v in request.GET.items() if k in ("status", "started_by", "runbook", "run_on") and v}
    try:
        rows = with_schedule_ids(jobs_of(account, filters))
    except BadFilter as exc:
        return HttpResponseBadRequest(str(exc))
    page = paginate(request, rows, keep=filters)
    annotate_waiting_reasons(page.object_list)
    context = blade_context(
        account, "jobs", page=page, filters=filters, statuses=JobStatus.values, started_by_kinds=StartedBy.choices
    )
    return partial_or_page(request, "jobs/partials/table.html", "jobs/index.html", context)


def _job(account, job_id):
    return get_object_or_404(with_schedule_ids(jobs_of(account, tests=True)).select_related("version"), pk=job_id)


@account_blade
def job(request, account, job_id):
    item = _job(account, job_id)
    annotate_waiting_reasons([item])
    tab = request.GET.get("tab", "all")
    records = list(streams_of(item, stream=TABS.get(tab)))
    children = list(children_of(item))
    context = blade_context(account, "jobs", job=item, records=records, tab=tab, tabs=TABS, children=children)
    context["can_stop"] = context["can_operate"] and item.status in STOPPABLE_STATUSES
    return partial_or_page(request, "jobs/partials/summary.html", "jobs/detail.html", context)


@account_blade
def streams(request, account, job_id):
    """Records after `after` (the page appends them while the job runs)."""
    item = _job(account, job_id)
    try:
        after = stream_position(request.GET.get("after", "-1"))
    except BadFilter as exc:
        return HttpResponseBadRequest(str(exc))
    tab = request.GET.get("tab", "all")
    records = list(streams_of(item, after=after, stream=TABS.get(tab))[:2000])
    return render(request, "jobs/partials/records.html", {"records": records})


@account_dialog("operator")
def stop(request, account, job_id):
    item = _job(account, job_id)
    if request.method == "POST":
        act(request, job_services.request_stop, job=item, actor=request.actor)
        return finish(request, "portal:job", account_id=account.pk, job_id=item.pk)
    return dialog(request, "jobs/partials/stop_dialog.html", blade_context(account, "jobs", job=item), name="Job")
