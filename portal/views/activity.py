from django.shortcuts import render

from automation.queries.audit import activity_of
from portal.views.base import account_blade, blade_context, paginate


@account_blade
def activity(request, account):
    context = blade_context(account, "activity", page=paginate(request, activity_of(account)))
    return render(request, "activity/index.html", context)
