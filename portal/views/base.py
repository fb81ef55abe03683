from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404

from automation.queries.accounts import account_of
from automation.services.actor import Actor


def account_blade(view):
    """Resolve the account from the URL for a member; anyone else gets 404 (ids do not leak)."""

    @login_required
    @wraps(view)
    def wrapper(request, account_id, *args, **kwargs):
        account = account_of(request.user, account_id)
        if account is None:
            raise Http404("No such Automation account.")
        request.account = account
        request.actor = Actor.from_request(request)
        return view(request, account, *args, **kwargs)

    return wrapper


def is_owner(account) -> bool:
    return getattr(account, "role", None) == "owner"


def require_role(account, role: str) -> None:
    """For pages that only lead to an action of this role or above; the service checks the action itself."""
    from django.core.exceptions import PermissionDenied

    from automation.models import Role

    if not Role(account.role).allows(Role(role)):
        words = {"owner": "an Owner", "operator": "an Operator or Owner"}[role]
        raise PermissionDenied(f"Only {words} of {account.name} can do this.")


def require_owner(account) -> None:
    """For pages that only lead to an Owner's action; the service checks the action itself."""
    from django.core.exceptions import PermissionDenied

    if not is_owner(account):
        raise PermissionDenied(f"Only an Owner of {account.name} can do this.")


def finish(request, to: str, **kwargs):
    """After a change: a plain redirect, or for a form posted from an htmx dialog, a full-page one."""
    from django.shortcuts import redirect, resolve_url
    from django_htmx.http import HttpResponseClientRedirect

    url = resolve_url(to, **kwargs)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def no_store(response):
    """For an answer that carries a secret (a key, a credential, a token shown once): no cache, no
    browser history, no proxy may keep a copy."""
    from django.utils.cache import patch_cache_control

    patch_cache_control(response, no_store=True)
    return response
