"""Credentials: the user name is for every member to read, the password for a running job alone."""

import pytest
from django.contrib.auth.models import Permission

from automation.models import AuditEvent, Credential
from automation.queries.credentials import get_credential, list_credentials
from automation.services import credentials as svc
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.support.assets import SYSTEM, admin_pages, as_, audit_text, heard_by_account, stored_text
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PASSWORD = "Pa55-w0rd-Never-Shown-8812"


def make(p, name="SqlAdmin", username="sa", password=PASSWORD, **kwargs):
    return svc.create_credential(
        account=p.account, name=name, username=username, password=password, actor=kwargs.pop("actor", SYSTEM), **kwargs
    )


def reload(credential) -> Credential:
    return Credential.objects.select_related("account").get(pk=credential.pk)


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_an_operator_or_owner_creates_a_credential_whose_password_only_a_job_reads(people, role):
    user = people.by_role[role]
    credential = svc.create_credential(
        account=people.account,
        name="SqlAdmin",
        username="CONTOSO\\sql-admin",
        password=PASSWORD,
        description="The database's admin.",
        actor=as_(user),
    )

    stored = reload(credential)
    assert (stored.name, stored.username, stored.description, stored.created_by) == (
        "SqlAdmin",
        "CONTOSO\\sql-admin",
        "The database's admin.",
        user.username,
    )
    assert stored.sealed_password.startswith("v1.")
    assert svc.read_credential_secret(stored) == {"username": "CONTOSO\\sql-admin", "password": PASSWORD}
    event = AuditEvent.objects.get(action="credential.create")
    assert (event.actor_name, event.target_type, event.target_name) == (user.username, "credential", "SqlAdmin")


def test_the_password_is_nowhere_in_the_clear(people, make_user, client_for):
    credential = make(people)
    svc.update_credential(account=people.account, name="SqlAdmin", password=PASSWORD + "!", actor=SYSTEM)

    stored = reload(credential)
    assert PASSWORD not in stored_text() + audit_text() + str(stored) + repr(stored)
    staff = make_user("sue", staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_credential"))
    pages = admin_pages(client_for(staff), "credential", stored)
    assert "SqlAdmin" in pages and "sa" in pages
    assert PASSWORD not in pages and stored.sealed_password[:20] not in pages


def test_passwords_are_taken_as_typed(people):
    typed = '  spaces, ünïcödé, "quotes", line\nbreaks and tabs\t '
    credential = make(people, password=typed)
    assert svc.read_credential_secret(reload(credential))["password"] == typed


def test_a_reader_is_refused_and_a_stranger_finds_no_account(people):
    before = state()
    with pytest.raises(PermissionDenied):
        make(people, actor=as_(people.reader))
    with pytest.raises(NotFound):
        make(people, actor=as_(people.stranger))
    assert state() == before


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("name", {"name": "no/slash"}),
        ("name", {"name": ""}),
        ("username", {"username": ""}),
        ("username", {"username": "   "}),
        ("username", {"username": "u" * 257}),
        ("username", {"username": "two\nlines"}),
        ("username", {"username": None}),
        ("password", {"password": ""}),
        ("password", {"password": None}),
        ("password", {"password": 1234}),
        ("password", {"password": "p" * 8193}),
        ("password", {"password": PASSWORD + "\x00"}),
        ("description", {"description": "d" * 513}),
    ],
)
def test_bad_input_is_refused_naming_its_field_and_nothing_is_written(people, field, change):
    before = state()
    arguments = {"name": "Good", "username": "sa", "password": PASSWORD, **change}
    with pytest.raises(InvalidInput) as refused:
        svc.create_credential(account=people.account, actor=SYSTEM, **arguments)
    assert refused.value.field == field
    assert PASSWORD not in refused.value.detail
    assert state() == before


def test_a_name_is_taken_whatever_its_case(people):
    make(people)
    before = state()
    with pytest.raises(Conflict) as refused:
        make(people, name="sqladmin")
    assert refused.value.field == "name"
    assert state() == before


def test_the_user_name_password_and_description_change_each_on_its_own(people):
    make(people)
    svc.update_credential(account=people.account, name="SqlAdmin", username="admin2", actor=as_(people.operator))
    stored = reload(Credential.objects.get())
    assert stored.username == "admin2"
    assert svc.read_credential_secret(stored)["password"] == PASSWORD

    svc.update_credential(account=people.account, name="SqlAdmin", password="new-one", description="D.", actor=SYSTEM)
    stored = reload(stored)
    assert svc.read_credential_secret(stored) == {"username": "admin2", "password": "new-one"}
    assert stored.description == "D."
    changes = sorted(str(e.details) for e in AuditEvent.objects.filter(action="credential.change"))
    assert changes == [str({"fields": ["description", "password"]}), str({"fields": ["username"]})]


def test_a_bad_update_writes_nothing(people):
    make(people)
    before = state()
    with pytest.raises(InvalidInput) as refused:
        svc.update_credential(account=people.account, name="SqlAdmin", username="ok", password="", actor=SYSTEM)
    assert refused.value.field == "password"
    assert state() == before


@pytest.mark.parametrize(
    "call",
    [
        lambda p, actor: svc.update_credential(account=p.account, name="SqlAdmin", username="x", actor=actor),
        lambda p, actor: svc.delete_credential(account=p.account, name="SqlAdmin", actor=actor),
    ],
    ids=["update", "delete"],
)
def test_every_change_refuses_a_reader_and_a_stranger(people, call):
    make(people)
    before = state()
    with pytest.raises(PermissionDenied):
        call(people, as_(people.reader))
    with pytest.raises(NotFound):
        call(people, as_(people.stranger))
    assert state() == before


def test_a_credential_is_deleted_and_the_deletion_audited(people, django_capture_on_commit_callbacks):
    make(people)

    def act():
        with django_capture_on_commit_callbacks(execute=True):
            svc.delete_credential(account=people.account, name="sqladmin", actor=as_(people.owner))

    assert heard_by_account(people.account.pk, act) == {"type": "assets-changed", "kind": "credential"}
    assert not Credential.objects.exists()
    assert AuditEvent.objects.filter(action="credential.delete", target_name="SqlAdmin").count() == 1
    with pytest.raises(NotFound):
        svc.delete_credential(account=people.account, name="SqlAdmin", actor=SYSTEM)


def test_the_list_is_by_name_and_get_finds_one_whatever_the_case(people):
    for name in ["b", "A", "c"]:
        make(people, name=name)
    svc.create_credential(account=people.other_account, name="Z", username="z", password="z", actor=SYSTEM)
    assert [c.name for c in list_credentials(people.account)] == ["A", "b", "c"]
    assert get_credential(people.account, "B").name == "b"
    with pytest.raises(NotFound):
        get_credential(people.account, "Z")


@pytest.mark.parametrize("rows", [3, 30])
def test_the_list_costs_one_query_however_many_rows(people, django_assert_num_queries, rows):
    for i in range(rows):
        make(people, name=f"c-{i:02}")
    with django_assert_num_queries(1):
        listed = [(c.name, c.username, c.description) for c in list_credentials(people.account)]
    assert len(listed) == rows
