"""Connection types and connections: typed fields, encrypted ones sealed like encrypted variables, Azure's
built-in types in every account, and a type in use that cannot be deleted."""

import pytest
from django.contrib.auth.models import Permission

from automation.models import AuditEvent, Connection, ConnectionType
from automation.queries.connections import get_connection, get_connection_type, list_connection_types, list_connections
from automation.services import connections as svc
from automation.services.accounts import create_account
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.support.assets import SYSTEM, admin_pages, as_, audit_text, heard_by_account, stored_text
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SECRET = "client-Secret-Of-The-App-5150"
FIELDS = [
    {"name": "Server", "type": "string", "encrypted": False},
    {"name": "Port", "type": "int", "encrypted": False},
    {"name": "UseTls", "type": "bool", "encrypted": False},
    {"name": "Password", "type": "string", "encrypted": True},
    {"name": "Pin", "type": "int", "encrypted": True},
]
VALUES = {"Server": "db.contoso.test", "Port": 5432, "UseTls": True, "Password": SECRET, "Pin": 1234}


def make_type(p, name="Database", fields=FIELDS, **kwargs):
    return svc.create_connection_type(
        account=p.account, name=name, fields=fields, actor=kwargs.pop("actor", SYSTEM), **kwargs
    )


def make(p, name="OrdersDb", values=VALUES, connection_type="Database", **kwargs):
    return svc.create_connection(
        account=p.account,
        name=name,
        connection_type=connection_type,
        values=values,
        actor=kwargs.pop("actor", SYSTEM),
        **kwargs,
    )


def reload(connection) -> Connection:
    return Connection.objects.select_related("account", "connection_type").get(pk=connection.pk)


# ---- built-in types ------------------------------------------------------------------------------------------


def test_every_account_has_azures_built_in_types_which_cannot_be_deleted(people, make_user):
    account = create_account(name="new-one", owner=make_user("nina"), actor=SYSTEM)

    types = {t.name: t for t in list_connection_types(account)}
    assert list(types) == ["Azure", "AzureServicePrincipal"]
    assert all(t.is_builtin and t.connection_count == 0 for t in types.values())
    assert [f["name"] for f in types["AzureServicePrincipal"].fields] == [
        "ApplicationId",
        "TenantId",
        "CertificateThumbprint",
        "SubscriptionId",
    ]
    assert [f["name"] for f in types["Azure"].fields] == ["AutomationCertificateName", "SubscriptionID"]
    assert not any(f["encrypted"] for t in types.values() for f in t.fields)
    before = state()
    with pytest.raises(Conflict) as refused:
        svc.delete_connection_type(account=account, name="Azure", actor=SYSTEM)
    assert refused.value.code == "builtin"
    assert state() == before


def test_a_connection_of_a_built_in_type(people):
    connection = make(
        people,
        name="AzureRunAsConnection",
        connection_type="AzureServicePrincipal",
        values={"ApplicationId": "a", "TenantId": "t", "CertificateThumbprint": "C0FFEE", "SubscriptionId": "s"},
    )
    assert svc.read_connection_values(reload(connection))["CertificateThumbprint"] == "C0FFEE"


def test_the_migration_gave_older_accounts_the_built_in_types(people):
    # The suite's accounts are made after migrating; the migration's own copy must match what they get.
    from importlib import import_module

    migration = import_module("automation.migrations.0008_shared_resources")
    assert {name: [f["name"] for f in fields] for name, fields in svc.BUILTIN_TYPES.items()} == migration.BUILTIN_TYPES


# ---- connection types -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_an_operator_or_owner_creates_a_connection_type(people, role):
    made = make_type(
        people,
        fields=[{"name": "Url"}, {"name": "Key", "encrypted": True}],
        description="D.",
        actor=as_(people.by_role[role]),
    )
    stored = ConnectionType.objects.get(pk=made.pk)
    assert stored.fields == [
        {"name": "Url", "type": "string", "encrypted": False},
        {"name": "Key", "type": "string", "encrypted": True},
    ]
    assert (stored.is_builtin, stored.description) == (False, "D.")
    assert AuditEvent.objects.filter(action="connectiontype.create", target_name="Database").count() == 1


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("name", {"name": "bad/name"}),
        ("name", {"name": "azure"}),
        ("fields", {"fields": []}),
        ("fields", {"fields": None}),
        ("fields", {"fields": {"name": "x"}}),
        ("fields", {"fields": [{"name": f"f{i}"} for i in range(51)]}),
        ("fields", {"fields": ["Url"]}),
        ("fields", {"fields": [{"name": "1st"}]}),
        ("fields", {"fields": [{"name": "has space"}]}),
        ("fields", {"fields": [{"name": "x" * 65}]}),
        ("fields", {"fields": [{"name": "Url"}, {"name": "URL"}]}),
        ("fields", {"fields": [{"name": "Url", "type": "float"}]}),
        ("fields", {"fields": [{"name": "Url", "encrypted": "yes"}]}),
        ("fields", {"fields": [{"name": "Url", "secret": True}]}),
        ("description", {"description": "d" * 513}),
    ],
)
def test_a_bad_connection_type_is_refused_naming_its_field_and_nothing_is_written(people, field, change):
    before = state()
    with pytest.raises((InvalidInput, Conflict)) as refused:
        svc.create_connection_type(account=people.account, actor=SYSTEM, **{"name": "T", "fields": FIELDS, **change})
    assert refused.value.field == field
    assert state() == before


def test_fifty_fields_are_taken(people):
    assert len(make_type(people, fields=[{"name": f"f{i}"} for i in range(50)]).fields) == 50


def test_a_type_in_use_cannot_be_deleted_and_the_refusal_names_its_connections(people):
    make_type(people)
    make(people, name="OrdersDb")
    make(people, name="BillingDb")
    before = state()
    with pytest.raises(Conflict) as refused:
        svc.delete_connection_type(account=people.account, name="database", actor=SYSTEM)
    assert refused.value.code == "connection_type_in_use"
    assert "'BillingDb', 'OrdersDb'" in refused.value.detail
    assert state() == before
    svc.delete_connection(account=people.account, name="OrdersDb", actor=SYSTEM)
    svc.delete_connection(account=people.account, name="BillingDb", actor=SYSTEM)
    svc.delete_connection_type(account=people.account, name="Database", actor=as_(people.operator))
    assert not ConnectionType.objects.filter(account=people.account, is_builtin=False).exists()
    assert AuditEvent.objects.filter(action="connectiontype.delete").count() == 1


# ---- connections ------------------------------------------------------------------------------------------------


def test_a_connection_keeps_plain_fields_readable_and_seals_the_encrypted_ones(people, make_user, client_for):
    make_type(people)
    connection = make(people, description="Orders.", actor=as_(people.operator))

    stored = reload(connection)
    assert stored.values == {"Server": "db.contoso.test", "Port": 5432, "UseTls": True}
    assert stored.sealed_values.startswith("v1.")
    assert svc.read_connection_values(stored) == VALUES
    assert list(svc.read_connection_values(stored)) == [f["name"] for f in FIELDS]
    assert (stored.description, stored.created_by) == ("Orders.", "oscar")
    assert SECRET not in stored_text() + audit_text() + str(stored) + repr(stored)
    event = AuditEvent.objects.get(action="connection.create")
    assert (event.target_name, event.details) == ("OrdersDb", {"connection_type": "Database"})
    staff = make_user("sue", staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_connection"))
    pages = admin_pages(client_for(staff), "connection", stored)
    assert "db.contoso.test" in pages
    assert SECRET not in pages and stored.sealed_values[:20] not in pages


def test_a_type_without_encrypted_fields_seals_nothing(people):
    make_type(people, name="Plain", fields=[{"name": "Url"}])
    stored = reload(make(people, connection_type="plain", values={"Url": "https://x.test"}))
    assert (stored.values, stored.sealed_values) == ({"Url": "https://x.test"}, "")
    assert svc.read_connection_values(stored) == {"Url": "https://x.test"}


@pytest.mark.parametrize(
    ("field", "change", "words"),
    [
        ("name", {"name": ""}, "Names are"),
        ("connection_type", {"connection_type": "NoSuchType"}, "no connection type named 'NoSuchType'"),
        ("connection_type", {"connection_type": None}, "no connection type"),
        ("values", {"values": None}, "object"),
        ("values", {"values": {**VALUES, "Extra": 1}}, "no field 'Extra'"),
        ("values", {"values": {k: v for k, v in VALUES.items() if k != "Pin"}}, "'Pin' needs a value"),
        ("values", {"values": {**VALUES, "Port": "5432"}}, "'Port' must be a whole number"),
        ("values", {"values": {**VALUES, "Port": True}}, "'Port' must be a whole number"),
        ("values", {"values": {**VALUES, "Port": 2**64}}, "'Port' must be a whole number from"),
        ("values", {"values": {**VALUES, "UseTls": "true"}}, "'UseTls' is true or false"),
        ("values", {"values": {**VALUES, "Server": 5}}, "'Server' is text"),
        ("values", {"values": {**VALUES, "Password": None}}, "'Password' is text"),
        ("values", {"values": {**VALUES, "Password": SECRET + "\x00"}}, "'Password' contains a NUL"),
        ("description", {"description": "d" * 513}, "512"),
    ],
)
def test_a_bad_connection_is_refused_naming_its_field_and_nothing_is_written(people, field, change, words):
    make_type(people)
    before = state()
    with pytest.raises(InvalidInput) as refused:
        svc.create_connection(
            account=people.account,
            actor=SYSTEM,
            **{"name": "C", "connection_type": "Database", "values": VALUES, **change},
        )
    assert refused.value.field == field and words in refused.value.detail
    assert SECRET not in refused.value.detail
    assert state() == before


def test_a_type_of_another_account_is_not_found(people):
    svc.create_connection_type(account=people.other_account, name="Theirs", fields=[{"name": "A"}], actor=SYSTEM)
    with pytest.raises(InvalidInput) as refused:
        make(people, connection_type="Theirs", values={"A": "x"})
    assert refused.value.field == "connection_type"


def test_roles_and_names(people):
    make_type(people)
    before = state()
    with pytest.raises(PermissionDenied):
        make(people, actor=as_(people.reader))
    with pytest.raises(NotFound):
        make(people, actor=as_(people.stranger))
    with pytest.raises(PermissionDenied):
        make_type(people, name="Other", actor=as_(people.reader))
    with pytest.raises(NotFound):
        svc.delete_connection_type(account=people.account, name="Database", actor=as_(people.stranger))
    assert state() == before
    make(people)
    with pytest.raises(Conflict) as taken:
        make(people, name="ORDERSDB")
    assert taken.value.field == "name"


def test_an_update_merges_the_values_it_names_and_keeps_the_rest_sealed(people):
    make_type(people)
    make(people)
    svc.update_connection(
        account=people.account, name="ordersdb", values={"Port": 6432, "Password": "new"}, actor=as_(people.operator)
    )

    stored = reload(Connection.objects.get())
    assert svc.read_connection_values(stored) == {**VALUES, "Port": 6432, "Password": "new"}
    assert stored.values["Port"] == 6432 and "Password" not in stored.values
    event = AuditEvent.objects.get(action="connection.change")
    assert event.details == {"fields": ["values"], "values": ["Password", "Port"]}
    assert "new" not in repr(event.details.values()).replace("'values'", "")


@pytest.mark.parametrize(
    "change",
    [{"values": {"Port": "x"}}, {"values": {"Nope": 1}}, {"values": None}, {"description": 1}],
)
def test_a_bad_update_writes_nothing(people, change):
    make_type(people)
    make(people)
    before = state()
    with pytest.raises(InvalidInput):
        svc.update_connection(account=people.account, name="OrdersDb", actor=SYSTEM, **change)
    assert state() == before


def test_a_connection_is_deleted_not_by_a_reader(people, django_capture_on_commit_callbacks):
    make_type(people)
    make(people)
    with pytest.raises(PermissionDenied):
        svc.delete_connection(account=people.account, name="OrdersDb", actor=as_(people.reader))

    def act():
        with django_capture_on_commit_callbacks(execute=True):
            svc.delete_connection(account=people.account, name="OrdersDb", actor=as_(people.owner))

    assert heard_by_account(people.account.pk, act) == {"type": "assets-changed", "kind": "connection"}
    assert not Connection.objects.exists()
    with pytest.raises(NotFound):
        svc.update_connection(account=people.account, name="OrdersDb", description="", actor=SYSTEM)


# ---- queries ---------------------------------------------------------------------------------------------------


def test_lists_are_by_name_and_get_finds_one(people):
    make_type(people)
    for name in ["b", "A"]:
        make(people, name=name)
    assert [c.name for c in list_connections(people.account)] == ["A", "b"]
    assert [t.name for t in list_connection_types(people.account)] == ["Azure", "AzureServicePrincipal", "Database"]
    assert get_connection(people.account, "a").connection_type.name == "Database"
    assert get_connection_type(people.account, "DATABASE").name == "Database"
    with pytest.raises(NotFound):
        get_connection(people.other_account, "A")
    with pytest.raises(NotFound):
        get_connection_type(people.account, "Nope")


@pytest.mark.parametrize("rows", [3, 30])
def test_the_lists_cost_one_query_each_however_many_rows(people, django_assert_num_queries, rows):
    for i in range(rows):
        make_type(people, name=f"t-{i:02}", fields=[{"name": "A"}])
        make(people, name=f"c-{i:02}", connection_type=f"t-{i:02}", values={"A": "x"})
    with django_assert_num_queries(1):
        listed = [(c.name, c.connection_type.name, c.values) for c in list_connections(people.account)]
    assert len(listed) == rows
    with django_assert_num_queries(1):
        types = [(t.name, t.connection_count) for t in list_connection_types(people.account)]
    assert len(types) == rows + 2 and types[2] == ("t-00", 1)
