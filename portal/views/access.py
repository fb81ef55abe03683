from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from automation.models import Membership, Role
from automation.queries.accounts import is_last_owner, members_of
from automation.services import accounts as account_services
from portal.forms import AddMemberForm, ChangeRoleForm
from portal.views.base import account_blade, blade_context, finish, require_owner
from portal.views.dialogs import account_dialog, act, create_dialog, dialog


@account_blade
def members(request, account):
    context = blade_context(account, "access", members=list(members_of(account)), roles=Role.choices)
    return render(request, "access/index.html", context)


@account_dialog("owner")
def add(request, account):
    def done(added):
        said = f"Added {added.user.get_username()} as {added.get_role_display()}."
        return said, reverse("portal:access", args=[account.pk])

    template = "access/partials/add_dialog.html"
    return create_dialog(request, account, AddMemberForm, account_services.add_member, template, done=done)


@account_blade
@require_POST
def change_role(request, account, membership_id: int):
    require_owner(account)
    form = ChangeRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: Owner, Operator or Reader.")
        return finish(request, "portal:access", account_id=account.pk)
    changed = act(
        request,
        account_services.change_role,
        account=account,
        membership_id=membership_id,
        role=form.cleaned_data["role"],
        actor=request.actor,
    )
    if not changed.refused:
        membership = changed.value
        messages.success(request, f"{membership.user.get_username()} is now {membership.get_role_display()}.")
    return finish(request, "portal:access", account_id=account.pk)


@account_dialog("owner")
def remove(request, account, membership_id: int):
    membership = get_object_or_404(Membership.objects.select_related("user"), account=account, pk=membership_id)
    if request.method == "POST":
        removed = act(
            request, account_services.remove_member, account=account, membership_id=membership.pk, actor=request.actor
        )
        if not removed.refused:
            messages.success(request, f"Removed {membership.user.get_username()} from {account.name}.")
            if membership.user_id == request.user.pk:
                return finish(request, "portal:home")
        return finish(request, "portal:access", account_id=account.pk)
    context = blade_context(account, "access", membership=membership, blocked=is_last_owner(membership))
    return dialog(request, "access/partials/remove_dialog.html", context)
