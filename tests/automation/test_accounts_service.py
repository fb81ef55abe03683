"""Accounts, members and roles through the service layer: who may change what, and the audit trail."""

import uuid

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from automation.models import AuditEvent, AutomationAccount, Membership, Role
from automation.queries.accounts import account_of, accounts_of, members_of
from automation.services.accounts import add_member, change_role, create_account, remove_member
from automation.services.actor import Actor
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.validators import NAME_RULE
from tests.support.state import state

pytestmark = pytest.mark.django_db

IP = "203.0.113.7"


def as_user(user, ip=IP) -> Actor:
    return Actor(user=user, ip=ip)


def membership(account, user) -> Membership:
    return Membership.objects.get(account=account, user=user)


# ---- create_account -------------------------------------------------------------------


@pytest.mark.sqlite
def test_staff_can_create_an_account_and_its_owner_becomes_owner(make_user):
    staff = make_user("stella", staff=True)
    owner = make_user("olga")

    account = create_account(name="contoso", owner=owner, actor=as_user(staff))

    account.refresh_from_db()
    assert account.name == "contoso"
    assert account.region == settings.PORTAL_REGION
    assert account.created_by == staff
    assert list(Membership.objects.filter(account=account).values_list("user__username", "role")) == [
        ("olga", Role.OWNER)
    ]


@pytest.mark.sqlite
def test_creating_an_account_writes_an_audit_event_with_actor_target_and_source_ip(make_user):
    staff = make_user("stella", staff=True)
    owner = make_user("olga")

    account = create_account(name="contoso", owner=owner, actor=as_user(staff))

    event = AuditEvent.objects.get()
    assert event.action == "account.create"
    assert event.account == account
    assert event.actor == staff
    assert event.actor_name == "stella"
    assert (event.target_type, event.target_id, event.target_name) == ("automationaccount", str(account.pk), "contoso")
    assert event.details == {"owner": "olga"}
    assert event.source_ip == IP


def test_the_system_can_create_an_account_and_is_recorded_as_system(make_user):
    owner = make_user("olga")

    account = create_account(name="contoso", owner=owner, actor=Actor.for_system(), region="Lab")

    assert account.region == "Lab"
    assert account.created_by is None
    event = AuditEvent.objects.get()
    assert (event.actor, event.actor_name, event.source_ip) == (None, "system", None)


@pytest.mark.sqlite
def test_a_user_who_is_not_staff_cannot_create_an_account(make_user):
    user = make_user("ulla")
    before = state()

    with pytest.raises(PermissionDenied):
        create_account(name="contoso", owner=user, actor=as_user(user))

    assert state() == before


def test_an_anonymous_actor_cannot_create_an_account(make_user):
    owner = make_user("olga")

    with pytest.raises(PermissionDenied):
        create_account(name="contoso", owner=owner, actor=Actor(user=None, ip=IP))

    assert not AutomationAccount.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "9",
        "contoso-automation",
        "Contoso Automation 2",
        "under_score.dot-dash",
        "x" * 128,
        "-leading-dash",
        ".hidden",
    ],
)
def test_it_accepts_names_that_follow_the_name_rule(make_user, name):
    owner = make_user("olga")

    account = create_account(name=name, owner=owner, actor=Actor.for_system())

    assert AutomationAccount.objects.get(pk=account.pk).name == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param(" contoso", id="leading-space"),
        pytest.param("contoso ", id="trailing-space"),
        pytest.param(" ", id="only-a-space"),
        pytest.param("x" * 129, id="129-chars"),
        pytest.param("café", id="accented-letter"),
        pytest.param("контора", id="cyrillic"),
        pytest.param("名前", id="cjk"),
        pytest.param("rocket-\U0001f680", id="emoji"),
        pytest.param("\uff43\uff4f\uff4e\uff54\uff4f\uff53\uff4f", id="fullwidth-letters"),
        pytest.param("١٢٣", id="arabic-indic-digits"),
        pytest.param("tab\tname", id="tab"),
        pytest.param("new\nline", id="newline-inside"),
        pytest.param("contoso\n", id="trailing-newline"),
        pytest.param("nul\x00byte", id="nul"),
        pytest.param("bell\x07", id="bell"),
        pytest.param("del\x7f", id="del"),
        pytest.param("non\u00a0breaking", id="no-break-space"),
        pytest.param("zero\u200bwidth", id="zero-width-space"),
        pytest.param("slash/name", id="slash"),
        pytest.param("<script>", id="angle-brackets"),
        pytest.param("semi;colon", id="semicolon"),
        pytest.param(".", id="one-dot"),
        pytest.param("..", id="two-dots"),
    ],
)
def test_it_refuses_a_name_that_breaks_the_name_rule_and_writes_nothing(make_user, name):
    owner = make_user("olga")
    before = state()

    with pytest.raises(InvalidInput) as refused:
        create_account(name=name, owner=owner, actor=Actor.for_system())

    assert refused.value.field == "name"
    assert refused.value.detail == NAME_RULE
    assert refused.value.status == 400
    assert state() == before


@pytest.mark.sqlite
@pytest.mark.parametrize("name", ["x" * 129, " leading-space", "ctrl\x01char", "ünïcödé"])
def test_it_refuses_bad_names_on_every_database(make_user, name):
    owner = make_user("olga")

    with pytest.raises(InvalidInput):
        create_account(name=name, owner=owner, actor=Actor.for_system())

    assert not AutomationAccount.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.sqlite
def test_it_refuses_a_duplicate_name_with_conflict_and_keeps_the_first_account(make_user):
    first_owner = make_user("olga")
    second_owner = make_user("otto")
    first = create_account(name="contoso", owner=first_owner, actor=Actor.for_system())
    before = state()

    with pytest.raises(Conflict) as refused:
        create_account(name="contoso", owner=second_owner, actor=Actor.for_system())

    assert refused.value.field == "name"
    assert refused.value.status == 409
    assert "contoso" in refused.value.detail
    assert state() == before
    assert list(members_of(first).values_list("user__username", flat=True)) == ["olga"]


def test_after_a_refused_duplicate_the_database_is_still_usable(make_user):
    owner = make_user("olga")
    create_account(name="contoso", owner=owner, actor=Actor.for_system())
    with pytest.raises(Conflict):
        create_account(name="contoso", owner=owner, actor=Actor.for_system())

    create_account(name="fabrikam", owner=owner, actor=Actor.for_system())

    assert sorted(AutomationAccount.objects.values_list("name", flat=True)) == ["contoso", "fabrikam"]


def test_it_refuses_an_inactive_owner(make_user):
    owner = make_user("olga")
    owner.is_active = False
    owner.save()

    with pytest.raises(InvalidInput) as refused:
        create_account(name="contoso", owner=owner, actor=Actor.for_system())

    assert refused.value.field == "owner"
    assert not AutomationAccount.objects.exists()


def test_it_refuses_a_missing_owner(db):
    with pytest.raises(InvalidInput) as refused:
        create_account(name="contoso", owner=None, actor=Actor.for_system())

    assert refused.value.field == "owner"
    assert not AutomationAccount.objects.exists()


# ---- add_member ------------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_can_add_a_member_and_it_is_audited(people, make_user):
    make_user("nina")

    added = add_member(account=people.account, username="nina", role=Role.READER, actor=as_user(people.owner))

    assert added.role == Role.READER
    assert membership(people.account, added.user).role == Role.READER
    event = AuditEvent.objects.filter(action="member.add").latest("created_at")
    assert event.account == people.account
    assert event.actor == people.owner
    assert event.actor_name == "olivia"
    assert event.target_type == "membership"
    assert event.target_id == str(added.pk)
    assert event.target_name == "nina in contoso-automation (Reader)"
    assert event.details == {"user": "nina", "role": "Reader"}
    assert event.source_ip == IP


@pytest.mark.parametrize("role", [Role.OWNER, Role.OPERATOR, Role.READER])
def test_an_owner_can_add_a_member_with_any_role(people, make_user, role):
    make_user("nina")

    add_member(account=people.account, username="nina", role=role.value, actor=as_user(people.owner))

    assert Membership.objects.get(account=people.account, user__username="nina").role == role


@pytest.mark.sqlite
@pytest.mark.parametrize("who", ["operator", "reader"])
def test_operators_and_readers_cannot_add_members(people, make_user, who):
    make_user("nina")
    before = state()

    with pytest.raises(PermissionDenied) as refused:
        add_member(account=people.account, username="nina", role=Role.READER, actor=as_user(people.by_role[who]))

    assert refused.value.status == 403
    assert "Owner" in refused.value.detail
    assert state() == before


@pytest.mark.sqlite
def test_a_stranger_adding_a_member_is_told_the_account_does_not_exist(people, make_user):
    make_user("nina")
    before = state()

    with pytest.raises(NotFound):
        add_member(account=people.account, username="nina", role=Role.READER, actor=as_user(people.stranger))

    assert state() == before


def test_an_anonymous_actor_adding_a_member_gets_not_found(people, make_user):
    make_user("nina")

    with pytest.raises(NotFound):
        add_member(account=people.account, username="nina", role=Role.READER, actor=Actor(user=None, ip=IP))

    assert not Membership.objects.filter(user__username="nina").exists()


def test_it_refuses_to_add_an_unknown_username(people):
    before = state()

    with pytest.raises(InvalidInput) as refused:
        add_member(account=people.account, username="nobody", role=Role.READER, actor=as_user(people.owner))

    assert refused.value.field == "username"
    assert "nobody" in refused.value.detail
    assert state() == before


def test_it_refuses_to_add_an_inactive_user(people, make_user):
    inactive = make_user("ingrid")
    inactive.is_active = False
    inactive.save()
    before = state()

    with pytest.raises(InvalidInput):
        add_member(account=people.account, username="ingrid", role=Role.READER, actor=as_user(people.owner))

    assert state() == before


@pytest.mark.sqlite
def test_it_refuses_to_add_someone_who_is_already_a_member(people):
    before = state()

    with pytest.raises(Conflict) as refused:
        add_member(account=people.account, username="rita", role=Role.OWNER, actor=as_user(people.owner))

    assert refused.value.field == "username"
    assert refused.value.status == 409
    assert state() == before
    assert membership(people.account, people.reader).role == Role.READER


@pytest.mark.parametrize("role", ["admin", "OWNER", "", "Owner"])
def test_it_refuses_an_unknown_role(people, make_user, role):
    make_user("nina")
    before = state()

    with pytest.raises(InvalidInput) as refused:
        add_member(account=people.account, username="nina", role=role, actor=as_user(people.owner))

    assert refused.value.field == "role"
    assert state() == before


# ---- change_role -----------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_can_change_a_members_role_and_it_is_audited(people):
    target = membership(people.account, people.reader)

    changed = change_role(
        account=people.account, membership_id=target.pk, role=Role.OPERATOR, actor=as_user(people.owner)
    )

    assert changed.role == Role.OPERATOR
    assert membership(people.account, people.reader).role == Role.OPERATOR
    event = AuditEvent.objects.get(action="member.change_role")
    assert event.account == people.account
    assert (event.actor, event.actor_name, event.source_ip) == (people.owner, "olivia", IP)
    assert (event.target_type, event.target_id) == ("membership", str(target.pk))
    assert event.details == {"user": "rita", "from": "Reader", "to": "Operator"}


def test_changing_to_the_same_role_changes_and_records_nothing(people):
    target = membership(people.account, people.reader)
    before = state()

    change_role(account=people.account, membership_id=target.pk, role=Role.READER, actor=as_user(people.owner))

    assert state() == before


@pytest.mark.sqlite
@pytest.mark.parametrize("role", [Role.OPERATOR, Role.READER])
def test_it_refuses_to_demote_the_last_owner(people, role):
    target = membership(people.account, people.owner)
    before = state()

    with pytest.raises(Conflict) as refused:
        change_role(account=people.account, membership_id=target.pk, role=role, actor=as_user(people.owner))

    assert "last Owner" in refused.value.detail
    assert state() == before
    assert membership(people.account, people.owner).role == Role.OWNER


def test_an_owner_can_step_down_once_there_is_another_owner(people):
    operator = membership(people.account, people.operator)
    change_role(account=people.account, membership_id=operator.pk, role=Role.OWNER, actor=as_user(people.owner))
    me = membership(people.account, people.owner)

    change_role(account=people.account, membership_id=me.pk, role=Role.READER, actor=as_user(people.owner))

    roles = dict(Membership.objects.filter(account=people.account).values_list("user__username", "role"))
    assert roles == {"olivia": Role.READER, "oscar": Role.OWNER, "rita": Role.READER}


def test_the_last_owner_rule_counts_owners_of_this_account_only(people):
    """The stranger owns the other account; that does not make olivia any less the last Owner here."""
    add_member(account=people.other_account, username="olivia", role=Role.OWNER, actor=Actor.for_system())
    target = membership(people.account, people.owner)

    with pytest.raises(Conflict):
        change_role(account=people.account, membership_id=target.pk, role=Role.READER, actor=as_user(people.owner))


@pytest.mark.parametrize("who", ["operator", "reader"])
def test_operators_and_readers_cannot_change_roles(people, who):
    actor = people.by_role[who]
    before = state()

    with pytest.raises(PermissionDenied):
        change_role(
            account=people.account,
            membership_id=membership(people.account, actor).pk,
            role=Role.OWNER,
            actor=as_user(actor),
        )

    assert state() == before


def test_a_stranger_changing_a_role_is_told_the_account_does_not_exist(people):
    target = membership(people.account, people.reader)
    before = state()

    with pytest.raises(NotFound):
        change_role(account=people.account, membership_id=target.pk, role=Role.OWNER, actor=as_user(people.stranger))

    assert state() == before


def test_it_refuses_an_unknown_role_when_changing(people):
    target = membership(people.account, people.reader)
    before = state()

    with pytest.raises(InvalidInput) as refused:
        change_role(account=people.account, membership_id=target.pk, role="superuser", actor=as_user(people.owner))

    assert refused.value.field == "role"
    assert state() == before


def test_it_refuses_an_unknown_membership_id(people):
    before = state()

    with pytest.raises(NotFound):
        change_role(account=people.account, membership_id=999_999, role=Role.OWNER, actor=as_user(people.owner))

    assert state() == before


# ---- remove_member ---------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_can_remove_a_member_and_it_is_audited(people):
    target = membership(people.account, people.reader)

    remove_member(account=people.account, membership_id=target.pk, actor=as_user(people.owner))

    assert not Membership.objects.filter(pk=target.pk).exists()
    event = AuditEvent.objects.get(action="member.remove")
    assert event.account == people.account
    assert (event.actor, event.actor_name, event.source_ip) == (people.owner, "olivia", IP)
    assert (event.target_type, event.target_id) == ("membership", str(target.pk))
    assert event.target_name == "rita in contoso-automation (Reader)"
    assert event.details == {"user": "rita", "role": "Reader"}


@pytest.mark.sqlite
def test_it_refuses_to_remove_the_last_owner(people):
    target = membership(people.account, people.owner)
    before = state()

    with pytest.raises(Conflict) as refused:
        remove_member(account=people.account, membership_id=target.pk, actor=as_user(people.owner))

    assert refused.value.detail == "olivia is the last Owner of contoso-automation; add another Owner first."
    assert state() == before


def test_the_system_cannot_remove_the_last_owner_either(people):
    target = membership(people.account, people.owner)

    with pytest.raises(Conflict):
        remove_member(account=people.account, membership_id=target.pk, actor=Actor.for_system())

    assert Membership.objects.filter(pk=target.pk).exists()


def test_an_owner_can_remove_another_owner_while_one_remains(people):
    operator = membership(people.account, people.operator)
    change_role(account=people.account, membership_id=operator.pk, role=Role.OWNER, actor=as_user(people.owner))

    remove_member(account=people.account, membership_id=operator.pk, actor=as_user(people.owner))

    owners = Membership.objects.filter(account=people.account, role=Role.OWNER)
    assert list(owners.values_list("user__username", flat=True)) == ["olivia"]


def test_an_owner_can_leave_when_another_owner_remains(people):
    operator = membership(people.account, people.operator)
    change_role(account=people.account, membership_id=operator.pk, role=Role.OWNER, actor=as_user(people.owner))
    me = membership(people.account, people.owner)

    remove_member(account=people.account, membership_id=me.pk, actor=as_user(people.owner))

    assert account_of(people.owner, people.account.pk) is None


@pytest.mark.parametrize("who", ["operator", "reader"])
def test_operators_and_readers_cannot_remove_members(people, who):
    target = membership(people.account, people.reader)
    before = state()

    with pytest.raises(PermissionDenied):
        remove_member(account=people.account, membership_id=target.pk, actor=as_user(people.by_role[who]))

    assert state() == before


def test_a_stranger_removing_a_member_is_told_the_account_does_not_exist(people):
    target = membership(people.account, people.reader)
    before = state()

    with pytest.raises(NotFound):
        remove_member(account=people.account, membership_id=target.pk, actor=as_user(people.stranger))

    assert state() == before


def test_the_audit_event_of_a_removal_outlives_the_membership_and_the_user(people):
    target = membership(people.account, people.reader)
    remove_member(account=people.account, membership_id=target.pk, actor=as_user(people.owner))

    people.owner.delete()

    event = AuditEvent.objects.get(action="member.remove")
    assert event.actor is None
    assert event.actor_name == "olivia"
    assert event.details["user"] == "rita"


# ---- isolation between accounts -------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_of_one_account_cannot_add_members_to_another(people):
    before = state()

    with pytest.raises(NotFound):
        add_member(account=people.other_account, username="rita", role=Role.OWNER, actor=as_user(people.owner))

    assert state() == before


def test_an_owner_cannot_change_a_membership_of_another_account_through_their_own(people):
    """The membership id belongs to the other account: it is not found here, whoever asks."""
    foreign = membership(people.other_account, people.stranger)
    before = state()

    with pytest.raises(NotFound):
        change_role(account=people.account, membership_id=foreign.pk, role=Role.READER, actor=as_user(people.owner))
    with pytest.raises(NotFound):
        remove_member(account=people.account, membership_id=foreign.pk, actor=as_user(people.owner))

    assert state() == before


@pytest.mark.parametrize("who", ["owner", "operator", "reader"])
def test_members_of_one_account_cannot_act_on_another(people, who):
    actor = as_user(people.by_role[who])
    foreign = membership(people.other_account, people.stranger)
    before = state()

    with pytest.raises(NotFound):
        change_role(account=people.other_account, membership_id=foreign.pk, role=Role.READER, actor=actor)
    with pytest.raises(NotFound):
        remove_member(account=people.other_account, membership_id=foreign.pk, actor=actor)

    assert state() == before


@pytest.mark.sqlite
def test_accounts_of_returns_only_the_users_accounts_with_their_role(people):
    assert [(a.name, a.role) for a in accounts_of(people.owner)] == [("contoso-automation", "owner")]
    assert [(a.name, a.role) for a in accounts_of(people.operator)] == [("contoso-automation", "operator")]
    assert [(a.name, a.role) for a in accounts_of(people.reader)] == [("contoso-automation", "reader")]
    assert [(a.name, a.role) for a in accounts_of(people.stranger)] == [("fabrikam-automation", "owner")]


def test_accounts_of_lists_each_account_once_in_name_order(people):
    add_member(account=people.other_account, username="rita", role=Role.OPERATOR, actor=Actor.for_system())

    accounts = list(accounts_of(people.reader))

    assert [(a.name, a.role) for a in accounts] == [
        ("contoso-automation", "reader"),
        ("fabrikam-automation", "operator"),
    ]


@pytest.mark.sqlite
def test_accounts_of_counts_every_member_of_the_account(people):
    counts = {a.name: a.member_count for a in accounts_of(people.reader)}

    assert counts == {"contoso-automation": 3}
    assert account_of(people.stranger, people.other_account.pk).member_count == 1


def test_accounts_of_a_user_without_accounts_is_empty(make_user, people):
    loner = make_user("lone")

    assert list(accounts_of(loner)) == []


@pytest.mark.sqlite
def test_account_of_returns_none_for_an_account_the_user_is_not_in(people):
    assert account_of(people.owner, people.account.pk).role == "owner"
    assert account_of(people.owner, people.other_account.pk) is None
    assert account_of(people.stranger, people.account.pk) is None
    assert account_of(people.owner, uuid.uuid4()) is None
    assert account_of(AnonymousUser(), people.account.pk) is None


def test_a_removed_member_loses_the_account_at_once(people):
    target = membership(people.account, people.reader)

    remove_member(account=people.account, membership_id=target.pk, actor=as_user(people.owner))

    assert account_of(people.reader, people.account.pk) is None
    assert list(accounts_of(people.reader)) == []
