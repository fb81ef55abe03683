from django.shortcuts import render

from automation.queries.audit import activity_of
from automation.queries.jobs import job_statistics
from automation.queries.workers import worker_totals
from portal.views.base import account_blade, blade_context


@account_blade
def overview(request, account):
    context = blade_context(
        account,
        "overview",
        activity_count=activity_of(account).count(),
        totals=worker_totals(account),
        jobs=job_statistics(account),
    )
    return render(request, "overview/index.html", context)
