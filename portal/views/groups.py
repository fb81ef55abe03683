from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404
from django.urls import reverse

from automation.agent_package import MIN_PYTHON, install_line, install_warning, register_line
from automation.queries.credentials import list_credentials
from automation.queries.groups import GROUP_SORTS, groups_of, sorted_groups
from automation.queries.jobs import recent_job_counts
from automation.services import groups as group_services
from automation.services.keys import agent_service_url
from portal.forms import GroupForm, GroupRunAsForm
from portal.views.base import account_blade, blade_context, finish, paginate, partial_or_page, require_role
from portal.views.dialogs import account_dialog, act, create_dialog, dialog, posted


@account_blade
def groups(request, account):
    query = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "name")
    if sort.lstrip("-") not in GROUP_SORTS:
        sort = "name"
    page = paginate(request, sorted_groups(account, query=query, sort=sort), keep={"q": query, "sort": sort})
    context = blade_context(account, "groups", page=page, query=query, sort=sort)
    return partial_or_page(request, "groups/partials/table.html", "groups/index.html", context)


@account_dialog("operator")
def add(request, account):
    def done(group):
        said = f"Created hybrid worker group {group.name}."
        return said, reverse("portal:group", args=[account.pk, group.pk])

    return create_dialog(
        request, account, GroupForm, group_services.create_group, "groups/partials/add_dialog.html", done=done
    )


def _group(account, group_id):
    return get_object_or_404(groups_of(account), pk=group_id)


@account_blade
def group(request, account, group_id):
    group = _group(account, group_id)
    context = blade_context(account, "groups", group=group, jobs=recent_job_counts(group))
    return partial_or_page(request, "groups/partials/tiles.html", "groups/detail.html", context)


@account_dialog("operator")
def run_as(request, account, group_id):
    """Hybrid worker group settings: who the group's jobs run as."""
    group = _group(account, group_id)
    credential = group.run_as_credential
    initial = {"run_as": "custom" if credential else "default", "run_as_credential": getattr(credential, "name", "")}
    names = list(list_credentials(account).values_list("name", flat=True))
    form = posted(request, GroupRunAsForm, initial=initial, credentials=names)
    if request.method == "POST" and form.is_valid():
        chosen = form.credential_name()
        saved = form.call(
            group_services.set_group_run_as,
            account=account,
            group_name=group.name,
            credential_name=chosen,
            actor=request.actor,
        )
        if saved is not None:
            said = (
                f"Group {group.name} runs its jobs as credential {chosen}."
                if chosen
                else (f"Group {group.name} runs its jobs as each agent's default user.")
            )
            return finish(request, "portal:group", success=said, account_id=account.pk, group_id=group.pk)
    context = blade_context(account, "groups", group=group, form=form)
    return dialog(request, "groups/partials/run_as_dialog.html", context, name=group.name)


@account_dialog("operator")
def delete(request, account, group_id):
    group = _group(account, group_id)
    if request.method == "POST":
        deletion = act(
            request, group_services.request_group_deletion, account=account, group_name=group.name, actor=request.actor
        )
        if deletion.refused:
            return finish(request, "portal:group", account_id=account.pk, group_id=group.pk)
        messages.info(request, f"Deleting hybrid worker group {group.name}: follow it under Notifications.")
        return finish(request, "portal:groups", account_id=account.pk)
    members = list(group.workers.order_by("name").values("pk", "name"))
    url = agent_service_url(account)
    context = blade_context(account, "groups", group=group, members=members, blocked=bool(members), url=url)
    return dialog(request, "groups/partials/delete_dialog.html", context, name=group.name)


@account_blade
def add_worker(request, account, group_id):
    """The two lines that add a machine to this group: install the agent, then register it. They hold no
    key (register asks for it, and the Keys blade shows it to Owners); offered to those who manage workers."""
    group = _group(account, group_id)  # first: another account's group is not found, whatever the method
    require_role(account, "operator")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    context = blade_context(
        account,
        "groups",
        group=group,
        install_line=install_line(settings.PORTAL_BASE_URL),
        install_warning=install_warning(settings.PORTAL_BASE_URL),
        register_line=register_line(endpoint=agent_service_url(account), group_name=group.name),
        min_python="{}.{}".format(*MIN_PYTHON),
    )
    crumbs = (
        ("Hybrid worker groups", reverse("portal:groups", args=[account.pk])),
        (group.name, reverse("portal:group", args=[account.pk, group.pk])),
        ("Add a worker", None),
    )
    return dialog(request, "groups/partials/add_worker_dialog.html", context, name=group.name, crumbs=crumbs)
