"""The notifications panel, the bell, and marking read or dismissing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automation.models import Notification, NotificationReceipt
from automation.queries.notifications import unread_count
from automation.services.notifications import create_notification, update_notification
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db

PANEL = "/notifications/"
BELL = "/notifications/bell/"
READ = "/notifications/read/"
DISMISS = "/notifications/dismiss/"


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def shown(response) -> list[str]:
    return [n.title for n in response.context["notifications"]]


@pytest.fixture
def notes(people):
    class Notes:
        pass

    n = Notes()
    n.account = create_notification(title="Contoso maintenance", account=people.account, message="Tonight")
    n.other = create_notification(title="Fabrikam maintenance", account=people.other_account)
    n.personal = create_notification(title="For rita", recipient=people.reader)
    return n


def test_the_urls_are_the_ones_the_templates_post_to():
    assert (reverse("portal:notifications"), reverse("portal:notifications_bell")) == (PANEL, BELL)
    assert (reverse("portal:notifications_read"), reverse("portal:notifications_dismiss")) == (READ, DISMISS)


# ---- the panel and the bell ------------------------------------------------------------


@pytest.mark.sqlite
def test_the_panel_shows_what_the_user_may_see_newest_first(people, notes, client_for):
    response = client_for(people.reader).get(PANEL)

    assert response.status_code == 200
    assert "notifications/index.html" in templates(response)
    assert shown(response) == ["For rita", "Contoso maintenance"]
    content = response.content.decode()
    assert "Tonight" in content
    assert reverse("portal:overview", args=[people.account.pk]) in content
    assert "Fabrikam maintenance" not in content


@pytest.mark.sqlite
def test_a_non_member_never_sees_an_accounts_notifications(people, notes, client_for):
    response = client_for(people.stranger).get(PANEL)

    assert shown(response) == ["Fabrikam maintenance"]
    assert b"Contoso maintenance" not in response.content
    assert b"For rita" not in response.content


def test_the_panel_comes_as_an_htmx_partial(people, notes, client_for):
    response = client_for(people.owner).get(PANEL, headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "notifications/partials/panel.html"
    assert "base.html" not in templates(response)
    assert f'data-notification="{notes.account.pk}"'.encode() in response.content


def test_the_panel_escapes_what_it_shows(people, client_for):
    create_notification(title="<img src=x onerror=alert(1)>", message="<b>bold</b>", account=people.account)

    content = client_for(people.owner).get(PANEL).content.decode()

    assert "<img src=x" not in content
    assert "&lt;img src=x onerror=alert(1)&gt;" in content
    assert "&lt;b&gt;bold&lt;/b&gt;" in content


def test_an_empty_panel_says_so(make_user, client_for):
    response = client_for(make_user("lone")).get(PANEL)

    assert b"No notifications." in response.content


@pytest.mark.sqlite
def test_the_bell_counts_unread_notifications(people, notes, client_for):
    response = client_for(people.reader).get(BELL)

    assert response.status_code == 200
    assert templates(response) == ["notifications/partials/bell.html"]
    assert b'<span class="badge" id="bell-count" >2</span>' in response.content


def test_the_bell_hides_its_badge_when_all_is_read(people, client_for):
    response = client_for(people.owner).get(BELL)

    assert b'id="bell-count" hidden>0</span>' in response.content


def test_every_page_shows_the_unread_count_in_the_bell(people, notes, client_for):
    response = client_for(people.reader).get(reverse("portal:home"))

    assert b'<span class="badge" id="bell-count" >2</span>' in response.content


# ---- mark read -------------------------------------------------------------------------


@pytest.mark.sqlite
def test_marking_one_notification_read(people, notes, client_for):
    response = client_for(people.reader).post(READ, {"id": str(notes.personal.pk)})

    assert response.status_code == 302
    assert response.url == PANEL
    assert list(NotificationReceipt.objects.filter(user=people.reader).values_list("notification_id", flat=True)) == [
        notes.personal.pk
    ]
    assert unread_count(people.reader) == 1


def test_marking_all_read(people, notes, client_for):
    response = client_for(people.reader).post(READ)

    assert response.status_code == 302
    assert unread_count(people.reader) == 0
    assert unread_count(people.owner) == 1


def test_marking_read_over_htmx_answers_with_the_panel(people, notes, client_for):
    response = client_for(people.reader).post(READ, {"id": str(notes.account.pk)}, headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "notifications/partials/panel.html"
    assert {n.title: n.is_read for n in response.context["notifications"]} == {
        "For rita": False,
        "Contoso maintenance": True,
    }


def test_marking_read_a_notification_the_user_cannot_see_does_nothing(people, notes, client_for):
    response = client_for(people.stranger).post(READ, {"id": [str(notes.account.pk), str(notes.personal.pk)]})

    assert response.status_code == 302
    assert not NotificationReceipt.objects.filter(user=people.stranger).exists()


@pytest.mark.sqlite
@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "'; DROP TABLE x; --", "0000"])
def test_a_notification_id_that_is_not_a_uuid_is_a_400_and_marks_nothing(people, notes, client_for, bad):
    response = client_for(people.reader).post(READ, {"id": [str(notes.personal.pk), bad]})

    assert response.status_code == 400
    assert b"Unknown notification id." in response.content
    assert not NotificationReceipt.objects.exists()


def test_a_finished_notification_shows_as_unread_again(people, client_for):
    note = create_notification(
        title="Deploying", account=people.account, state=Notification.State.IN_PROGRESS, level=Notification.Level.INFO
    )
    client = client_for(people.owner)
    client.post(READ)
    assert b'id="bell-count" hidden>0</span>' in client.get(BELL).content

    update_notification(notification=note, state=Notification.State.FAILED)

    assert b'<span class="badge" id="bell-count" >1</span>' in client.get(BELL).content
    response = client.get(PANEL)
    assert [(n.title, n.level, n.is_read) for n in response.context["notifications"]] == [("Deploying", "error", False)]
    assert 'data-state="failed"' in response.content.decode()


# ---- dismiss ---------------------------------------------------------------------------


@pytest.mark.sqlite
def test_dismissing_all_empties_the_panel(people, notes, client_for):
    client = client_for(people.reader)

    response = client.post(DISMISS, follow=True)

    assert response.redirect_chain == [(PANEL, 302)]
    assert shown(response) == []
    assert b"No notifications." in response.content
    assert unread_count(people.reader) == 0
    assert shown(client_for(people.owner).get(PANEL)) == ["Contoso maintenance"]


def test_dismissing_over_htmx_answers_with_the_empty_panel(people, notes, client_for):
    response = client_for(people.reader).post(DISMISS, headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "notifications/partials/panel.html"
    assert b"No notifications." in response.content


# ---- query counts ----------------------------------------------------------------------


def test_the_panel_costs_the_same_queries_for_5_or_200_notifications(people, client_for):
    client = client_for(people.reader)

    def make(start, stop):
        for i in range(start, stop):
            create_notification(
                title=f"Note {i:03}",
                account=people.account if i % 2 else None,
                recipient=None if i % 2 else people.reader,
            )

    def measure(expected_shown):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(PANEL)
        assert response.status_code == 200
        assert len(response.context["notifications"]) == expected_shown
        return [q["sql"] for q in queries.captured_queries]

    make(0, 5)
    client.get(PANEL)  # warm up: the first request of a session may load more
    with_5 = measure(5)
    make(5, 200)
    with_200 = measure(50)

    assert len(with_200) == len(with_5), "\n".join(with_200)
