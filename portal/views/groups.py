from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from automation.agent_package import MIN_PYTHON, install_line, install_warning, register_line
from automation.queries.groups import GROUP_SORTS, groups_of, sorted_groups
from automation.queries.jobs import recent_job_counts
from automation.services import groups as group_services
from automation.services.errors import ServiceError
from automation.services.keys import agent_service_url
from portal.forms import GroupForm
from portal.views.base import account_blade, finish, require_role

PAGE_SIZE = 50


@account_blade
def groups(request, account):
    query = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "name")
    if sort.lstrip("-") not in GROUP_SORTS:
        sort = "name"
    page = Paginator(sorted_groups(account, query=query, sort=sort), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"account": account, "blade": "groups", "page": page, "query": query, "sort": sort}
    template = "groups/partials/table.html" if request.htmx and not request.htmx.boosted else "groups/index.html"
    return render(request, template, context)


@account_blade
@require_http_methods(["GET", "POST"])
def add(request, account):
    require_role(account, "operator")
    form = GroupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        group = form.call(
            group_services.create_group, account=account, name=form.cleaned_data["name"], actor=request.actor
        )
        if group is not None:
            messages.success(request, f"Created hybrid worker group {group.name}.")
            return finish(request, "portal:group", account_id=account.pk, group_id=group.pk)
    template = "groups/partials/add_dialog.html" if request.htmx else "groups/add.html"
    ctx = {"account": account, "blade": "groups", "form": form}
    return render(request, template, ctx, status=400 if form.errors else 200)


def _group(account, group_id):
    return get_object_or_404(groups_of(account), pk=group_id)


@account_blade
def group(request, account, group_id):
    group = _group(account, group_id)
    template = "groups/partials/tiles.html" if request.htmx else "groups/detail.html"
    context = {"account": account, "blade": "groups", "group": group, "jobs": recent_job_counts(group)}
    return render(request, template, context)


@account_blade
@require_http_methods(["GET", "POST"])
def delete(request, account, group_id):
    require_role(account, "operator")
    group = _group(account, group_id)
    if request.method == "POST":
        try:
            group_services.request_group_deletion(account=account, group_name=group.name, actor=request.actor)
        except ServiceError as error:
            if error.status in (403, 404):
                raise
            messages.error(request, error.detail)
            return finish(request, "portal:group", account_id=account.pk, group_id=group.pk)
        messages.info(request, f"Deleting hybrid worker group {group.name}: follow it under Notifications.")
        return finish(request, "portal:groups", account_id=account.pk)
    members = list(group.workers.order_by("name").values("pk", "name"))
    context = {
        "account": account,
        "blade": "groups",
        "group": group,
        "members": members,
        "url": agent_service_url(account),
    }
    template = "groups/partials/delete_dialog.html" if request.htmx else "groups/delete.html"
    return render(request, template, context)


@account_blade
def add_worker(request, account, group_id):
    """The two lines that add a machine to this group: install the agent, then register it. They hold no
    key (register asks for it, and the Keys blade shows it to Owners); offered to those who manage workers."""
    group = _group(account, group_id)  # first: another account's group is not found, whatever the method
    require_role(account, "operator")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    context = {
        "account": account,
        "blade": "groups",
        "group": group,
        "install_line": install_line(settings.PORTAL_BASE_URL),
        "install_warning": install_warning(settings.PORTAL_BASE_URL),
        "register_line": register_line(endpoint=agent_service_url(account), group_name=group.name),
        "min_python": "{}.{}".format(*MIN_PYTHON),
    }
    template = "groups/partials/add_worker_dialog.html" if request.htmx else "groups/add_worker.html"
    return render(request, template, context)
