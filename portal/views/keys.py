from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from automation.models import AccountKey
from automation.services import keys as key_services
from portal.views.base import account_blade, blade_context, finish, no_store, require_owner, wants_partial
from portal.views.dialogs import account_dialog, dialog


@account_blade
def keys(request, account):
    return _blade(request, account)


def _blade(request, account, values: dict[str, str] | None = None):
    context = blade_context(
        account,
        "keys",
        url=key_services.agent_service_url(account),
        slots=AccountKey.Slot.choices,
        values=values,
    )
    return render(request, "keys/index.html", context)


@account_blade
@require_POST
def reveal(request, account):
    """The plain keys, for an Owner who clicked Show; the reveal is audited (without the keys).

    A POST (with CSRF), so that a link or an <img> on another site can neither reveal the keys nor fill
    the Activity log with false reveals. Show is a form: without JavaScript the whole blade comes back.
    """
    require_owner(account)
    values = key_services.reveal_keys(account=account, actor=request.actor)
    if wants_partial(request):
        context = {"account": account, "url": key_services.agent_service_url(account), "values": values}
        response = render(request, "keys/partials/values.html", context)
    else:
        response = _blade(request, account, values=values)
    return no_store(response)


@account_dialog("owner")
def regenerate(request, account, slot: str):
    if slot not in AccountKey.Slot.values:
        raise Http404("No such key.")
    label = AccountKey.Slot(slot).label
    if request.method == "POST":
        key_services.regenerate_key(account=account, slot=slot, actor=request.actor)
        said = f"Regenerated the {label.lower()} access key. Click Show to see it."
        return finish(request, "portal:keys", account_id=account.pk, success=said)
    other = "secondary" if slot == "primary" else "primary"
    context = blade_context(account, "keys", slot=slot, label=label, other=other)
    return dialog(request, "keys/partials/regenerate_dialog.html", context)
