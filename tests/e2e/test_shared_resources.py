"""The Shared resources blades in a browser against a real daphne: an Operator adds a variable (plain and
encrypted), a credential, a certificate (.pfx) and a connection of the built-in AzureServicePrincipal type; a
Reader's second page shows each list change live; the Operator encrypts a variable in place and deletes, each
after its confirmation. Every list and properties blade is photographed at 1280 and 390 wide."""

import re

import pytest
from playwright.sync_api import expect

from automation.models import Certificate, Connection, Credential, Variable
from tests.e2e.conftest import sign_in
from tests.support.assets import MadeCertificate

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
SECRET = "Encrypted-Variable-Value-7f3c"
CREDENTIAL_PASSWORD = "Credential-Password-2b9e"
PFX_PASSWORD = "pfx-Password-91ad"
# ms: how long a live update may take on a busy machine; only a failure waits this long.
LIVE = 30_000


def open_page(browser, base_url: str, user: str, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base_url)
    page = context.new_page()
    sign_in(page, user, PASSWORD)
    expect(page.get_by_role("heading", name="Automation accounts")).to_be_visible()
    return page


def go(page, path: str) -> None:
    page.goto(path)
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"), timeout=LIVE)


def row(page, name: str):
    return page.locator(f'tr[data-name="{name}"]')


def add(page, label: str):
    page.locator(".commandbar").get_by_text(label).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def sticking_out(page) -> list[str]:
    """The outermost elements that reach past the window's right edge (what a failure is about)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((e) => !e.parentElement.closest(".table-wrap"))
            .slice(0, 6)
            .map((e) => e.tagName.toLowerCase() + "." + [...e.classList].join("."))"""
    )


def confirm(page, command: str, question: str) -> None:
    page.locator(".commandbar").get_by_text(command, exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(question)
    dialog.get_by_role("button", name="Yes").click()


def test_an_operator_manages_shared_resources_and_a_readers_page_follows_live(browser, portal_server, people, shot):
    account = f"/accounts/{people.account.pk}"
    page = open_page(browser, portal_server, "oscar")
    watcher = open_page(browser, portal_server, "rita")

    # -- Variables: a plain string, an encrypted one, an integer in its own input ---------------------------
    go(watcher, f"{account}/variables/")
    go(page, f"{account}/variables/")
    expect(page.locator(".blade-menu a.active")).to_have_text(re.compile("Variables"))
    expect(page.locator(".blade-menu")).to_contain_text("Shared resources")
    dialog = add(page, "Add a variable")
    # Only the chosen type's input shows.
    expect(dialog.locator("#id_value_string")).to_be_visible()
    expect(dialog.locator("#id_value_integer")).to_be_hidden()
    dialog.locator("#id_name").fill("Region")
    dialog.locator("#id_value_string").fill("westeurope")
    shot(page, "variable-add")
    dialog.get_by_role("button", name="Create").click()
    expect(row(page, "Region")).to_contain_text("westeurope")
    expect(row(watcher, "Region")).to_contain_text("westeurope", timeout=LIVE)

    dialog = add(page, "Add a variable")
    dialog.locator("#id_name").fill("ApiKey")
    dialog.locator("#id_value_string").fill(SECRET)
    dialog.locator("#id_encrypted_1").check()
    dialog.get_by_role("button", name="Create").click()
    expect(row(watcher, "ApiKey")).to_contain_text("Encrypted", timeout=LIVE)

    dialog = add(page, "Add a variable")
    dialog.locator("#id_name").fill("Retries")
    dialog.locator("#id_type").select_option("integer")
    expect(dialog.locator("#id_value_string")).to_be_hidden()
    dialog.locator("#id_value_integer").fill("3")
    dialog.get_by_role("button", name="Create").click()
    expect(row(watcher, "Retries")).to_contain_text("Integer", timeout=LIVE)
    assert Variable.objects.get(name="Retries").value == "3"

    # Encrypt in place, after a confirmation that says it is for good.
    row(page, "Region").get_by_role("link", name="Region").click()
    expect(page.locator(".essentials")).to_contain_text("westeurope")
    shot(page, "variable-properties")
    confirm(page, "Encrypt", "This cannot be undone")
    expect(page.locator(".infobar")).to_contain_text("Encrypted variable Region")
    expect(page.locator(".essentials")).not_to_contain_text("westeurope")
    expect(row(watcher, "Region")).to_contain_text("Encrypted", timeout=LIVE)
    shot(page, "variable-encrypted")
    page.goto(f"{account}/variables/")
    shot(page, "variables")

    # -- Credentials: the password twice ---------------------------------------------------------------------
    go(watcher, f"{account}/credentials/")
    go(page, f"{account}/credentials/")
    dialog = add(page, "Add a credential")
    dialog.locator("#id_name").fill("Deployer")
    dialog.locator("#id_username").fill("svc-deploy")
    dialog.locator("#id_password").fill(CREDENTIAL_PASSWORD)
    dialog.locator("#id_confirm_password").fill(CREDENTIAL_PASSWORD + "x")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_contain_text("The passwords do not match.")
    # Asked again, never shown back.
    expect(dialog.locator("#id_password")).to_have_value("")
    dialog.locator("#id_password").fill(CREDENTIAL_PASSWORD)
    dialog.locator("#id_confirm_password").fill(CREDENTIAL_PASSWORD)
    dialog.get_by_role("button", name="Create").click()
    expect(row(page, "Deployer")).to_contain_text("svc-deploy")
    expect(row(watcher, "Deployer")).to_contain_text("svc-deploy", timeout=LIVE)
    shot(page, "credentials")
    row(page, "Deployer").get_by_role("link", name="Deployer").click()
    expect(page.locator(".essentials")).to_contain_text("svc-deploy")
    shot(page, "credential-properties")

    # -- Certificates: a .pfx with its password, exportable ----------------------------------------------------
    made = MadeCertificate("runbooks.contoso.test")
    go(watcher, f"{account}/certificates/")
    go(page, f"{account}/certificates/")
    dialog = add(page, "Add a certificate")
    expect(dialog).to_contain_text(".pfx")
    dialog.locator("#id_name").fill("Signing")
    dialog.locator("#id_content").set_input_files(
        {"name": "signing.pfx", "mimeType": "application/x-pkcs12", "buffer": made.pfx(PFX_PASSWORD)}
    )
    dialog.locator("#id_password").fill(PFX_PASSWORD)
    dialog.locator("#id_exportable_1").check()
    shot(page, "certificate-add")
    dialog.get_by_role("button", name="Create").click()
    expect(row(page, "Signing")).to_contain_text(made.thumbprint)
    expect(row(watcher, "Signing")).to_contain_text(made.thumbprint, timeout=LIVE)
    shot(page, "certificates")
    row(page, "Signing").get_by_role("link", name="Signing").click()
    expect(page.locator(".essentials")).to_contain_text("CN=runbooks.contoso.test")
    shot(page, "certificate-properties")

    # -- Connections: the built-in AzureServicePrincipal type; its fields appear once it is chosen ----------
    go(watcher, f"{account}/connections/")
    go(page, f"{account}/connections/")
    dialog = add(page, "Add a connection")
    dialog.locator("#id_connection_type").select_option("AzureServicePrincipal")
    expect(dialog.locator("#id_field_TenantId")).to_be_visible()
    dialog.locator("#id_name").fill("AzureRunAsConnection")
    for field, value in (
        ("ApplicationId", "app-0001"),
        ("TenantId", "tenant-0001"),
        ("CertificateThumbprint", made.thumbprint),
        ("SubscriptionId", "sub-0001"),
    ):
        dialog.locator(f"#id_field_{field}").fill(value)
    shot(page, "connection-add")
    dialog.get_by_role("button", name="Create").click()
    expect(row(page, "AzureRunAsConnection")).to_contain_text("AzureServicePrincipal")
    expect(row(watcher, "AzureRunAsConnection")).to_be_visible(timeout=LIVE)
    shot(page, "connections")
    row(page, "AzureRunAsConnection").get_by_role("link", name="AzureRunAsConnection").click()
    expect(page.locator(".essentials")).to_contain_text("tenant-0001")
    shot(page, "connection-properties")

    # A connection type of the account's own, a field added in the browser.
    page.goto(f"{account}/connection-types/")
    dialog = add(page, "Add a connection type")
    dialog.locator("#id_name").fill("Database")
    rows = dialog.locator("tr[data-field-row]")
    expect(rows).to_have_count(5)
    dialog.get_by_role("button", name="Add a field").click()
    expect(rows).to_have_count(6)
    dialog.locator("#id_field_name_0").fill("Host")
    dialog.locator("#id_field_name_5").fill("Password")
    dialog.locator("#id_field_encrypted_5").check()
    shot(page, "connection-type-add")
    dialog.get_by_role("button", name="Create").click()
    expect(row(page, "Database")).to_contain_text("Password")
    shot(page, "connection-types")

    # -- Delete, after a confirmation; the Reader's list loses the row live -----------------------------------
    go(watcher, f"{account}/credentials/")
    page.goto(f"{account}/credentials/")
    row(page, "Deployer").get_by_role("link", name="Deployer").click()
    confirm(page, "Delete", "Are you sure you want to delete credential")
    expect(page.locator(".infobar")).to_contain_text("Deleted credential Deployer.")
    expect(row(watcher, "Deployer")).to_have_count(0, timeout=LIVE)
    assert not Credential.objects.exists()

    # Nothing secret was shown to either of them.
    for seen in (page, watcher):
        html = seen.content()
        for secret in (SECRET, CREDENTIAL_PASSWORD, PFX_PASSWORD):
            assert secret not in html
    assert Certificate.objects.get().exportable and Connection.objects.get().connection_type.is_builtin

    # -- The same blades on a phone -------------------------------------------------------------------------
    phone = open_page(browser, portal_server, "oscar", width=390)
    variable = Variable.objects.get(name="Region")
    blades = {
        "variables": "variables/",
        "variable-properties": f"variables/{variable.pk}/",
        "credentials": "credentials/",
        "certificates": "certificates/",
        "certificate-properties": f"certificates/{Certificate.objects.get().pk}/",
        "connections": "connections/",
        "connection-properties": f"connections/{Connection.objects.get().pk}/",
        "connection-types": "connection-types/",
    }
    for name, path in blades.items():
        phone.goto(f"{account}/{path}")
        expect(phone.locator(".blade-title h1")).to_be_visible()
        # Nothing spills sideways: the page is no wider than the phone.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, (name, sticking_out(phone))
        shot(phone, f"{name}-390")
    for opened in (page, watcher, phone):
        opened.context.close()
