from functools import wraps
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.utils.cache import patch_cache_control
from django_htmx.http import HttpResponseClientRedirect

from automation.models import Role
from automation.queries.accounts import account_of
from automation.services.actor import Actor

PAGE_SIZE = 50

# The heading of each blade of an account's menu (`blade` in a context says which one is lit).
BLADE_HEADINGS = {
    "overview": "Overview",
    "activity": "Activity log",
    "access": "Access control",
    "keys": "Keys",
    "runbooks": "Runbooks",
    "jobs": "Jobs",
    "groups": "Hybrid worker groups",
    "variables": "Variables",
    "credentials": "Credentials",
    "certificates": "Certificates",
    "connections": "Connections",
    "schedules": "Schedules",
}


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
    return getattr(account, "role", None) == Role.OWNER


def can_operate(account) -> bool:
    """Operators and Owners run and manage runbooks, jobs and workers; Readers only look."""
    return getattr(account, "role", None) in (Role.OWNER, Role.OPERATOR)


def blade_context(account, blade: str, **values) -> dict:
    """What every template of an account's blade reads: the account, the lit menu entry, and what the
    member's role lets them do, so that templates test `can_operate` and `is_owner`, never a role's name."""
    return {
        "account": account,
        "blade": blade,
        "blade_heading": BLADE_HEADINGS[blade],
        "is_owner": is_owner(account),
        "can_operate": can_operate(account),
        **values,
    }


def require_role(account, role: str) -> None:
    """For pages that only lead to an action of this role or above; the service checks the action itself."""
    if not Role(account.role).allows(Role(role)):
        words = {"owner": "an Owner", "operator": "an Operator or Owner"}[role]
        raise PermissionDenied(f"Only {words} of {account.name} can do this.")


def require_owner(account) -> None:
    """For pages that only lead to an Owner's action; the service checks the action itself."""
    if not is_owner(account):
        raise PermissionDenied(f"Only an Owner of {account.name} can do this.")


def wants_partial(request) -> bool:
    """htmx swaps a fragment into the page; a boosted request (a link or form htmx took over) replaces
    the whole page, so it wants the page, as a browser without JavaScript does."""
    return bool(request.htmx) and not request.htmx.boosted


def partial_or_page(request, partial: str, page: str, context: dict, *, status: int = 200):
    return render(request, partial if wants_partial(request) else page, context, status=status)


def paginate(request, rows, *, keep: dict[str, str] | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of rows for `partials/pager.html`. `keep` are the query parameters (a filter, a sort) every
    page link carries along; `page.link` is them, encoded as the `urlencode` filter does, before `page=`."""
    page = Paginator(rows, size).get_page(request.GET.get("page"))
    page.link = "".join(f"{name}={quote(str(value), safe='/')}&" for name, value in (keep or {}).items())
    return page


def finish(request, to: str, /, *, success: str | None = None, **kwargs):
    """After a change: a plain redirect, or for a form posted from an htmx dialog, a full-page one; the page
    it leads to says `success` (what was done)."""
    if success:
        messages.success(request, success)
    url = resolve_url(to, **kwargs)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def no_store(response):
    """For an answer that carries a secret (a key, a credential, a token shown once): no cache, no
    browser history, no proxy may keep a copy."""
    patch_cache_control(response, no_store=True)
    return response
