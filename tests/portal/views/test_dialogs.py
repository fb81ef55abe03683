"""The blades' shared dialog mechanism (portal/views/base.py and dialogs.py): a fragment for htmx and a page
for a boosted request or a browser without JavaScript, one dialog chrome, one confirm dialog that posts to
its own URL, service refusals said one way, one pager, and role and status checks that templates take from
the context and the model, never from a string."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from automation.models import JobStatus
from automation.models.jobs import STATUS_BADGES
from automation.services import groups as group_services
from automation.services import runbooks as runbook_services
from automation.services import workers as worker_services
from automation.services.actor import Actor
from automation.services.errors import Conflict, NotFound, PermissionDenied
from portal.service_calls import attempt
from portal.views.base import paginate
from portal.views.dialogs import act
from tests.support.htmx import BOOSTED, HTMX

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def things(people):
    """One of each thing a dialog of an account acts on, made through the services."""
    system = Actor.for_system()
    group = group_services.create_group(account=people.account, name="east", actor=system)
    book = runbook_services.create_runbook(
        account=people.account, name="tidy", runbook_type="bash", description="", actor=system
    )
    return {"group": group, "runbook": book}


def dialog_urls(people, things) -> dict[str, str]:
    """Every dialog of an account's blades that the Owner may open, by URL name."""
    account, group, book = people.account.pk, things["group"].pk, things["runbook"].pk
    operator = people.account.memberships.get(user=people.operator).pk
    return {
        "access_add": reverse("portal:access_add", args=[account]),
        "access_remove": reverse("portal:access_remove", args=[account, operator]),
        "keys_regenerate": reverse("portal:keys_regenerate", args=[account, "primary"]),
        "group_add": reverse("portal:group_add", args=[account]),
        "group_delete": reverse("portal:group_delete", args=[account, group]),
        "group_add_worker": reverse("portal:group_add_worker", args=[account, group]),
        "runbook_create": reverse("portal:runbook_create", args=[account]),
        "runbook_delete": reverse("portal:runbook_delete", args=[account, book]),
        "runbook_start": reverse("portal:runbook_start", args=[account, book]),
    }


def register(people):
    worker_services.register_worker(
        account=people.account, group_name="east", machine_id="machine-web-1", name="web-1", facts={}
    )


def dialogs(html: str) -> list[str]:
    return re.findall(r'<div class="dialog[^"]*" role="dialog" aria-modal="true" aria-labelledby="dialog-title"', html)


# ---- a fragment, or the whole page ------------------------------------------------------------------------


def test_every_dialog_is_a_fragment_for_htmx_and_a_page_of_the_blade_without_javascript(people, things, client_for):
    client = client_for(people.owner)
    for name, url in dialog_urls(people, things).items():
        fragment = client.get(url, headers=HTMX)
        page = client.get(url)

        assert fragment.status_code == page.status_code == 200, name
        assert b"<html" not in fragment.content and b"<html" in page.content, name
        assert "shell/dialog_page.html" in [t.name for t in page.templates], name
        # One chrome: the same dialog element, title and close button, on the page and in the fragment.
        for response in (fragment, page):
            html = response.content.decode()
            assert len(dialogs(html)) == 1, name
            assert re.search(r'<h2 id="dialog-title">[^<]+<button class="iconbtn" type="button" data-close-modal', html)
        # Without JavaScript, the dialog stands on the blade it belongs to: its menu entry is lit.
        assert re.search(r'<a href="[^"]+" class="active">', page.content.decode()), name


def test_a_boosted_request_gets_the_whole_page_not_the_fragment(people, things, client_for):
    """htmx's boost takes over a link and swaps the whole body: it wants the page, as a plain browser does."""
    client = client_for(people.owner)
    urls = [
        reverse("portal:groups", args=[people.account.pk]),
        reverse("portal:group", args=[people.account.pk, things["group"].pk]),
        reverse("portal:jobs", args=[people.account.pk]),
        dialog_urls(people, things)["group_delete"],
    ]
    for url in urls:
        assert b"<html" not in client.get(url, headers=HTMX).content, url
        assert b"<html" in client.get(url, headers=BOOSTED).content, url


def test_the_dialogs_outside_an_account_stand_under_home(people, client_for, make_user):
    staff = make_user("stella", staff=True)
    for user, url, crumb in [
        (staff, reverse("portal:create_account"), "<span>Create Automation account</span>"),
        (people.owner, reverse("portal:token_new"), f'<a href="{reverse("portal:profile")}">Profile</a>'),
    ]:
        page = client_for(user).get(url)
        html = page.content.decode()
        assert "shell/user_dialog_page.html" in [t.name for t in page.templates]
        assert f'<a href="{reverse("portal:home")}">Home</a><span class="sep">&gt;</span>{crumb}</nav>' in html
        assert len(dialogs(html)) == 1


# ---- the confirm dialog -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["access_remove", "keys_regenerate", "group_delete", "runbook_delete"])
def test_a_confirm_dialog_asks_yes_or_no_and_yes_posts_to_its_own_url(people, things, client_for, name):
    url = dialog_urls(people, things)[name]
    html = client_for(people.owner).get(url, headers=HTMX).content.decode()

    assert "Are you sure" in html
    assert f'<form method="post" action="{url}" hx-post="{url}" hx-target="#modal"' in html
    assert re.findall(r'<button class="btn[^"]*" type="[a-z]+"[^>]*>([^<]+)</button>', html) == ["Yes", "No"]


def test_a_blocked_confirm_dialog_says_what_is_in_the_way_and_offers_only_close(people, things, client_for):
    register(people)
    html = client_for(people.operator).get(dialog_urls(people, things)["group_delete"], headers=HTMX).content.decode()

    assert "cannot be deleted while it has workers" in html and "web-1" in html
    assert "<form" not in html
    assert re.findall(r'<button class="btn primary" type="button" data-close-modal>([^<]+)</button>', html) == ["Close"]


# ---- service refusals -------------------------------------------------------------------------------------


def _request(people):
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    request.user = people.operator
    return request


def test_a_refusal_comes_back_in_the_outcome_and_act_says_it_as_an_error_message(people, things):
    register(people)
    request = _request(people)
    actor = Actor.for_system()

    refused = attempt(group_services.request_group_deletion, account=people.account, group_name="east", actor=actor)
    said = act(request, group_services.request_group_deletion, account=people.account, group_name="east", actor=actor)

    assert refused.refused and isinstance(refused.error, Conflict) and refused.value is None
    assert said.refused and [m.message for m in get_messages(request)] == [refused.error.detail]


def test_not_found_and_not_allowed_are_raised_for_the_error_pages_never_said_as_a_message(people, things):
    request = _request(people)
    system, reader = Actor.for_system(), Actor(user=people.reader)

    with pytest.raises(NotFound):
        act(request, group_services.request_group_deletion, account=people.account, group_name="nope", actor=system)
    with pytest.raises(PermissionDenied):
        act(request, group_services.create_group, account=people.account, name="west", actor=reader)
    assert list(get_messages(request)) == []


# ---- the pager --------------------------------------------------------------------------------------------


def test_the_pager_keeps_the_lists_filter_and_sort_encoded_as_the_urlencode_filter_does():
    request = RequestFactory().get("/", {"page": "2"})
    page = paginate(request, list(range(120)), keep={"q": "a b&c/d", "sort": "-name"})

    assert page.number == 2 and list(page.object_list) == list(range(50, 100))
    assert page.link == "q=a%20b%26c/d&sort=-name&"
    html = render_to_string("partials/pager.html", {"page": page, "target": "#groups-table"})
    assert (
        '<a href="?q=a%20b%26c/d&amp;sort=-name&amp;page=1" hx-get="?q=a%20b%26c/d&amp;sort=-name&amp;page=1"' in html
    )
    assert 'hx-target="#groups-table" hx-push-url="true" aria-label="Next page">' in html


def test_without_a_target_the_pager_is_plain_links():
    page = paginate(RequestFactory().get("/"), list(range(60)))
    html = render_to_string("partials/pager.html", {"page": page})
    assert '<a href="?page=2" aria-label="Next page">' in html and "hx-get" not in html


# ---- roles and statuses in templates ----------------------------------------------------------------------


def test_every_job_status_has_a_badge_and_the_badge_is_what_the_page_draws():
    assert set(STATUS_BADGES) == set(JobStatus)
    for status in JobStatus:
        html = render_to_string("partials/job_status.html", {"status": status.value})
        assert html.strip() == f'<span class="status {STATUS_BADGES[status]}">{status.value}</span>'


# A role's or a status's name written in a template: the check belongs in the context or on the model.
LITERAL_CHECKS = re.compile(r"""account\.role\s*[!=]=|\.status\s*(?:[!=]=|in)\s*["']|status\|lower""")


def test_no_template_tests_a_role_or_a_status_by_its_name():
    roots = [Path(directory) for directory in settings.TEMPLATES[0]["DIRS"]]
    found = [
        f"{path}: {match.group(0)}"
        for root in roots
        for path in root.rglob("*.html")
        for match in LITERAL_CHECKS.finditer(path.read_text())
    ]
    assert not found, "use can_operate, is_owner, can_stop or the status maps: " + ", ".join(found)
