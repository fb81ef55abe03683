"""The Connections blades (Shared resources): connections (+ Add: a type, then one input per field; the
properties blade; Delete) and connection types (a fields editor; Delete refused while used); encrypted
fields on no page."""

import re

import pytest

from automation.models import AuditEvent, Connection, ConnectionType
from automation.services import connections as connection_services
from automation.services.connections import read_connection_values
from tests.support.asset_pages import answers_by_role, assert_secret_free, pages, url
from tests.support.assets import SYSTEM
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SECRET = "client-Secret-Value"
FIELDS = [
    {"name": "Host", "type": "string", "encrypted": False},
    {"name": "Port", "type": "int", "encrypted": False},
    {"name": "Tls", "type": "bool", "encrypted": False},
    {"name": "Secret", "type": "string", "encrypted": True},
    {"name": "Pin", "type": "int", "encrypted": True},
]
VALUES = {"Host": "db.contoso.test", "Port": 5432, "Tls": True, "Secret": SECRET, "Pin": 987654}


def make_type(p, name="Database", fields=FIELDS) -> ConnectionType:
    return connection_services.create_connection_type(account=p.account, name=name, fields=fields, actor=SYSTEM)


def make(p, name="Orders", type_name="Database", values=VALUES) -> Connection:
    return connection_services.create_connection(
        account=p.account, name=name, connection_type=type_name, values=values, actor=SYSTEM
    )


def values_of(connection) -> dict:
    return read_connection_values(Connection.objects.select_related("account", "connection_type").get(pk=connection.pk))


def add_form(name="Orders", type_name="Database", **fields) -> dict:
    typed = {"Host": "db.contoso.test", "Port": "5432", "Tls": "true", "Secret": SECRET, "Pin": "987654"} | fields
    return {"name": name, "description": "", "connection_type": type_name} | {f"field_{k}": v for k, v in typed.items()}


def type_form(name="Queue", rows=(("Url", "string", False), ("Key", "string", True))) -> dict:
    form = {"name": name, "description": ""}
    for i, (field, kind, encrypted) in enumerate(rows):
        form |= {f"field_name_{i}": field, f"field_type_{i}": kind}
        if encrypted:
            form[f"field_encrypted_{i}"] = "on"
    return form


# ---- who may do what ---------------------------------------------------------------------------------------


def test_each_role_gets_what_its_role_allows_and_a_refusal_writes_nothing(people, client_for):
    make_type(people)
    unused = make_type(people, "Unused")
    kept = make(people, "Kept")
    gone = make(people, "Gone")
    requests = [
        ("get", url("connections", people.account), None),
        ("get", url("connection_add", people.account), None),
        ("post", url("connection_add", people.account), add_form("New")),
        ("get", url("connection", people.account, kept.pk), None),
        (
            "post",
            url("connection", people.account, kept.pk),
            {"field_Host": "h", "field_Port": "1", "field_Tls": "false"},
        ),
        ("get", url("connection_delete", people.account, gone.pk), None),
        ("post", url("connection_delete", people.account, gone.pk), None),
        ("get", url("connection_types", people.account), None),
        ("get", url("connection_type_add", people.account), None),
        ("post", url("connection_type_add", people.account), type_form()),
        ("get", url("connection_type_delete", people.account, unused.pk), None),
        ("post", url("connection_type_delete", people.account, unused.pk), None),
    ]
    expected = {
        "owner": [200, 200, 302, 200, 302, 200, 302, 200, 200, 302, 200, 302],
        # The owner did it all first.
        "operator": [200, 200, 400, 200, 302, 404, 404, 200, 200, 400, 404, 404],
        "reader": [200, 403, 403, 200, 403, 403, 403, 200, 403, 403, 403, 403],
        "stranger": [404] * 12,
    }
    answers_by_role(people, client_for, requests, expected)


# ---- connections -------------------------------------------------------------------------------------------


def test_the_list_shows_each_connection_with_its_type(people, client_for):
    make_type(people)
    connection = make(people)

    page = client_for(people.reader).get(url("connections", people.account)).content.decode()

    row = re.search(r'<tr data-name="Orders">(.*?)</tr>', page, re.S).group(1)
    assert "Database" in row
    assert 'data-live-refresh="assets-changed" data-live-kind="connection"' in page
    assert_secret_free(page, [SECRET, connection.sealed_values])


def test_the_add_dialog_asks_for_a_type_first_and_then_shows_its_fields(people, client_for):
    make_type(people)
    client = client_for(people.operator)

    first = client.get(url("connection_add", people.account), headers=HTMX).content.decode()
    chosen = client.get(
        url("connection_add", people.account) + "?connection_type=Database&name=Orders&description=", headers=HTMX
    )

    # Azure's built-in types are offered too.
    for offered in ("AzureServicePrincipal (built-in)", "Azure (built-in)", ">Database<"):
        assert offered in first, offered
    assert 'name="field_Host"' not in first
    form = chosen.context["form"]
    assert list(form.fields) == [
        "name",
        "description",
        "field_Host",
        "field_Port",
        "field_Tls",
        "field_Secret",
        "field_Pin",
    ]
    assert form["name"].value() == "Orders"
    page = chosen.content.decode()
    assert re.search(r'<input type="number" name="field_Port"', page)
    assert re.search(r'<select name="field_Tls"', page)
    assert re.search(r'<input type="password" name="field_Secret"', page)


@pytest.mark.parametrize("htmx", [True, False])
def test_a_connection_is_added_with_a_typed_value_for_each_field(people, client_for, htmx):
    make_type(people)

    response = client_for(people.operator).post(
        url("connection_add", people.account), add_form(), headers=htmx_headers(htmx)
    )

    assert response.status_code == 200 if htmx else 302
    connection = Connection.objects.get(name="Orders")
    assert values_of(connection) == VALUES
    assert SECRET not in repr(connection.values)
    assert AuditEvent.objects.filter(action="connection.create", target_name="Orders").exists()


def test_a_connection_of_the_built_in_service_principal_type_is_added(people, client_for):
    form = {
        "name": "AzureRunAsConnection",
        "description": "",
        "connection_type": "AzureServicePrincipal",
        "field_ApplicationId": "app-id",
        "field_TenantId": "tenant-id",
        "field_CertificateThumbprint": "ABCDEF",
        "field_SubscriptionId": "sub-id",
    }

    response = client_for(people.operator).post(url("connection_add", people.account), form)

    assert response.status_code == 302
    assert values_of(Connection.objects.get(name="AzureRunAsConnection"))["TenantId"] == "tenant-id"


@pytest.mark.parametrize(
    ("form", "field", "said"),
    [
        (add_form(Port="eighty"), "field_Port", "Enter a whole number."),
        (add_form(Port=""), "field_Port", "required"),
        (add_form(Pin="12345678901234567890123"), None, "Field 'Pin' must be a whole number"),
        (add_form(type_name="Nothing"), None, "Choose a connection type."),
        (add_form(name="bad name!"), "name", "Names are"),
    ],
)
def test_bad_input_is_said_and_nothing_is_written(people, client_for, form, field, said):
    make_type(people)
    before = state()

    response = client_for(people.operator).post(url("connection_add", people.account), form, headers=HTMX)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert said in " ".join(errors.get(field or "__all__", [])), errors
    assert state() == before
    assert SECRET not in response.content.decode()


def test_the_blade_shows_plain_fields_and_masks_encrypted_ones(people, client_for):
    make_type(people)
    connection = make(people)

    for role in ("reader", "operator"):
        page = client_for(people.by_role[role]).get(url("connection", people.account, connection.pk)).content.decode()
        assert "db.contoso.test" in page and "5432" in page and "••••••" in page
        assert_secret_free(page, [SECRET, "987654", connection.sealed_values])


def test_empty_encrypted_inputs_keep_their_values_and_a_new_one_replaces(people, client_for):
    make_type(people)
    connection = make(people)
    client = client_for(people.operator)
    address = url("connection", people.account, connection.pk)
    unchanged = {"description": "", "field_Host": "db.contoso.test", "field_Port": "5432", "field_Tls": "true"}

    client.post(address, unchanged | {"field_Secret": "", "field_Pin": ""})
    assert not AuditEvent.objects.filter(action="connection.change").exists()

    client.post(address, unchanged | {"field_Port": "6432", "field_Secret": "", "field_Pin": ""})
    assert values_of(connection) == VALUES | {"Port": 6432}

    client.post(address, unchanged | {"field_Port": "6432", "field_Secret": "rotated", "field_Pin": ""})
    assert values_of(connection) == VALUES | {"Port": 6432, "Secret": "rotated"}
    # Audit ids are random: the two entries in either order.
    changes = sorted(e.details["values"] for e in AuditEvent.objects.filter(action="connection.change"))
    assert changes == [["Port"], ["Secret"]]


@pytest.mark.parametrize("htmx", [True, False])
def test_a_connection_is_deleted_after_a_confirmation(people, client_for, htmx):
    make_type(people)
    connection = make(people)
    client = client_for(people.operator)
    address = url("connection_delete", people.account, connection.pk)

    question = client.get(address, headers=htmx_headers(htmx)).content.decode()
    response = client.post(address, headers=htmx_headers(htmx))

    assert "delete connection" in question and "This cannot be undone." in question
    assert response.status_code == 200 if htmx else 302
    assert not Connection.objects.exists()


def test_no_page_shows_an_encrypted_field(people, client_for):
    make_type(people)
    connection = make(people)
    urls = [
        url("connections", people.account),
        url("connection", people.account, connection.pk),
        url("connection_delete", people.account, connection.pk),
        url("connection_types", people.account),
        url("connection_add", people.account) + "?connection_type=Database",
    ]
    assert_secret_free(pages(client_for(people.owner), urls), [SECRET, "987654", connection.sealed_values])


# ---- connection types --------------------------------------------------------------------------------------


def test_the_types_tab_lists_built_in_and_own_types_with_their_fields_and_use(people, client_for):
    make_type(people)
    make(people)

    page = client_for(people.operator).get(url("connection_types", people.account)).content.decode()

    assert re.findall(r'<tr data-name="([^"]+)"', page) == ["Azure", "AzureServicePrincipal", "Database"]
    database = page.split('data-name="Database"')[1]
    assert "Host" in database and "1 connection" in database and "Delete</a>" in database
    builtin = page.split('data-name="AzureServicePrincipal"')[1].split("</tr>")[0]
    assert "Built-in" in builtin and "Delete</a>" not in builtin
    assert 'data-live-kind="connectiontype connection"' in page


@pytest.mark.parametrize("htmx", [True, False])
def test_a_type_is_added_from_rows_of_fields_and_blank_rows_are_left_out(people, client_for, htmx):
    client = client_for(people.operator)
    shown = client.get(url("connection_type_add", people.account), headers=htmx_headers(htmx)).content.decode()
    assert len(re.findall(r'name="field_name_\d+"', shown)) == 5
    assert "data-add-row" in shown

    form = type_form() | {"field_name_2": "", "field_type_2": "int"}
    response = client.post(url("connection_type_add", people.account), form, headers=htmx_headers(htmx))

    assert response.status_code == 200 if htmx else 302
    assert ConnectionType.objects.get(name="Queue").fields == [
        {"name": "Url", "type": "string", "encrypted": False},
        {"name": "Key", "type": "string", "encrypted": True},
    ]


def test_rows_added_in_the_browser_are_read_too(people, client_for):
    rows = [(f"F{i}", "bool", False) for i in range(8)]

    client_for(people.operator).post(url("connection_type_add", people.account), type_form(rows=rows))

    assert [f["name"] for f in ConnectionType.objects.get(name="Queue").fields] == [f"F{i}" for i in range(8)]


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ((), "fields is a list of 1 to 50 fields."),
        ((("Url", "string", False), ("url", "int", False)), "declared twice"),
        ((("1st", "string", False),), "fields[0].name"),
    ],
)
def test_bad_fields_are_said_above_the_rows_and_nothing_is_written(people, client_for, rows, said):
    before = state()

    response = client_for(people.operator).post(
        url("connection_type_add", people.account), type_form(rows=rows), headers=HTMX
    )

    assert response.status_code == 400
    assert said in " ".join(response.context["form"].non_field_errors())
    assert state() == before


def test_a_type_in_use_or_built_in_is_not_deleted_and_the_dialog_says_why(people, client_for):
    used = make_type(people)
    make(people, "Orders")
    make(people, "Billing")
    builtin = ConnectionType.objects.get(account=people.account, name="Azure")
    client = client_for(people.operator)
    before = state()

    for row, reason in ((used, "connections use it (Billing, Orders)"), (builtin, "built-in")):
        address = url("connection_type_delete", people.account, row.pk)
        shown = client.get(address, headers=HTMX).content.decode()
        refused = client.post(address, headers=HTMX)
        assert reason in shown and "Yes</button>" not in shown
        assert refused.status_code == 400
    assert state() == before


def test_an_unused_type_is_deleted_after_a_confirmation(people, client_for):
    unused = make_type(people, "Unused")
    client = client_for(people.owner)

    response = client.post(url("connection_type_delete", people.account, unused.pk), headers=HTMX)

    assert response.status_code == 200 and response["HX-Redirect"] == url("connection_types", people.account)
    assert not ConnectionType.objects.filter(pk=unused.pk).exists()
    assert AuditEvent.objects.filter(action="connectiontype.delete", target_name="Unused").exists()


def test_a_text_field_is_saved_as_typed_even_when_it_names_the_same_moment(people, client_for):
    """Only a variable's DateTime is a moment; a connection's text field is text."""
    make_type(people, "Stamped", [{"name": "Since", "type": "string", "encrypted": False}])
    connection = make(people, "Clock", "Stamped", {"Since": "2024-05-01T12:00:00Z"})

    client_for(people.operator).post(
        url("connection", people.account, connection.pk),
        {"description": "", "field_Since": "2024-05-01T12:00:00+00:00"},
    )

    assert values_of(connection) == {"Since": "2024-05-01T12:00:00+00:00"}
