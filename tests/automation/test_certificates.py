"""Certificates: uploaded as .cer (DER or PEM) or .pfx with its password, described by what they say about
themselves, their key and content sealed and handed only to jobs, and only when exportable; Owners are told
30 and 7 days before one expires and when it has, each notice once."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.contrib.auth.models import Permission
from django.db import connection

from automation import tasks
from automation.models import AuditEvent, Certificate, Notification, Role
from automation.queries.certificates import get_certificate, list_certificates
from automation.services import certificates as svc
from automation.services.accounts import add_member
from automation.services.assets import UNSET
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.support.assets import SYSTEM, MadeCertificate, admin_pages, as_, audit_text, stored_text
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PFX_PASSWORD = "pfx-Password-9911"


@pytest.fixture(scope="module")
def made() -> MadeCertificate:
    return MadeCertificate()


def upload(p, content, *, name="WebCert", password=None, exportable=True, actor=SYSTEM, **kwargs):
    return svc.create_certificate(
        account=p.account, name=name, content=content, password=password, exportable=exportable, actor=actor, **kwargs
    )


def reload(certificate) -> Certificate:
    return Certificate.objects.select_related("account").get(pk=certificate.pk)


def opened(bundle: bytes):
    """(key, certificate) from a password-less PKCS#12; without a key, the certificate is the one listed."""
    key, cert, extra = pkcs12.load_key_and_certificates(bundle, None)
    return key, cert or extra[0]


# ---- upload --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["der", "pem"])
def test_a_cer_is_described_by_what_it_says_and_has_no_key(people, made, form):
    certificate = upload(people, getattr(made, form), actor=as_(people.operator), description="Public part.")

    stored = reload(certificate)
    assert stored.thumbprint == made.thumbprint and len(stored.thumbprint) == 40 and stored.thumbprint.isupper()
    assert stored.subject == stored.issuer == f"CN={made.common_name}"
    assert (stored.not_before, stored.expiry_time) == (made.not_before, made.not_after)
    assert stored.expiry_time.utcoffset() == timedelta(0)
    assert not stored.has_private_key
    assert (stored.description, stored.created_by, stored.expiry_notified) == ("Public part.", "oscar", 0)
    key, cert = opened(svc.certificate_pkcs12(stored))
    assert key is None and cert == made.cert
    event = AuditEvent.objects.get(action="certificate.create")
    assert (event.target_name, event.details) == ("WebCert", {"thumbprint": made.thumbprint})


@pytest.mark.parametrize("password", [PFX_PASSWORD, None])
def test_a_pfx_is_opened_with_its_password_and_kept_with_its_key_without_one(people, made, password):
    certificate = upload(people, made.pfx(password), password=password)

    stored = reload(certificate)
    assert stored.has_private_key and stored.thumbprint == made.thumbprint
    key, cert = opened(svc.certificate_pkcs12(stored))
    assert cert == made.cert
    assert (
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        == made.key_der
    )


def test_neither_the_key_nor_the_content_nor_the_password_is_anywhere_else(people, made, make_user, client_for):
    certificate = upload(people, made.pfx(PFX_PASSWORD), password=PFX_PASSWORD)

    stored = reload(certificate)
    everything = stored_text() + audit_text() + str(stored) + repr(stored)
    assert PFX_PASSWORD not in everything
    assert repr(made.key_der) not in everything and made.key_der.hex() not in everything
    staff = make_user("sue", staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_certificate"))
    pages = admin_pages(client_for(staff), "certificate", stored)
    assert made.thumbprint in pages
    assert stored.sealed_content[:20] not in pages and PFX_PASSWORD not in pages


def test_a_certificate_that_is_not_exportable_is_not_handed_out(people, made):
    certificate = upload(people, made.pfx(None), exportable=False)
    with pytest.raises(svc.NotExportable) as refused:
        svc.certificate_pkcs12(reload(certificate))
    assert isinstance(refused.value, Conflict) and refused.value.code == "not_exportable"
    assert "'WebCert' is not exportable" in refused.value.detail


@pytest.mark.parametrize(
    ("field", "content", "password", "words"),
    [
        ("content_base64", b"", None, "Upload a certificate"),
        ("content_base64", "text, not bytes", None, "Upload a certificate"),
        ("content_base64", b"hello, not a certificate", None, "not a certificate"),
        (
            "content_base64",
            b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
            None,
            "not a certificate",
        ),
        ("content_base64", b"\x30\x03\x02\x01\x05", None, "not a certificate"),
        ("content_base64", b"0" * (256 * 1024 + 1), None, "at most 256 KiB"),
        ("password", "PFX", "wrong password", "does not open"),
        ("password", "PFX", None, "give its password"),
        ("password", "PFX", "", "give its password"),
        ("password", "PFX", 42, "password is text"),
    ],
)
def test_a_bad_upload_is_refused_naming_its_field_and_nothing_is_written(people, made, field, content, password, words):
    if content == "PFX":
        content = made.pfx(PFX_PASSWORD)
    before = state()
    with pytest.raises(InvalidInput) as refused:
        upload(people, content, password=password)
    assert refused.value.field == field and words in refused.value.detail
    assert PFX_PASSWORD not in refused.value.detail
    assert state() == before


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("name", {"name": "bad/name"}),
        ("exportable", {"exportable": "yes"}),
        ("description", {"description": "d" * 513}),
    ],
)
def test_bad_other_fields_are_refused_and_nothing_is_written(people, made, field, change):
    before = state()
    with pytest.raises(InvalidInput) as refused:
        upload(people, made.der, **change)
    assert refused.value.field == field
    assert state() == before


def test_roles_names_and_other_accounts(people, made):
    before = state()
    with pytest.raises(PermissionDenied):
        upload(people, made.der, actor=as_(people.reader))
    with pytest.raises(NotFound):
        upload(people, made.der, actor=as_(people.stranger))
    assert state() == before
    upload(people, made.der)
    with pytest.raises(Conflict) as taken:
        upload(people, made.der, name="WEBCERT")
    assert taken.value.field == "name"
    svc.create_certificate(account=people.other_account, name="WebCert", content=made.der, actor=SYSTEM)


# ---- update and delete -----------------------------------------------------------------------------------------


def test_new_content_replaces_the_certificate_and_its_notices_start_again(people, made):
    upload(people, made.der, exportable=False)
    Certificate.objects.update(expiry_notified=Certificate.Notice.DAYS_7)
    renewal = MadeCertificate("renewed.contoso.test")

    updated = svc.update_certificate(
        account=people.account,
        name="WebCert",
        content=renewal.pfx(PFX_PASSWORD),
        password=PFX_PASSWORD,
        exportable=True,
        description="Renewed.",
        actor=as_(people.operator),
    )

    stored = reload(updated)
    assert (stored.thumbprint, stored.subject, stored.has_private_key, stored.exportable) == (
        renewal.thumbprint,
        "CN=renewed.contoso.test",
        True,
        True,
    )
    assert stored.expiry_notified == 0 and stored.description == "Renewed."
    assert opened(svc.certificate_pkcs12(stored))[1] == renewal.cert
    event = AuditEvent.objects.get(action="certificate.change")
    assert event.details == {"fields": ["content", "description", "exportable"], "thumbprint": renewal.thumbprint}


def test_what_a_job_gets_for_a_cer_uploads_again_as_the_same_certificate(people, made):
    bundle = svc.certificate_pkcs12(reload(upload(people, made.der)))
    again = reload(upload(people, bundle, name="Again"))
    assert (again.thumbprint, again.has_private_key) == (made.thumbprint, False)


def test_the_exportable_flag_changes_alone_and_a_bad_update_writes_nothing(people, made):
    upload(people, made.der, exportable=False)
    svc.update_certificate(account=people.account, name="webcert", exportable=True, actor=SYSTEM)
    assert reload(Certificate.objects.get()).exportable
    before = state()
    with pytest.raises(InvalidInput) as refused:
        svc.update_certificate(account=people.account, name="WebCert", content=b"junk", exportable=False, actor=SYSTEM)
    assert refused.value.field == "content_base64"
    svc.update_certificate(account=people.account, name="WebCert", content=UNSET, actor=SYSTEM)
    assert state() == before


def test_a_certificate_is_deleted_by_an_operator_not_a_reader(people, made):
    upload(people, made.der)
    with pytest.raises(PermissionDenied):
        svc.delete_certificate(account=people.account, name="WebCert", actor=as_(people.reader))
    with pytest.raises(NotFound):
        svc.delete_certificate(account=people.account, name="WebCert", actor=as_(people.stranger))
    svc.delete_certificate(account=people.account, name="WebCert", actor=as_(people.operator))
    assert not Certificate.objects.exists()
    assert AuditEvent.objects.filter(action="certificate.delete", target_name="WebCert").count() == 1


def test_the_list_is_by_name_and_get_finds_one(people, made):
    for name in ["b", "A"]:
        upload(people, made.der, name=name)
    assert [c.name for c in list_certificates(people.account)] == ["A", "b"]
    assert get_certificate(people.account, "a").thumbprint == made.thumbprint
    with pytest.raises(NotFound):
        get_certificate(people.account, "c")


@pytest.mark.parametrize("rows", [3, 30])
def test_the_list_costs_one_query_however_many_rows(people, made, django_assert_num_queries, rows):
    for i in range(rows):
        upload(people, made.der, name=f"cert-{i:02}")
    with django_assert_num_queries(1):
        listed = [(c.name, c.thumbprint, c.subject, c.expiry_time) for c in list_certificates(people.account)]
    assert len(listed) == rows


# ---- expiry notices ----------------------------------------------------------------------------------------------

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def expiring(p, name: str, left: timedelta, account=None) -> Certificate:
    made = MadeCertificate(f"{name}.test", not_after=NOW + left)
    return svc.create_certificate(account=account or p.account, name=name, content=made.der, actor=SYSTEM)


def notices() -> list[tuple[str, str, str]]:
    rows = Notification.objects.select_related("recipient").order_by("title", "recipient__username")
    return [(n.recipient.username, n.title, n.level) for n in rows]


@pytest.fixture
def second_owner(people, make_user):
    make_user("otto")
    add_member(account=people.account, username="otto", role=Role.OWNER, actor=SYSTEM)


def test_each_owner_is_told_30_days_and_7_days_ahead_and_when_it_expired_each_once(people, second_owner):
    expiring(people, "web", timedelta(days=40))

    assert svc.send_certificate_expiry_notices(now=NOW) == 0
    assert svc.send_certificate_expiry_notices(now=NOW + timedelta(days=10)) == 1
    assert svc.send_certificate_expiry_notices(now=NOW + timedelta(days=11)) == 0
    assert notices() == [
        ("olivia", "Certificate web in contoso-automation expires in 30 days", "warning"),
        ("otto", "Certificate web in contoso-automation expires in 30 days", "warning"),
    ]
    assert svc.send_certificate_expiry_notices(now=NOW + timedelta(days=33)) == 1
    assert svc.send_certificate_expiry_notices(now=NOW + timedelta(days=34)) == 0
    assert svc.send_certificate_expiry_notices(now=NOW + timedelta(days=40)) == 1
    assert svc.send_certificate_expiry_notices(now=NOW + timedelta(days=400)) == 0
    titles = [title for user, title, _ in notices() if user == "olivia"]
    assert titles == [
        "Certificate web in contoso-automation expires in 30 days",
        "Certificate web in contoso-automation expires in 7 days",
        "Certificate web in contoso-automation has expired",
    ]
    assert [level for user, _, level in notices() if user == "otto"] == ["warning", "warning", "error"]
    # Members who are not Owners are not told.
    assert not Notification.objects.filter(recipient__in=[people.operator, people.reader]).exists()
    assert not Notification.objects.filter(recipient__isnull=True).exists()


def test_a_certificate_seen_late_gets_only_the_notice_that_applies(people):
    expiring(people, "soon", timedelta(days=3))
    expiring(people, "gone", -timedelta(days=2))

    assert svc.send_certificate_expiry_notices(now=NOW) == 2
    assert [title for _, title, _ in notices()] == [
        "Certificate gone in contoso-automation has expired",
        "Certificate soon in contoso-automation expires in 3 days",
    ]
    assert dict(Certificate.objects.values_list("name", "expiry_notified")) == {"soon": 7, "gone": -1}


def test_a_renewed_certificate_is_noticed_again_before_it_expires(people):
    expiring(people, "web", timedelta(days=5))
    svc.send_certificate_expiry_notices(now=NOW)
    renewal = MadeCertificate("web.test", not_after=NOW + timedelta(days=380))
    svc.update_certificate(account=people.account, name="web", content=renewal.der, actor=SYSTEM)

    assert svc.send_certificate_expiry_notices(now=NOW + timedelta(days=360)) == 1
    assert Notification.objects.count() == 2


def test_each_account_tells_its_own_owners(people):
    expiring(people, "ours", timedelta(days=1))
    expiring(people, "theirs", timedelta(days=1), account=people.other_account)

    svc.send_certificate_expiry_notices(now=NOW)
    assert sorted((user, title.split(" in ")[0]) for user, title, _ in notices()) == [
        ("olivia", "Certificate ours"),
        ("sam", "Certificate theirs"),
    ]


def test_the_beat_task_sends_the_notices_of_now(people):
    made = MadeCertificate("now.test", not_after=datetime.now(UTC) + timedelta(days=2))
    svc.create_certificate(account=people.account, name="now", content=made.der, actor=SYSTEM)

    assert tasks.send_certificate_expiry_notices() == 1
    assert tasks.send_certificate_expiry_notices() == 0
    assert Notification.objects.get().recipient == people.owner


def test_the_task_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["certificate-expiry-notices"]
    assert entry["task"] == tasks.send_certificate_expiry_notices.name
    assert entry["schedule"] <= 24 * 3600


@pytest.mark.django_db(transaction=True)
def test_two_beat_runs_racing_send_each_notice_once(people):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: there is no race to lose")
    for i in range(6):
        expiring(people, f"c-{i}", timedelta(days=2))
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            start.wait(timeout=60)
            results.append(svc.send_certificate_expiry_notices(now=NOW))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(results) == 6
    assert Notification.objects.count() == 6
    assert sorted(n.title.split(" ")[1] for n in Notification.objects.all()) == [f"c-{i}" for i in range(6)]
