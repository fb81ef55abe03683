"""Management API for certificates: every operation for every role, uploads as base64 (.cer in DER or PEM,
.pfx with its password), answers that say what the certificate says about itself and never its content, key
or password, replacing the content, and refusals that name the field and write nothing."""

import base64
import logging
from datetime import datetime

import pytest
from rest_framework.test import APIClient

from automation.models import Certificate
from automation.services.certificates import certificate_pkcs12
from tests.automation.api.assets_support import (
    CERTIFICATE,
    CERTIFICATE_KEYS,
    PFX_PASSWORD,
    AssetWorld,
    assert_no_secret_anywhere,
    make_asset_world,
    secrets_of,
)
from tests.automation.api.helpers import assert_error
from tests.automation.api.runbooks_support import (
    READ,
    ROLES,
    Op,
    assert_anonymous_refused,
    assert_answer_for_role,
    client_for,
    operate,
)
from tests.support.assets import MadeCertificate
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture(scope="module")
def made() -> MadeCertificate:
    return MadeCertificate("web.contoso.test")


@pytest.fixture(scope="module")
def other() -> MadeCertificate:
    return MadeCertificate("renewed.contoso.test")


@pytest.fixture
def world(people, made) -> AssetWorld:
    return make_asset_world(people, made)


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


OPS = [
    Op("list certificates", "get", lambda w: w.url("certificates"), READ),
    Op("show a certificate", "get", lambda w: w.url("certificates", CERTIFICATE), READ),
    Op(
        "make a certificate not exportable",
        "patch",
        lambda w: w.url("certificates", CERTIFICATE),
        operate(200),
        {"exportable": False},
    ),
    Op("delete a certificate", "delete", lambda w: w.url("certificates", CERTIFICATE), operate(204)),
]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, op, role):
    assert_answer_for_role(world, op, role)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows_on_upload(world, role, other):
    op = Op(
        "upload a certificate",
        "post",
        lambda w: w.url("certificates"),
        operate(201),
        {"name": "uploaded", "content_base64": b64(other.der)},
    )
    assert_answer_for_role(world, op, role)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_anonymous_requests_are_401(world, op):
    assert_anonymous_refused(world, op)


def test_readers_see_what_the_certificate_says_about_itself(world, made):
    reader = client_for(world.people.reader)

    listed = reader.get(world.url("certificates")).json()["results"]
    shown = reader.get(world.url("certificates", CERTIFICATE)).json()

    assert listed == [shown]
    assert set(shown) == CERTIFICATE_KEYS
    assert shown["thumbprint"] == made.thumbprint
    assert shown["subject"] == shown["issuer"] == "CN=web.contoso.test"
    assert (moment(shown["not_before"]), moment(shown["expiry_time"])) == (made.not_before, made.not_after)
    assert (shown["has_private_key"], shown["exportable"]) == (True, True)


@pytest.mark.parametrize("form", ["der", "pem"])
def test_a_cer_uploads_in_base64_without_a_key(world, other, form):
    response = client_for(world.people.operator).post(
        world.url("certificates"),
        {"name": "public", "content_base64": b64(getattr(other, form)), "description": "Its public part."},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == CERTIFICATE_KEYS
    assert (body["thumbprint"], body["has_private_key"], body["exportable"]) == (other.thumbprint, False, False)
    assert body["description"] == "Its public part."


def test_base64_with_line_breaks_is_taken(world, other):
    wrapped = "\n".join(b64(other.der)[i : i + 76] for i in range(0, len(b64(other.der)), 76))

    response = client_for(world.people.operator).post(
        world.url("certificates"), {"name": "wrapped", "content_base64": wrapped}, format="json"
    )

    assert (response.status_code, response.json()["thumbprint"]) == (201, other.thumbprint)


def test_a_pfx_uploads_with_its_password_and_its_key_is_kept_for_jobs(world, other):
    response = client_for(world.people.owner).post(
        world.url("certificates"),
        {"name": "signing", "content_base64": b64(other.pfx("pw-1")), "password": "pw-1", "exportable": True},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert (response.json()["has_private_key"], response.json()["exportable"]) == (True, True)
    assert certificate_pkcs12(Certificate.objects.select_related("account").get(name="signing"))


def test_new_content_replaces_the_certificate(world, other):
    response = client_for(world.people.operator).patch(
        world.url("certificates", CERTIFICATE), {"content_base64": b64(other.der)}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["thumbprint"], response.json()["has_private_key"]) == (other.thumbprint, False)
    assert response.json()["exportable"] is True


def test_a_patch_changes_the_flag_and_description_and_keeps_the_certificate(world, made):
    response = client_for(world.people.operator).patch(
        world.url("certificates", CERTIFICATE), {"exportable": False, "description": "No export."}, format="json"
    )

    body = response.json()
    assert (body["exportable"], body["description"], body["thumbprint"]) == (False, "No export.", made.thumbprint)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_base64": "x"}, "name"),
        ({"name": "x"}, "content_base64"),
        ({"name": "x", "content_base64": "not base64!"}, "content_base64"),
        ({"name": "x", "content_base64": 5}, "content_base64"),
        ({"name": "x", "content_base64": None}, "content_base64"),
        ({"name": "x", "content_base64": ""}, "content_base64"),
        ({"name": "x", "content_base64": b64(b"hello, not a certificate")}, "content_base64"),
        ({"name": "x", "content_base64": b64(b"\x00" * (256 * 1024 + 1))}, "content_base64"),
        ({"name": "x", "content_base64": "PFX", "password": "wrong"}, "password"),
        ({"name": "x", "content_base64": "PFX"}, "password"),
        ({"name": "x", "content_base64": "CER", "password": 5}, "password"),
        ({"name": "x", "content_base64": "CER", "exportable": "yes"}, "exportable"),
        ({"name": "x", "content_base64": "CER", "description": 5}, "description"),
        ({"name": "x", "content_base64": "CER", "thumbprint": "AA"}, "thumbprint"),
    ],
)
def test_a_bad_upload_is_400_naming_the_field_and_nothing_is_written(world, other, body, field):
    content = {"PFX": b64(other.pfx("right")), "CER": b64(other.der)}
    body = {k: content.get(v, v) if k == "content_base64" else v for k, v in body.items()}
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.post(world.url("certificates"), body, format="json"), 400, field=field)
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "orphan"}, "password"),
        ({"content_base64": "%%%"}, "content_base64"),
        ({"exportable": None}, "exportable"),
        ({"subject": "CN=me"}, "subject"),
    ],
)
def test_a_bad_patch_is_400_and_changes_nothing(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.patch(world.url("certificates", CERTIFICATE), body, format="json"), 400, field=field)
    assert state() == before


def test_a_name_taken_in_another_case_is_409(world, other):
    owner = client_for(world.people.owner)
    before = state()
    body = {"name": CERTIFICATE.upper(), "content_base64": b64(other.der)}

    error = assert_error(owner.post(world.url("certificates"), body, format="json"), 409)

    assert error["field"] == "name"
    assert state() == before


def test_no_content_key_or_password_in_any_answer_error_audit_entry_or_log_line(world, other, caplog):
    caplog.set_level(logging.DEBUG)
    owner, reader = client_for(world.people.owner), client_for(world.people.reader)
    password = "every-PFX-PASSWORD-0b7d"
    pfx = other.pfx(password)
    upload = {"name": "c", "content_base64": b64(pfx), "password": password, "exportable": True}
    responses = [
        owner.post(world.url("certificates"), upload, format="json"),
        owner.post(world.url("certificates"), upload, format="json"),
        owner.post(world.url("certificates"), upload | {"name": "d", "password": password + "x"}, format="json"),
        owner.patch(world.url("certificates", "c"), {"password": password}, format="json"),
        owner.patch(world.url("certificates", "c"), {"content_base64": b64(pfx), "password": password}, format="json"),
        reader.patch(world.url("certificates", "c"), {"content_base64": b64(pfx), "password": password}, format="json"),
        reader.get(world.url("certificates")),
        owner.get(world.url("certificates", "c")),
        APIClient().post(world.url("certificates"), upload, format="json"),
        owner.delete(world.url("certificates", "c")),
    ]

    assert [r.status_code for r in responses] == [201, 409, 400, 400, 200, 403, 200, 200, 401, 204]
    key = b64(other.key_der)
    assert_no_secret_anywhere(
        [*secrets_of(password, content=pfx), key[30:90], *secrets_of(PFX_PASSWORD, content=world.pfx)],
        responses,
        caplog,
    )
