"""The Credentials blades (Shared resources): the list, + Add (the password twice), the properties blade and
Delete; the password on no page."""

import pytest

from automation.models import AuditEvent, Credential
from automation.services import credentials as credential_services
from automation.services.credentials import read_credential_secret
from tests.support.asset_pages import answers_by_role, assert_secret_free, pages, url
from tests.support.assets import SYSTEM
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PASSWORD = "Pa55-word with spaces "


def make(p, name="Deployer", username="svc-deploy", password=PASSWORD) -> Credential:
    return credential_services.create_credential(
        account=p.account, name=name, username=username, password=password, actor=SYSTEM
    )


def secret_of(credential) -> dict:
    return read_credential_secret(Credential.objects.select_related("account").get(pk=credential.pk))


def add_form(name="Deployer", username="svc-deploy", password=PASSWORD, confirm=PASSWORD, **extra) -> dict:
    return {
        "name": name,
        "description": "",
        "username": username,
        "password": password,
        "confirm_password": confirm,
        **extra,
    }


def test_each_role_gets_what_its_role_allows_and_a_refusal_writes_nothing(people, client_for):
    kept = make(people, "Kept")
    gone = make(people, "Gone")
    requests = [
        ("get", url("credentials", people.account), None),
        ("get", url("credential_add", people.account), None),
        ("post", url("credential_add", people.account), add_form("New")),
        ("get", url("credential", people.account, kept.pk), None),
        ("post", url("credential", people.account, kept.pk), {"username": "other", "description": ""}),
        ("get", url("credential_delete", people.account, gone.pk), None),
        ("post", url("credential_delete", people.account, gone.pk), None),
    ]
    expected = {
        "owner": [200, 200, 302, 200, 302, 200, 302],
        "operator": [200, 200, 400, 200, 302, 404, 404],  # the owner did it all first
        "reader": [200, 403, 403, 200, 403, 403, 403],
        "stranger": [404] * 7,
    }
    answers_by_role(people, client_for, requests, expected)


def test_the_list_shows_the_user_name_and_never_the_password(people, client_for):
    credential = make(people)

    page = client_for(people.reader).get(url("credentials", people.account)).content.decode()

    assert 'data-name="Deployer"' in page and "svc-deploy" in page
    assert_secret_free(page, [PASSWORD, credential.sealed_password])


@pytest.mark.parametrize("htmx", [True, False])
def test_a_credential_is_added_with_its_password_typed_twice(people, client_for, htmx):
    response = client_for(people.operator).post(
        url("credential_add", people.account), add_form(), headers=htmx_headers(htmx)
    )

    assert response.status_code == 200 if htmx else 302
    credential = Credential.objects.get(name="Deployer")
    # Taken as typed, the trailing space too.
    assert secret_of(credential) == {"username": "svc-deploy", "password": PASSWORD}
    assert AuditEvent.objects.filter(action="credential.create", target_name="Deployer").exists()


@pytest.mark.parametrize(
    ("form", "field", "said"),
    [
        (add_form(confirm="something else"), "confirm_password", "The passwords do not match."),
        (add_form(password="", confirm=""), "password", "required"),
        (add_form(username=""), "username", "required"),
        (add_form(username="two\nlines"), "username", "user name"),
        (add_form(name="bad name!"), "name", "Names are"),
    ],
)
def test_bad_input_is_said_on_its_field_and_nothing_is_written(people, client_for, form, field, said):
    before = state()

    response = client_for(people.operator).post(url("credential_add", people.account), form, headers=HTMX)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and said in " ".join(errors[field]), errors
    assert state() == before
    # A refused form asks for the password again: it is not written back into the page.
    assert PASSWORD not in response.content.decode()


def test_the_properties_blade_changes_the_user_name_and_keeps_an_empty_password(people, client_for):
    credential = make(people)
    client = client_for(people.operator)
    address = url("credential", people.account, credential.pk)

    page = client.get(address).content.decode()
    assert "svc-deploy" in page and "Leave both empty to keep the current password." in page
    assert_secret_free(page, [PASSWORD, credential.sealed_password])

    client.post(address, {"username": "svc-new", "description": "", "password": "", "confirm_password": ""})

    assert secret_of(credential) == {"username": "svc-new", "password": PASSWORD}
    assert [e.details for e in AuditEvent.objects.filter(action="credential.change")] == [{"fields": ["username"]}]


def test_the_properties_blade_replaces_the_password_when_typed_twice_alike(people, client_for):
    credential = make(people)
    client = client_for(people.operator)
    address = url("credential", people.account, credential.pk)
    before = state()

    mismatch = client.post(
        address, {"username": "svc-deploy", "description": "", "password": "new-one", "confirm_password": "new-two"}
    )
    assert mismatch.status_code == 400
    assert list(mismatch.context["form"].errors) == ["confirm_password"]
    assert state() == before

    client.post(
        address, {"username": "svc-deploy", "description": "", "password": "new-one", "confirm_password": "new-one"}
    )
    assert secret_of(credential)["password"] == "new-one"


def test_no_page_shows_the_password_to_anyone(people, client_for):
    credential = make(people)
    urls = [
        url("credentials", people.account),
        url("credential", people.account, credential.pk),
        url("credential_delete", people.account, credential.pk),
    ]
    for role in ("owner", "operator"):
        assert_secret_free(pages(client_for(people.by_role[role]), urls), [PASSWORD, credential.sealed_password])
    assert_secret_free(pages(client_for(people.reader), urls[:2]), [PASSWORD, credential.sealed_password])


@pytest.mark.parametrize("htmx", [True, False])
def test_a_credential_is_deleted_after_a_confirmation(people, client_for, htmx):
    credential = make(people)
    client = client_for(people.owner)
    address = url("credential_delete", people.account, credential.pk)

    question = client.get(address, headers=htmx_headers(htmx)).content.decode()
    response = client.post(address, headers=htmx_headers(htmx))

    assert "delete credential" in question and "This cannot be undone." in question
    assert response.status_code == 200 if htmx else 302
    assert not Credential.objects.exists()
    assert AuditEvent.objects.filter(action="credential.delete", target_name="Deployer").exists()
