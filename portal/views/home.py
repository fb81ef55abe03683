from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from automation.queries.accounts import accounts_of
from automation.services.accounts import create_account
from automation.services.actor import Actor
from automation.validators import LINE, text_problem
from portal.forms import CreateAccountForm
from portal.views.base import finish
from portal.views.dialogs import dialog


@login_required
def home(request):
    query = request.GET.get("q", "").strip()
    accounts = accounts_of(request.user)
    if query:
        # No name holds a control character; PostgreSQL would refuse a NUL in the query instead of finding none.
        accounts = accounts.none() if text_problem(query, LINE) else accounts.filter(name__icontains=query)
    return render(request, "home/index.html", {"accounts": list(accounts), "query": query})


@login_required
@require_http_methods(["GET", "POST"])
def create(request):
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can create Automation accounts.")
    form = CreateAccountForm(
        request.POST if request.method == "POST" else None, initial={"owner": request.user.get_username()}
    )
    if request.method == "POST" and form.is_valid():
        owner = get_user_model().objects.filter(username=form.cleaned_data["owner"], is_active=True).first()
        if owner is None:
            form.add_error("owner", f"There is no active user named {form.cleaned_data['owner']!r}.")
        else:
            account = form.call(
                create_account, name=form.cleaned_data["name"], owner=owner, actor=Actor.from_request(request)
            )
            if account is not None:
                messages.success(request, f"Created Automation account {account.name}.")
                if owner != request.user:  # staff creating for someone else are not a member of it
                    return finish(request, "portal:home")
                return finish(request, "portal:overview", account_id=account.pk)
    crumbs = (("Create Automation account", None),)
    return dialog(request, "home/partials/create_dialog.html", {"form": form}, crumbs=crumbs)
