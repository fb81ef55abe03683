"""Notifications: who sees which, and the per-user read and dismissed state."""

import pytest

from automation.models import Notification, NotificationReceipt, Role
from automation.queries.notifications import panel_for, unread_count, visible_to
from automation.services.accounts import add_member, remove_member
from automation.services.actor import Actor
from automation.services.errors import InvalidInput
from automation.services.notifications import create_notification, dismiss_all, mark_read, update_notification

pytestmark = pytest.mark.django_db


def titles(queryset_or_list) -> set[str]:
    return {n.title for n in queryset_or_list}


@pytest.fixture
def notes(people):
    """One notification for every member of each account, and one personal to rita."""

    class Notes:
        pass

    n = Notes()
    n.account = create_notification(title="Contoso maintenance", account=people.account)
    n.other = create_notification(title="Fabrikam maintenance", account=people.other_account)
    n.personal = create_notification(title="For rita", recipient=people.reader)
    n.personal_in_account = create_notification(
        title="For rita about contoso", recipient=people.reader, account=people.account
    )
    return n


# ---- visible_to ------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_notification_for_an_account_is_visible_to_every_member(people, notes):
    for who in ("owner", "operator", "reader"):
        assert "Contoso maintenance" in titles(visible_to(people.by_role[who])), who


@pytest.mark.sqlite
def test_a_non_member_never_sees_an_accounts_notifications(people, notes, make_user):
    assert titles(visible_to(people.stranger)) == {"Fabrikam maintenance"}
    assert titles(visible_to(make_user("lone"))) == set()


@pytest.mark.sqlite
def test_a_personal_notification_is_visible_to_its_recipient_only(people, notes):
    assert titles(visible_to(people.reader)) == {"Contoso maintenance", "For rita", "For rita about contoso"}
    assert titles(visible_to(people.owner)) == {"Contoso maintenance"}
    assert titles(visible_to(people.operator)) == {"Contoso maintenance"}


def test_a_removed_member_stops_seeing_the_accounts_notifications(people, notes):
    membership = people.account.memberships.get(user=people.operator)

    remove_member(account=people.account, membership_id=membership.pk, actor=Actor.for_system())

    assert titles(visible_to(people.operator)) == set()


def test_a_new_member_sees_the_accounts_earlier_notifications(people, notes, make_user):
    make_user("nina")
    add_member(account=people.account, username="nina", role=Role.READER, actor=Actor.for_system())

    assert titles(visible_to(people.account.memberships.get(user__username="nina").user)) == {"Contoso maintenance"}


def test_visible_to_lists_a_notification_once_however_many_receipts_it_has(people, notes):
    mark_read(user=people.owner)
    mark_read(user=people.operator)
    mark_read(user=people.reader)

    assert visible_to(people.reader).filter(pk=notes.account.pk).count() == 1


# ---- create_notification ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": "Nobody"}, None),
        ({"title": "   ", "with_account": True}, "title"),
        ({"title": "x" * 201, "with_account": True}, "title"),
        ({"title": "Bad level", "level": "fatal", "with_account": True}, "level"),
        ({"title": "Bad state", "state": "exploded", "with_account": True}, "state"),
    ],
    ids=["no-audience", "blank-title", "long-title", "unknown-level", "unknown-state"],
)
def test_it_refuses_a_notification_it_cannot_show(people, kwargs, field):
    kwargs = dict(kwargs)
    if kwargs.pop("with_account", False):
        kwargs["account"] = people.account

    with pytest.raises(InvalidInput) as refused:
        create_notification(**kwargs)

    assert refused.value.field == field
    assert not Notification.objects.exists()


def test_a_title_is_stored_without_surrounding_spaces(people):
    note = create_notification(title="  Deployed  ", account=people.account)

    assert Notification.objects.get(pk=note.pk).title == "Deployed"


# ---- unread_count and mark_read --------------------------------------------------------


@pytest.mark.sqlite
def test_unread_count_counts_what_the_user_can_see_and_has_not_read(people, notes):
    assert unread_count(people.reader) == 3
    assert unread_count(people.owner) == 1
    assert unread_count(people.stranger) == 1


@pytest.mark.sqlite
def test_mark_read_with_ids_marks_only_those(people, notes):
    marked = mark_read(user=people.reader, notification_ids=[notes.personal.pk])

    assert marked == 1
    assert unread_count(people.reader) == 2
    assert set(NotificationReceipt.objects.filter(user=people.reader).values_list("notification_id", flat=True)) == {
        notes.personal.pk
    }


@pytest.mark.sqlite
def test_mark_read_without_ids_marks_everything_the_user_sees(people, notes):
    marked = mark_read(user=people.reader)

    assert marked == 3
    assert unread_count(people.reader) == 0


def test_mark_read_accepts_ids_as_text(people, notes):
    assert mark_read(user=people.reader, notification_ids=[str(notes.account.pk)]) == 1


def test_marking_read_again_marks_nothing(people, notes):
    mark_read(user=people.reader)

    assert mark_read(user=people.reader) == 0
    assert mark_read(user=people.reader, notification_ids=[notes.account.pk]) == 0
    assert NotificationReceipt.objects.filter(user=people.reader).count() == 3


@pytest.mark.sqlite
def test_reading_an_account_notification_is_per_user(people, notes):
    mark_read(user=people.owner, notification_ids=[notes.account.pk])

    assert unread_count(people.owner) == 0
    assert unread_count(people.operator) == 1
    assert notes.account.pk in {n.pk for n in visible_to(people.operator).exclude(receipts__user=people.operator)}


@pytest.mark.sqlite
def test_mark_read_ignores_notifications_the_user_cannot_see(people, notes):
    marked = mark_read(user=people.stranger, notification_ids=[notes.account.pk, notes.personal.pk])

    assert marked == 0
    assert not NotificationReceipt.objects.filter(user=people.stranger).exists()
    assert unread_count(people.stranger) == 1


def test_mark_read_with_an_empty_list_marks_nothing(people, notes):
    assert mark_read(user=people.reader, notification_ids=[]) == 0
    assert unread_count(people.reader) == 3


# ---- dismiss_all and the panel ---------------------------------------------------------


@pytest.mark.sqlite
def test_dismiss_all_reads_and_hides_everything_the_user_sees(people, notes):
    mark_read(user=people.reader, notification_ids=[notes.personal.pk])

    dismissed = dismiss_all(user=people.reader)

    assert dismissed == 3
    assert panel_for(people.reader) == []
    assert unread_count(people.reader) == 0
    receipts = NotificationReceipt.objects.filter(user=people.reader)
    assert receipts.count() == 3
    assert all(receipts.values_list("dismissed", flat=True))


@pytest.mark.sqlite
def test_dismiss_all_leaves_other_users_alone(people, notes):
    dismiss_all(user=people.reader)

    assert titles(panel_for(people.owner)) == {"Contoso maintenance"}
    assert unread_count(people.owner) == 1
    assert unread_count(people.stranger) == 1


def test_a_notification_after_dismiss_all_shows_in_the_panel(people, notes):
    dismiss_all(user=people.reader)

    create_notification(title="Later", account=people.account)

    assert titles(panel_for(people.reader)) == {"Later"}
    assert unread_count(people.reader) == 1


def test_the_panel_shows_read_and_unread_newest_first(people, notes):
    mark_read(user=people.reader, notification_ids=[notes.account.pk])

    panel = panel_for(people.reader)

    assert [n.title for n in panel] == ["For rita about contoso", "For rita", "Contoso maintenance"]
    assert {n.title: n.is_read for n in panel} == {
        "For rita about contoso": False,
        "For rita": False,
        "Contoso maintenance": True,
    }


def test_the_panel_shows_at_most_the_limit(people):
    for i in range(7):
        create_notification(title=f"Note {i}", account=people.account)

    assert len(panel_for(people.owner, limit=5)) == 5


# ---- update_notification ---------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("state", "level"),
    [(Notification.State.SUCCEEDED, Notification.Level.SUCCESS), (Notification.State.FAILED, Notification.Level.ERROR)],
)
def test_finishing_a_notification_makes_it_unread_again_and_sets_its_level(people, state, level):
    note = create_notification(
        title="Deploying", account=people.account, state=Notification.State.IN_PROGRESS, level=Notification.Level.INFO
    )
    mark_read(user=people.owner)
    mark_read(user=people.reader)
    assert unread_count(people.owner) == 0

    update_notification(notification=note, state=state, title="Deployed", message="All done")

    stored = Notification.objects.get(pk=note.pk)
    assert (stored.state, stored.level, stored.title, stored.message) == (state, level, "Deployed", "All done")
    assert (note.state, note.level) == (state, level)
    assert unread_count(people.owner) == 1
    assert unread_count(people.reader) == 1
    assert not NotificationReceipt.objects.filter(notification=note).exists()


def test_moving_a_notification_to_in_progress_keeps_its_level(people):
    note = create_notification(title="Queued", account=people.account, level=Notification.Level.WARNING)
    mark_read(user=people.owner)

    update_notification(notification=note, state=Notification.State.IN_PROGRESS)

    stored = Notification.objects.get(pk=note.pk)
    assert (stored.state, stored.level, stored.title) == ("in_progress", "warning", "Queued")
    assert unread_count(people.owner) == 1


def test_a_dismissed_notification_stays_dismissed_when_it_moves_on(people):
    note = create_notification(title="Deploying", account=people.account, state=Notification.State.IN_PROGRESS)
    dismiss_all(user=people.owner)
    mark_read(user=people.reader)

    update_notification(notification=note, state=Notification.State.SUCCEEDED)

    assert panel_for(people.owner) == []
    assert unread_count(people.owner) == 0
    assert unread_count(people.reader) == 1


def test_update_notification_refuses_an_unknown_state(people):
    note = create_notification(title="Deploying", account=people.account, state=Notification.State.IN_PROGRESS)
    mark_read(user=people.owner)

    with pytest.raises(InvalidInput) as refused:
        update_notification(notification=note, state="exploded")

    assert refused.value.field == "state"
    assert Notification.objects.get(pk=note.pk).state == "in_progress"
    assert unread_count(people.owner) == 0


def test_update_notification_cuts_a_long_title_to_200_characters(people):
    note = create_notification(title="Deploying", account=people.account)

    update_notification(notification=note, state=Notification.State.SUCCEEDED, title="y" * 300)

    assert Notification.objects.get(pk=note.pk).title == "y" * 200
