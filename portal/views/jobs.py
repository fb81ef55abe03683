from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from automation.models import JobStatus
from automation.queries.jobs import BadFilter, jobs_of, stream_position, streams_of
from automation.queries.waiting import annotate_waiting_reasons
from automation.services import jobs as job_services
from automation.services.errors import ServiceError
from portal.views.base import account_blade, finish, require_role

PAGE_SIZE = 50
TABS = {"all": None, "output": "output", "errors": "error", "warnings": "warning"}


@account_blade
def jobs(request, account):
    filters = {k: v for k, v in request.GET.items() if k in ("status", "runbook", "run_on") and v}
    try:
        rows = jobs_of(account, filters)
    except BadFilter as exc:
        return HttpResponseBadRequest(str(exc))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    annotate_waiting_reasons(page.object_list)
    context = {
        "account": account,
        "blade": "jobs",
        "page": page,
        "filters": filters,
        "statuses": JobStatus.values,
        "query_string": "&".join(f"{k}={v}" for k, v in filters.items()),
    }
    template = "jobs/partials/table.html" if request.htmx else "jobs/index.html"
    return render(request, template, context)


def _job(account, job_id):
    return get_object_or_404(jobs_of(account, tests=True).select_related("version"), pk=job_id)


@account_blade
def job(request, account, job_id):
    item = _job(account, job_id)
    annotate_waiting_reasons([item])
    tab = request.GET.get("tab", "all")
    records = list(streams_of(item, stream=TABS.get(tab)))
    context = {"account": account, "blade": "jobs", "job": item, "records": records, "tab": tab, "tabs": TABS}
    template = "jobs/partials/summary.html" if request.htmx else "jobs/detail.html"
    return render(request, template, context)


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


@account_blade
@require_http_methods(["GET", "POST"])
def stop(request, account, job_id):
    require_role(account, "operator")
    item = _job(account, job_id)
    if request.method == "POST":
        try:
            job_services.request_stop(job=item, actor=request.actor)
        except ServiceError as error:
            if error.status in (403, 404):
                raise
            messages.error(request, error.detail)
        return finish(request, "portal:job", account_id=account.pk, job_id=item.pk)
    template = "jobs/partials/stop_dialog.html" if request.htmx else "jobs/stop.html"
    return render(request, template, {"account": account, "blade": "jobs", "job": item})
