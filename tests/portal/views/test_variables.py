"""The Variables blades (Shared resources): the list, + Add with a typed input per type, the properties blade,
Encrypt in place and Delete; an encrypted value on no page."""

import json
import re
import uuid

import pytest

from automation.models import AuditEvent, Variable
from automation.services import variables as variable_services
from automation.services.variables import read_variable_value
from tests.support.asset_pages import answers_by_role, assert_secret_free, pages, url
from tests.support.assets import SYSTEM
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SECRET = "s3cret-Variable-Value"


def make(p, name="Greeting", value="hello", **kwargs) -> Variable:
    return variable_services.create_variable(account=p.account, name=name, value=value, actor=SYSTEM, **kwargs)


def value_of(p, name: str):
    return read_variable_value(Variable.objects.select_related("account").get(account=p.account, name=name))


def add_form(name="Region", kind="string", value="westeurope", encrypted="no", **extra) -> dict:
    return {"name": name, "description": "", "type": kind, f"value_{kind}": value, "encrypted": encrypted, **extra}


def rows(response) -> list[str]:
    return re.findall(r'<tr data-name="([^"]+)"', response.content.decode())


# ---- who may do what ---------------------------------------------------------------------------------------


def test_each_role_gets_what_its_role_allows_and_a_refusal_writes_nothing(people, client_for):
    plain = make(people, "Plain")
    other = make(people, "Other")
    gone = make(people, "Gone")
    requests = [
        ("get", url("variables", people.account), None),
        ("get", url("variable_add", people.account), None),
        ("post", url("variable_add", people.account), add_form()),
        ("get", url("variable", people.account, plain.pk), None),
        ("post", url("variable", people.account, other.pk), {"description": "changed", "type": "string"}),
        ("get", url("variable_encrypt", people.account, plain.pk), None),
        ("post", url("variable_encrypt", people.account, plain.pk), None),
        ("get", url("variable_delete", people.account, gone.pk), None),
        ("post", url("variable_delete", people.account, gone.pk), None),
    ]
    writer = [200, 200, 302, 200, 302, 200, 302, 200, 302]
    expected = {
        "owner": writer,
        "operator": [200, 200, 400, 200, 302, 200, 400, 404, 404],  # the owner did it all first
        "reader": [200, 403, 403, 200, 403, 403, 403, 403, 403],
        "stranger": [404] * 9,
    }
    answers_by_role(people, client_for, requests, expected)


def test_a_variable_of_another_account_is_not_found_under_it(people, client_for):
    theirs = variable_services.create_variable(account=people.other_account, name="Theirs", value=1, actor=SYSTEM)
    client = client_for(people.owner)
    for route in ("variable", "variable_encrypt", "variable_delete"):
        assert client.get(url(route, people.account, theirs.pk)).status_code == 404
    assert client.get(url("variable", people.account, uuid.uuid4())).status_code == 404


# ---- the list ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "type_word", "shown"),
    [
        ("westeurope", "String", "westeurope"),
        (42, "Integer", "42"),
        (True, "Boolean", "true"),
        ("2024-05-01T12:30:00+00:00", "DateTime", "2024-05-01T12:30:00+00:00"),
        ({"region": "westeurope"}, "Object", "{&quot;region&quot;:&quot;westeurope&quot;}"),
        (1.5, "Number", "1.5"),
        (None, "Not specified", "null"),
    ],
)
def test_the_list_shows_each_value_with_its_azure_type(people, client_for, value, type_word, shown):
    make(people, "Thing", value)

    page = client_for(people.reader).get(url("variables", people.account)).content.decode()

    row = re.search(r'<tr data-name="Thing">(.*?)</tr>', page, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[1:3] == [type_word, shown]


def test_an_encrypted_value_is_listed_as_encrypted_and_never_shown(people, client_for):
    make(people, "Password", SECRET, encrypted=True)

    page = client_for(people.owner).get(url("variables", people.account)).content.decode()

    row = re.search(r'<tr data-name="Password">(.*?)</tr>', page, re.S).group(1)
    assert "Encrypted" in row and "••••••" in row
    assert_secret_free(page, [SECRET])


def test_readers_see_the_list_without_add_and_writers_with_it(people, client_for):
    make(people)
    for role, shown in (("reader", False), ("operator", True), ("owner", True)):
        page = client_for(people.by_role[role]).get(url("variables", people.account)).content.decode()
        assert ("Add a variable" in page) is shown, role
        assert 'data-name="Greeting"' in page


def test_the_list_is_a_live_part_that_htmx_fetches_again_alone(people, client_for):
    make(people)
    client = client_for(people.reader)

    page = client.get(url("variables", people.account)).content.decode()
    part = client.get(url("variables", people.account), headers=HTMX)

    assert re.search(r'data-live-refresh="assets-changed" data-live-kind="variable"', page)
    assert part.templates[0].name == "variables/partials/table.html"
    assert "<html" not in part.content.decode() and 'data-name="Greeting"' in part.content.decode()


def test_the_list_pages_fifty_rows_at_a_time(people, client_for):
    for i in range(51):
        make(people, f"v-{i:02}", i)
    client = client_for(people.reader)

    first = client.get(url("variables", people.account))
    second = client.get(url("variables", people.account) + "?page=2")

    assert len(rows(first)) == 50 and rows(second) == ["v-50"]


# ---- + Add -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "typed", "stored"),
    [
        ("string", "  as typed  ", "  as typed  "),
        ("string", "", ""),
        ("integer", "-42", -42),
        ("boolean", "false", False),
        ("datetime", "2024-05-01T12:30:15", "2024-05-01T12:30:15+00:00"),
        ("object", '{"a": [1, 2.5, null]}', {"a": [1, 2.5, None]}),
        ("object", "[]", []),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_each_type_is_entered_in_its_own_input_and_stored_as_its_json_value(
    people, client_for, kind, typed, stored, htmx
):
    response = client_for(people.operator).post(
        url("variable_add", people.account), add_form("Thing", kind, typed), headers=htmx_headers(htmx)
    )

    assert response.status_code == 200 if htmx else 302
    assert value_of(people, "Thing") == stored
    assert type(value_of(people, "Thing")) is type(stored)
    event = AuditEvent.objects.get(action="variable.create")
    assert (event.target_name, event.actor_name) == ("Thing", "oscar")


def test_not_specified_stores_null(people, client_for):
    client_for(people.operator).post(url("variable_add", people.account), {"name": "Nothing", "type": "null"})

    assert Variable.objects.get(name="Nothing").value == "null"


@pytest.mark.parametrize(
    ("form", "field", "said"),
    [
        (add_form(kind="integer", value="forty-two"), "value_integer", "Enter a whole number."),
        (add_form(kind="integer", value=""), "value_integer", "Enter the Integer value."),
        (add_form(kind="boolean", value=""), "value_boolean", "Enter the Boolean value."),
        (add_form(kind="datetime", value="yesterday"), "value_datetime", "Enter a valid date/time."),
        (add_form(kind="object", value="{region: west}"), "value_object", "Not valid JSON"),
        (add_form(kind="string", value="a\x1bb"), "value_string", "contains"),
        (add_form(name="bad name!"), "name", "Names are"),
        (add_form(description="x" * 513), "description", "512"),
        (add_form(encrypted="maybe"), "encrypted", "Select a valid choice"),
        (add_form(kind="float"), "type", "Select a valid choice"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_input_is_said_on_its_field_and_nothing_is_written(people, client_for, form, field, said, htmx):
    before = state()

    response = client_for(people.operator).post(url("variable_add", people.account), form, headers=htmx_headers(htmx))

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field], errors
    assert said in " ".join(errors[field])
    assert state() == before


def test_a_name_taken_in_another_case_is_refused_on_the_name(people, client_for):
    make(people, "Region")

    response = client_for(people.operator).post(url("variable_add", people.account), add_form(name="REGION"))

    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["name"][0]


def test_a_refused_encrypted_value_is_not_shown_back_but_a_plain_one_is(people, client_for):
    client = client_for(people.operator)
    taken = make(people, "Taken").name

    secret = client.post(url("variable_add", people.account), add_form(taken, value=SECRET, encrypted="yes"))
    plain = client.post(url("variable_add", people.account), add_form(taken, value="not-a-secret"))

    assert secret.status_code == plain.status_code == 400
    assert SECRET not in secret.content.decode()
    assert "not-a-secret" in plain.content.decode()


def test_an_encrypted_variable_is_added_and_its_value_is_then_on_no_page(people, client_for):
    client = client_for(people.owner)

    response = client.post(url("variable_add", people.account), add_form("Password", value=SECRET, encrypted="yes"))

    assert response.status_code == 302
    variable = Variable.objects.get(name="Password")
    assert variable.encrypted and value_of(people, "Password") == SECRET
    urls = [
        url("variables", people.account),
        url("variable", people.account, variable.pk),
        url("variable_delete", people.account, variable.pk),
        url("variable_encrypt", people.account, variable.pk),
    ]
    assert_secret_free(pages(client, urls), [SECRET, variable.sealed_value])
    assert_secret_free(pages(client_for(people.reader), urls[:2]), [SECRET, variable.sealed_value])


# ---- the properties blade ----------------------------------------------------------------------------------


def test_the_blade_shows_a_plain_value_in_its_typed_input(people, client_for):
    variable = make(people, "When", "2024-05-01T12:30:15+00:00", description="The start")

    response = client_for(people.operator).get(url("variable", people.account, variable.pk))

    form = response.context["form"]
    assert form["type"].value() == "datetime"
    assert form["value_datetime"].value() == "2024-05-01T12:30:15"
    page = response.content.decode()
    assert "The start" in page and "Encrypt</a>" in page and "Delete</a>" in page


def test_a_reader_sees_the_properties_without_the_form_or_the_commands(people, client_for):
    variable = make(people, "Region", "westeurope")

    page = client_for(people.reader).get(url("variable", people.account, variable.pk)).content.decode()

    assert "westeurope" in page
    assert "properties-form" not in page
    assert "Encrypt</a>" not in page and "Delete</a>" not in page


def test_a_plain_value_is_changed_and_only_what_changed_is_written(people, client_for):
    variable = make(people, "Count", 1, description="kept")
    client = client_for(people.operator)
    address = url("variable", people.account, variable.pk)

    unchanged = client.post(address, {"description": "kept", "type": "integer", "value_integer": "1"})
    changed = client.post(address, {"description": "kept", "type": "integer", "value_integer": "2"})

    assert unchanged.status_code == changed.status_code == 302
    assert value_of(people, "Count") == 2
    assert [e.details for e in AuditEvent.objects.filter(action="variable.change")] == [{"fields": ["value"]}]


def test_an_unchanged_datetime_written_otherwise_is_not_a_change(people, client_for):
    variable = make(people, "When", "2024-05-01T12:30:15Z")

    client_for(people.operator).post(
        url("variable", people.account, variable.pk),
        {"description": "", "type": "datetime", "value_datetime": "2024-05-01T12:30:15"},
    )

    assert not AuditEvent.objects.filter(action="variable.change").exists()
    assert value_of(people, "When") == "2024-05-01T12:30:15Z"


def test_an_encrypted_value_is_kept_unless_a_new_one_is_entered(people, client_for):
    variable = make(people, "Password", SECRET, encrypted=True)
    client = client_for(people.operator)
    address = url("variable", people.account, variable.pk)

    page = client.get(address).content.decode()
    assert "The value is hidden" in page and "Keep the hidden value" in page
    assert_secret_free(page, [SECRET])

    client.post(address, {"description": "now described", "type": "keep"})
    assert value_of(people, "Password") == SECRET
    assert Variable.objects.get(pk=variable.pk).description == "now described"

    client.post(address, {"description": "now described", "type": "string", "value_string": "replaced"})
    stored = Variable.objects.get(pk=variable.pk)
    assert stored.encrypted and stored.value is None and value_of(people, "Password") == "replaced"


def test_a_bad_new_value_is_said_on_its_input_and_nothing_is_written(people, client_for):
    variable = make(people, "Count", 1)
    before = state()

    response = client_for(people.operator).post(
        url("variable", people.account, variable.pk), {"description": "", "type": "object", "value_object": "{"}
    )

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["value_object"]
    assert state() == before


# ---- Encrypt and Delete ------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
def test_a_plain_variable_is_encrypted_in_place_after_a_confirmation(people, client_for, htmx):
    variable = make(people, "Token", "plain-now")
    client = client_for(people.operator)
    address = url("variable_encrypt", people.account, variable.pk)

    question = client.get(address, headers=htmx_headers(htmx)).content.decode()
    assert "This cannot be undone" in question and "Yes</button>" in question

    response = client.post(address, headers=htmx_headers(htmx))

    assert response.status_code == 200 if htmx else 302
    stored = Variable.objects.get(pk=variable.pk)
    assert stored.encrypted and stored.value is None and value_of(people, "Token") == "plain-now"
    assert AuditEvent.objects.filter(action="variable.encrypt", target_name="Token").count() == 1
    blade = client.get(url("variable", people.account, variable.pk)).content.decode()
    assert "Encrypted variable Token" in blade and "plain-now" not in blade and "Encrypt</a>" not in blade


def test_an_encrypted_variable_cannot_be_encrypted_again_and_the_dialog_says_so(people, client_for):
    variable = make(people, "Token", SECRET, encrypted=True)
    client = client_for(people.operator)
    address = url("variable_encrypt", people.account, variable.pk)
    before = state()

    shown = client.get(address, headers=HTMX).content.decode()
    refused = client.post(address, headers=HTMX)

    assert "is encrypted already" in shown and "Yes</button>" not in shown
    assert refused.status_code == 400
    assert state() == before


@pytest.mark.parametrize("htmx", [True, False])
def test_a_variable_is_deleted_after_a_confirmation(people, client_for, htmx):
    variable = make(people, "Old")
    client = client_for(people.operator)
    address = url("variable_delete", people.account, variable.pk)

    question = client.get(address, headers=htmx_headers(htmx)).content.decode()
    response = client.post(address, headers=htmx_headers(htmx))

    assert "Are you sure you want to delete variable" in question and "This cannot be undone." in question
    assert response.status_code == 200 if htmx else 302
    assert not Variable.objects.filter(pk=variable.pk).exists()
    assert AuditEvent.objects.filter(action="variable.delete", target_name="Old").exists()
    assert "Deleted variable Old." in client.get(url("variables", people.account)).content.decode()


def test_the_values_json_is_what_the_form_sent_for_an_object(people, client_for):
    """What a person typed as JSON is what a runbook reads back, key order and all."""
    typed = '{"b": 1, "a": {"nested": true}}'

    client_for(people.operator).post(url("variable_add", people.account), add_form("Obj", "object", typed))

    assert json.dumps(value_of(people, "Obj")) == '{"b": 1, "a": {"nested": true}}'


def test_a_string_that_only_looks_like_a_date_time_is_a_string_and_its_blade_opens(people, client_for):
    variable = make(people, "NotADate", "2024-13-45T99:99:00")
    client = client_for(people.operator)

    listed = client.get(url("variables", people.account)).content.decode()
    blade = client.get(url("variable", people.account, variable.pk))

    assert re.search(r'<tr data-name="NotADate">.*?<td>String</td>', listed, re.S)
    assert blade.status_code == 200
    assert blade.context["form"]["value_string"].value() == "2024-13-45T99:99:00"


def test_saving_the_description_keeps_a_date_times_fraction_of_a_second(people, client_for):
    """The date-time input holds whole seconds: what it shows back unchanged is not a new value."""
    variable = make(people, "When", "2024-05-01T12:30:15.250000+00:00")

    client_for(people.operator).post(
        url("variable", people.account, variable.pk),
        {"description": "now described", "type": "datetime", "value_datetime": "2024-05-01T12:30:15"},
    )

    assert value_of(people, "When") == "2024-05-01T12:30:15.250000+00:00"
    assert Variable.objects.get(pk=variable.pk).description == "now described"
