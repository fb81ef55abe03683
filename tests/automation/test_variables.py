"""Variables: any JSON value, plain or encrypted; encrypted in place one way; who may; bad input leaves
nothing; an encrypted value appears nowhere but in what a job reads."""

import json

import pytest
from django.contrib.auth.models import Permission

from automation.models import AuditEvent, Variable
from automation.queries.variables import get_variable, list_variables
from automation.services import variables as svc
from automation.services.assets import UNSET
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.validators import MAX_JSON_DEPTH
from tests.support.assets import SYSTEM, admin_pages, as_, audit_text, heard_by_account, stored_text
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SECRET = "s3cr3t-Variable-Value-4711"
DEEP: list = []
for _ in range(MAX_JSON_DEPTH):
    DEEP = [DEEP]
VALUES = ["text", "", 42, -7, 3.25, True, False, None, "2026-12-06T08:00:00+00:00", {"a": [1, "b", {"c": None}]}, [1]]


def make(p, name="Greeting", value="hello", **kwargs):
    return svc.create_variable(account=p.account, name=name, value=value, actor=kwargs.pop("actor", SYSTEM), **kwargs)


def reload(variable) -> Variable:
    return Variable.objects.select_related("account").get(pk=variable.pk)


# ---- create -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_an_operator_or_owner_creates_a_variable_and_it_is_audited(people, role):
    user = people.by_role[role]
    variable = svc.create_variable(
        account=people.account, name="Region", value="westeurope", description="Where to deploy.", actor=as_(user)
    )

    stored = reload(variable)
    assert (stored.name, stored.description, stored.value, stored.encrypted) == (
        "Region",
        "Where to deploy.",
        '"westeurope"',
        False,
    )
    assert (stored.created_by, stored.updated_by, stored.sealed_value) == (user.username, user.username, "")
    event = AuditEvent.objects.get(action="variable.create")
    assert (event.account, event.actor_name, event.target_type, event.target_name) == (
        people.account,
        user.username,
        "variable",
        "Region",
    )
    assert event.details == {"encrypted": False}


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("encrypted", [False, True])
def test_every_json_value_comes_back_as_it_went_in(people, value, encrypted):
    variable = make(people, value=value, encrypted=encrypted)

    assert svc.read_variable_value(reload(variable)) == value


def test_json_null_is_stored_as_the_text_null(people):
    assert reload(make(people, value=None)).value == "null"


def test_an_encrypted_value_is_sealed_and_is_nowhere_in_the_clear(people, make_user, client_for):
    variable = make(people, name="ApiKey", value=SECRET, encrypted=True)

    stored = reload(variable)
    assert stored.value is None and stored.encrypted
    assert stored.sealed_value.startswith("v1.")
    assert SECRET not in stored_text()
    assert SECRET not in str(stored) + repr(stored) + audit_text()
    assert svc.read_variable_value(stored) == SECRET
    staff = make_user("sue", staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_variable"))
    pages = admin_pages(client_for(staff), "variable", stored)
    assert "ApiKey" in pages
    assert SECRET not in pages and stored.sealed_value not in pages and stored.sealed_value[:20] not in pages


def test_a_plain_value_is_shown_in_the_admin_but_no_sealed_column_is(people, make_user, client_for):
    variable = make(people, name="Region", value="westeurope")
    staff = make_user("sue", staff=True)
    staff.is_superuser = True
    staff.save()

    pages = admin_pages(client_for(staff), "variable", variable)
    assert "westeurope" in pages
    assert "sealed" not in pages.lower()


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
        ("name", {"name": ""}),
        ("name", {"name": " padded"}),
        ("name", {"name": "a/b"}),
        ("name", {"name": "x" * 129}),
        ("name", {"name": None}),
        ("value", {"value": float("nan")}),
        ("value", {"value": float("inf")}),
        ("value", {"value": object()}),
        ("value", {"value": {1, 2}}),
        ("value", {"value": b"bytes"}),
        ("value", {"value": {1: "key is not text"}}),
        ("value", {"value": "nul \x00 inside"}),
        ("value", {"value": "x" * 1_048_575}),
        ("value", {"value": DEEP}),
        ("encrypted", {"encrypted": "yes"}),
        ("encrypted", {"encrypted": 1}),
        ("encrypted", {"encrypted": None}),
        ("description", {"description": "d" * 513}),
        ("description", {"description": None}),
        ("description", {"description": "bell \x07"}),
    ],
)
def test_bad_input_is_refused_naming_its_field_and_nothing_is_written(people, field, change):
    before = state()
    arguments = {"name": "Good", "value": "fine", **change}
    with pytest.raises(InvalidInput) as refused:
        svc.create_variable(account=people.account, actor=SYSTEM, **arguments)
    assert refused.value.field == field
    assert state() == before


def test_the_longest_value_is_taken_and_one_more_character_is_not(people):
    longest = "x" * (svc.MAX_VALUE_CHARS - 2)  # the two quotes of the JSON text count
    assert len(reload(make(people, value=longest)).value) == svc.MAX_VALUE_CHARS
    with pytest.raises(InvalidInput) as refused:
        make(people, name="TooLong", value=longest + "x")
    assert "1,048,576" in refused.value.detail


def test_a_refusal_of_a_secret_value_does_not_quote_it(people):
    with pytest.raises(InvalidInput) as refused:
        make(people, value={"token": SECRET + "\x00"}, encrypted=True)
    assert SECRET not in refused.value.detail


def test_a_name_is_taken_whatever_its_case_but_only_in_its_own_account(people):
    make(people, name="Greeting")
    before = state()
    with pytest.raises(Conflict) as refused:
        make(people, name="GREETING")
    assert refused.value.field == "name" and "'GREETING'" in refused.value.detail
    assert state() == before
    svc.create_variable(account=people.other_account, name="Greeting", value=1, actor=SYSTEM)


def test_the_database_refuses_a_second_name_differing_only_in_case(people):
    # The service looks first; the unique index is what holds when two requests race past that look.
    from django.db import IntegrityError, transaction

    make(people, name="Greeting")
    with pytest.raises(IntegrityError), transaction.atomic():
        Variable.objects.create(account=people.account, name="greeting", value='"x"')


def test_a_change_is_pushed_to_the_accounts_pages_after_commit(people, django_capture_on_commit_callbacks):
    def act():
        with django_capture_on_commit_callbacks(execute=True):
            make(people)

    assert heard_by_account(people.account.pk, act) == {"type": "assets-changed", "kind": "variable"}


# ---- update, encrypt, delete ------------------------------------------------------------------------------


def test_the_value_and_description_are_replaced_and_audited_without_the_value(people):
    make(people, value="hello")
    updated = svc.update_variable(
        account=people.account, name="greeting", value={"n": 2}, description="New.", actor=as_(people.operator)
    )

    stored = reload(updated)
    assert (stored.value, stored.description, stored.updated_by) == ('{"n":2}', "New.", "oscar")
    event = AuditEvent.objects.get(action="variable.change")
    assert event.details == {"fields": ["description", "value"]}


def test_an_encrypted_variable_stays_encrypted_when_its_value_is_replaced(people):
    make(people, value=SECRET, encrypted=True)
    svc.update_variable(account=people.account, name="Greeting", value=SECRET + "-2", actor=SYSTEM)

    stored = reload(Variable.objects.get(name="Greeting"))
    assert stored.encrypted and stored.value is None
    assert svc.read_variable_value(stored) == SECRET + "-2"
    assert SECRET not in stored_text()


def test_an_update_with_nothing_to_change_writes_nothing(people):
    make(people)
    before = state()
    svc.update_variable(account=people.account, name="Greeting", value=UNSET, actor=SYSTEM)
    assert state() == before


@pytest.mark.parametrize(("field", "change"), [("value", {"value": float("nan")}), ("description", {"description": 5})])
def test_a_bad_update_writes_nothing(people, field, change):
    make(people)
    before = state()
    with pytest.raises(InvalidInput) as refused:
        svc.update_variable(account=people.account, name="Greeting", actor=SYSTEM, **change)
    assert refused.value.field == field
    assert state() == before


def test_a_plain_variable_is_encrypted_in_place_once_and_for_good(people):
    make(people, value=SECRET)
    svc.encrypt_variable(account=people.account, name="Greeting", actor=as_(people.owner))

    stored = reload(Variable.objects.get(name="Greeting"))
    assert stored.encrypted and stored.value is None
    assert svc.read_variable_value(stored) == SECRET
    assert SECRET not in stored_text()
    assert AuditEvent.objects.filter(action="variable.encrypt", target_name="Greeting").count() == 1
    before = state()
    with pytest.raises(Conflict) as refused:
        svc.encrypt_variable(account=people.account, name="Greeting", actor=SYSTEM)
    assert refused.value.code == "already_encrypted"
    assert state() == before


def test_a_variable_is_deleted_and_the_deletion_audited(people):
    make(people)
    svc.delete_variable(account=people.account, name="GREETING", actor=as_(people.operator))

    assert not Variable.objects.exists()
    assert AuditEvent.objects.filter(action="variable.delete", target_name="Greeting").count() == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda p, actor: svc.update_variable(account=p.account, name="Greeting", value=1, actor=actor),
        lambda p, actor: svc.encrypt_variable(account=p.account, name="Greeting", actor=actor),
        lambda p, actor: svc.delete_variable(account=p.account, name="Greeting", actor=actor),
    ],
    ids=["update", "encrypt", "delete"],
)
def test_every_change_refuses_a_reader_and_a_stranger_and_names_a_missing_variable(people, call):
    make(people)
    before = state()
    with pytest.raises(PermissionDenied):
        call(people, as_(people.reader))
    with pytest.raises(NotFound):
        call(people, as_(people.stranger))
    assert state() == before
    svc.delete_variable(account=people.account, name="Greeting", actor=SYSTEM)
    with pytest.raises(NotFound) as missing:
        call(people, SYSTEM)
    assert "variable named 'Greeting'" in missing.value.detail


def test_another_accounts_variable_is_not_found(people):
    svc.create_variable(account=people.other_account, name="Theirs", value=1, actor=SYSTEM)
    with pytest.raises(NotFound):
        svc.delete_variable(account=people.account, name="Theirs", actor=SYSTEM)
    with pytest.raises(NotFound):
        get_variable(people.account, "Theirs")


# ---- what a job does ---------------------------------------------------------------------------------------


def test_a_job_sets_a_value_and_an_encrypted_variable_stays_encrypted(people):
    variable = make(people, value=SECRET, encrypted=True)
    svc.set_variable_value(variable=variable, value=[1, 2], actor=SYSTEM)

    stored = reload(variable)
    assert stored.encrypted and svc.read_variable_value(stored) == [1, 2]
    assert AuditEvent.objects.filter(action="variable.change").count() == 1


def test_a_job_cannot_set_a_value_that_is_not_json(people):
    variable = make(people)
    before = state()
    with pytest.raises(InvalidInput):
        svc.set_variable_value(variable=variable, value=float("nan"), actor=SYSTEM)
    assert state() == before


# ---- queries ------------------------------------------------------------------------------------------------


def test_the_list_is_by_name_whatever_the_case_and_only_the_accounts_own(people):
    for name in ["beta", "Alpha", "gamma", "Delta"]:
        make(people, name=name)
    svc.create_variable(account=people.other_account, name="Other", value=1, actor=SYSTEM)

    assert [v.name for v in list_variables(people.account)] == ["Alpha", "beta", "Delta", "gamma"]
    assert get_variable(people.account, "ALPHA").name == "Alpha"


@pytest.mark.parametrize("rows", [3, 30])
def test_the_list_costs_one_query_however_many_rows(people, django_assert_num_queries, rows):
    for i in range(rows):
        make(people, name=f"v-{i:02}", value=i, encrypted=bool(i % 2))
    with django_assert_num_queries(1):
        listed = [(v.name, v.encrypted, v.value) for v in list_variables(people.account)]
    assert len(listed) == rows
    assert listed[1] == ("v-01", True, None)
    assert json.loads(listed[2][2]) == 2
