from django.contrib import messages
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from automation.models import AccountKey
from automation.services import keys as key_services
from portal.views.base import account_blade, finish, is_owner, require_owner


@account_blade
def keys(request, account):
    context = {
        "account": account,
        "blade": "keys",
        "url": key_services.agent_service_url(account),
        "is_owner": is_owner(account),
        "slots": AccountKey.Slot.choices,
    }
    return render(request, "keys/index.html", context)


@account_blade
def reveal(request, account):
    """The plain keys, for an Owner who clicked Show; the reveal is audited (without the keys)."""
    require_owner(account)
    values = key_services.reveal_keys(account=account, actor=request.actor)
    context = {"account": account, "url": key_services.agent_service_url(account), "values": values}
    response = render(request, "keys/partials/values.html", context)
    response["Cache-Control"] = "no-store"
    return response


@account_blade
@require_http_methods(["GET", "POST"])
def regenerate(request, account, slot: str):
    require_owner(account)
    if slot not in AccountKey.Slot.values:
        raise Http404("No such key.")
    label = AccountKey.Slot(slot).label
    if request.method == "POST":
        key_services.regenerate_key(account=account, slot=slot, actor=request.actor)
        messages.success(request, f"Regenerated the {label.lower()} access key. Click Show to see it.")
        return finish(request, "portal:keys", account_id=account.pk)
    other = "secondary" if slot == "primary" else "primary"
    context = {"account": account, "blade": "keys", "slot": slot, "label": label, "other": other}
    template = "keys/partials/regenerate_dialog.html" if request.htmx else "keys/regenerate.html"
    return render(request, template, context)
