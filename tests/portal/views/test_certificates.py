"""The Certificates blades (Shared resources): the list with expiry, + Add (an uploaded .cer or .pfx), the
properties blade (a new file replaces it) and Delete; the key and the content on no page."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile

from automation.models import AuditEvent, Certificate
from automation.services import certificates as certificate_services
from tests.support.asset_pages import answers_by_role, assert_secret_free, pages, url
from tests.support.assets import SYSTEM, MadeCertificate
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PFX_PASSWORD = "pfx-Pa55word"


@pytest.fixture(scope="module")
def made() -> MadeCertificate:
    return MadeCertificate()


def make(p, cert: MadeCertificate, name="Signing", **kwargs) -> Certificate:
    return certificate_services.create_certificate(
        account=p.account, name=name, content=cert.pfx(PFX_PASSWORD), password=PFX_PASSWORD, actor=SYSTEM, **kwargs
    )


def upload(content: bytes, filename="signing.pfx") -> SimpleUploadedFile:
    return SimpleUploadedFile(filename, content, content_type="application/x-pkcs12")


def add_form(content: bytes, name="Signing", password=PFX_PASSWORD, exportable="no", filename="signing.pfx"):
    return {
        "name": name,
        "description": "",
        "content": upload(content, filename),
        "password": password,
        "exportable": exportable,
    }


def key_texts(cert: MadeCertificate) -> list[str]:
    """The private key as any page might carry it: its DER in base64, and the PKCS#12 content."""
    return [base64.b64encode(cert.key_der).decode()[:40], base64.b64encode(cert.pfx(None)).decode()[:40]]


def test_each_role_gets_what_its_role_allows_and_a_refusal_writes_nothing(people, client_for, made):
    kept = make(people, made, "Kept")
    gone = make(people, made, "Gone")
    requests = [
        ("get", url("certificates", people.account), None),
        ("get", url("certificate_add", people.account), None),
        ("post", url("certificate_add", people.account), lambda: add_form(made.der, "New", "", filename="a.cer")),
        ("get", url("certificate", people.account, kept.pk), None),
        ("post", url("certificate", people.account, kept.pk), {"description": "changed", "exportable": "yes"}),
        ("get", url("certificate_delete", people.account, gone.pk), None),
        ("post", url("certificate_delete", people.account, gone.pk), None),
    ]
    expected = {
        "owner": [200, 200, 302, 200, 302, 200, 302],
        "operator": [200, 200, 400, 200, 302, 404, 404],  # the owner did it all first
        "reader": [200, 403, 403, 200, 403, 403, 403],
        "stranger": [404] * 7,
    }
    answers_by_role(people, client_for, requests, expected)


def test_the_add_dialog_says_which_files_it_takes(people, client_for):
    page = client_for(people.operator).get(url("certificate_add", people.account), headers=HTMX).content.decode()

    assert 'enctype="multipart/form-data"' in page
    assert ".cer" in page and ".pfx" in page and ".p12" in page and "256 KiB" in page
    assert 'accept=".cer,.crt,.pem,.der,.pfx,.p12"' in page


@pytest.mark.parametrize("htmx", [True, False])
def test_a_pfx_is_uploaded_with_its_password_and_read(people, client_for, made, htmx):
    response = client_for(people.operator).post(
        url("certificate_add", people.account),
        add_form(made.pfx(PFX_PASSWORD), exportable="yes"),
        headers=htmx_headers(htmx),
    )

    assert response.status_code == 200 if htmx else 302
    stored = Certificate.objects.get(name="Signing")
    assert (stored.thumbprint, stored.has_private_key, stored.exportable) == (made.thumbprint, True, True)
    bundle = certificate_services.certificate_pkcs12(Certificate.objects.select_related("account").get(pk=stored.pk))
    assert pkcs12.load_key_and_certificates(bundle, None)[1] == made.cert
    assert AuditEvent.objects.filter(action="certificate.create", target_name="Signing").exists()


def test_a_cer_is_uploaded_without_a_password(people, client_for, made):
    client_for(people.operator).post(
        url("certificate_add", people.account), add_form(made.pem, password="", filename="signing.cer")
    )

    stored = Certificate.objects.get(name="Signing")
    assert (stored.thumbprint, stored.has_private_key, stored.exportable) == (made.thumbprint, False, False)


@pytest.mark.parametrize(
    ("form", "field", "said"),
    [
        (lambda m: add_form(m.pfx(PFX_PASSWORD), password="wrong"), "password", "does not open"),
        (lambda m: add_form(m.pfx(PFX_PASSWORD), password=""), "password", "give its password"),
        (lambda m: add_form(b"not a certificate at all", filename="x.cer"), "content", "not a certificate"),
        (lambda m: add_form(b"x" * (256 * 1024 + 1), filename="big.cer"), "content", "256 KiB"),
        (lambda m: {"name": "Signing", "description": "", "password": "", "exportable": "no"}, "content", "required"),
        (lambda m: add_form(m.der, name="bad name!", password="", filename="a.cer"), "name", "Names are"),
    ],
)
def test_bad_input_is_said_on_its_field_and_nothing_is_written(people, client_for, made, form, field, said):
    before = state()

    response = client_for(people.operator).post(url("certificate_add", people.account), form(made), headers=HTMX)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field] and said in " ".join(errors[field]), errors
    assert state() == before
    assert PFX_PASSWORD not in response.content.decode()


def test_the_blade_shows_what_the_certificate_says_and_never_its_key(people, client_for, made):
    certificate = make(people, made, exportable=True)

    for role in ("reader", "owner"):
        page = client_for(people.by_role[role]).get(url("certificate", people.account, certificate.pk))
        text = page.content.decode()
        for shown in (
            made.thumbprint,
            f"CN={made.common_name}",
            "Has private key",
            made.not_after.strftime("%Y-%m-%d"),
        ):
            assert shown in text, shown
        assert_secret_free(text, [*key_texts(made), PFX_PASSWORD, certificate.sealed_content])


@pytest.mark.parametrize(
    ("days", "said", "tone"),
    [(400, None, None), (20, "Expires in 19 day", "warning"), (-0.5, "Expired", "failed")],
)
def test_the_list_flags_a_certificate_that_expires_soon_or_has_expired(people, client_for, days, said, tone):
    cert = MadeCertificate(not_after=datetime.now(UTC) + timedelta(days=days))
    make(people, cert)

    page = client_for(people.reader).get(url("certificates", people.account)).content.decode()

    assert cert.thumbprint in page and cert.not_after.strftime("%Y-%m-%d") in page
    if said is None:
        assert "Expire" not in page.split('data-name="Signing"')[1]
    else:
        assert f'<span class="status {tone}">{said}' in page


def test_the_description_and_exportable_change_and_a_new_file_replaces_the_certificate(people, client_for, made):
    certificate = make(people, made)
    client = client_for(people.operator)
    address = url("certificate", people.account, certificate.pk)

    client.post(address, {"description": "for signing", "exportable": "yes"})
    stored = Certificate.objects.get(pk=certificate.pk)
    assert (stored.description, stored.exportable, stored.thumbprint) == ("for signing", True, made.thumbprint)

    renewed = MadeCertificate("renewed.contoso.test")
    form = {
        "description": "for signing",
        "exportable": "yes",
        "content": upload(renewed.der, "new.cer"),
        "password": "",
    }
    response = client.post(address, form)

    assert response.status_code == 302
    stored = Certificate.objects.get(pk=certificate.pk)
    assert (stored.thumbprint, stored.has_private_key) == (renewed.thumbprint, False)
    assert AuditEvent.objects.filter(action="certificate.change").count() == 2


def test_a_bad_replacement_file_writes_nothing(people, client_for, made):
    certificate = make(people, made)
    before = state()

    response = client_for(people.operator).post(
        url("certificate", people.account, certificate.pk),
        {"description": "", "exportable": "no", "content": upload(b"junk", "x.cer"), "password": ""},
    )

    assert response.status_code == 400 and list(response.context["form"].errors) == ["content"]
    assert state() == before


def test_no_page_shows_the_key_or_the_content(people, client_for, made):
    certificate = make(people, made, exportable=True)
    urls = [
        url("certificates", people.account),
        url("certificate", people.account, certificate.pk),
        url("certificate_delete", people.account, certificate.pk),
        url("certificate_add", people.account),
    ]
    assert_secret_free(
        pages(client_for(people.owner), urls), [*key_texts(made), PFX_PASSWORD, certificate.sealed_content]
    )


@pytest.mark.parametrize("htmx", [True, False])
def test_a_certificate_is_deleted_after_a_confirmation(people, client_for, made, htmx):
    certificate = make(people, made)
    client = client_for(people.operator)
    address = url("certificate_delete", people.account, certificate.pk)

    question = client.get(address, headers=htmx_headers(htmx)).content.decode()
    response = client.post(address, headers=htmx_headers(htmx))

    assert "delete certificate" in question and "This cannot be undone." in question
    assert response.status_code == 200 if htmx else 302
    assert not Certificate.objects.exists()
