from django.core.paginator import Paginator
from django.shortcuts import render

from automation.queries.audit import activity_of
from portal.views.base import account_blade


@account_blade
def activity(request, account):
    page = Paginator(activity_of(account), 50).get_page(request.GET.get("page"))
    return render(request, "activity/index.html", {"account": account, "blade": "activity", "page": page})
