"""Sealing: secrets at rest under a per-account data key, wrapped by ACCOUNT_KEY_ENCRYPTION_KEYS; a sealed value
opens only on its own row, field and account, and fails loudly anywhere else; keys rotate."""

import threading
import uuid

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from automation.models import AutomationAccount, Credential, Variable
from automation.services import sealing
from automation.services.credentials import create_credential, read_credential_secret
from automation.services.crypto import decrypt
from automation.services.variables import create_variable, read_variable_value
from tests.support.assets import SYSTEM

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SECRET = "Sealed-Secret-Text-0042"


def fresh(account) -> AutomationAccount:
    return AutomationAccount.objects.get(pk=account.pk)


def seal(account, *, kind="variable", row_id=None, field="value", plaintext=SECRET) -> tuple[str, uuid.UUID]:
    row_id = row_id or uuid.uuid4()
    return sealing.seal(account=account, kind=kind, row_id=row_id, field=field, plaintext=plaintext), row_id


def test_a_sealed_value_opens_on_its_own_row_and_field_and_does_not_show_its_text(people):
    sealed, row_id = seal(people.account)

    assert sealed.startswith("v1.") and SECRET not in sealed
    assert (
        sealing.unseal(account=people.account, kind="variable", row_id=row_id, field="value", sealed=sealed) == SECRET
    )
    again, _ = seal(people.account, row_id=row_id)
    assert again != sealed  # a fresh nonce each time


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"row_id": uuid.uuid4()},
        {"field": "password"},
        {"kind": "credential"},
    ],
    ids=["another row", "another field", "another kind"],
)
def test_a_sealed_value_does_not_open_anywhere_else(people, elsewhere):
    sealed, row_id = seal(people.account)
    where = {"kind": "variable", "row_id": row_id, "field": "value", **elsewhere}

    with pytest.raises(sealing.SealBroken) as broken:
        sealing.unseal(account=people.account, sealed=sealed, **where)
    assert "does not open" in broken.value.detail and SECRET not in broken.value.detail


def test_a_sealed_value_does_not_open_in_another_account_even_on_the_same_row_id(people):
    sealed, row_id = seal(people.account)
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(account=people.other_account, kind="variable", row_id=row_id, field="value", sealed=sealed)


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s[:-4] + ("AAAA" if not s.endswith("AAAA") else "BBBB"),
        lambda s: "v2." + s[3:],
        lambda s: s[3:],
        lambda s: "v1.!!!not base64!!!",
        lambda s: "v1.",
        lambda s: "",
    ],
    ids=["altered", "unknown version", "no version", "not base64", "empty body", "empty"],
)
def test_a_damaged_sealed_value_is_a_clear_error_not_garbage(people, damage):
    sealed, row_id = seal(people.account)
    with pytest.raises(sealing.SealBroken) as broken:
        sealing.unseal(account=people.account, kind="variable", row_id=row_id, field="value", sealed=damage(sealed))
    assert broken.value.code == "sealed_value_unreadable"


def test_a_ciphertext_copied_onto_another_row_does_not_open(people):
    create_variable(account=people.account, name="Mine", value=SECRET, encrypted=True, actor=SYSTEM)
    create_variable(account=people.account, name="Other", value="other", encrypted=True, actor=SYSTEM)
    create_credential(account=people.account, name="Cred", username="u", password="p", actor=SYSTEM)
    create_variable(account=people.other_account, name="Theirs", value="x", encrypted=True, actor=SYSTEM)
    mine = Variable.objects.get(name="Mine").sealed_value
    Variable.objects.filter(name__in=["Other", "Theirs"]).update(sealed_value=mine)
    Credential.objects.filter(name="Cred").update(sealed_password=mine)

    for name in ["Other", "Theirs"]:
        with pytest.raises(sealing.SealBroken) as broken:
            read_variable_value(Variable.objects.select_related("account").get(name=name))
        assert "sealed for another row, field or account" in broken.value.detail
    with pytest.raises(sealing.SealBroken):
        read_credential_secret(Credential.objects.select_related("account").get(name="Cred"))
    assert read_variable_value(Variable.objects.select_related("account").get(name="Mine")) == SECRET


def test_the_data_key_is_made_on_first_use_and_stored_only_wrapped(people):
    assert fresh(people.account).data_key == ""
    key = sealing.data_key(people.account)

    wrapped = fresh(people.account).data_key
    assert len(key) == 32
    assert wrapped and key.hex() not in wrapped and decrypt(wrapped) is not None
    assert sealing.data_key(fresh(people.account)) == key
    assert sealing.data_key(people.other_account) != key


def test_a_stale_copy_of_the_account_keeps_the_key_already_made(people):
    # What a second process holding the account from before the first use does: it must not replace the key
    # the first made, or what the first sealed would never open again.
    stale = fresh(people.account)
    sealed, row_id = seal(people.account)

    assert stale.data_key == ""
    assert sealing.unseal(account=stale, kind="variable", row_id=row_id, field="value", sealed=sealed) == SECRET


@pytest.mark.django_db(transaction=True)
def test_two_processes_making_the_data_key_at_once_agree_on_one(people):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: there is no race to lose")
    start = threading.Barrier(4)
    keys, errors = [], []

    def first_use():
        try:
            start.wait(timeout=60)
            keys.append(sealing.data_key(fresh(people.account)))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(keys) == 4
    assert len(set(keys)) == 1
    assert sealing.data_key(fresh(people.account)) == keys[0]


def test_a_new_key_put_first_still_opens_what_the_old_one_wrapped_and_rewrapping_moves_to_it(people, settings):
    old = list(settings.ACCOUNT_KEY_ENCRYPTION_KEYS)
    create_variable(account=people.account, name="V", value=SECRET, encrypted=True, actor=SYSTEM)
    new = Fernet.generate_key().decode()

    settings.ACCOUNT_KEY_ENCRYPTION_KEYS = [new, *old]
    assert read_variable_value(Variable.objects.select_related("account").get()) == SECRET
    assert sealing.rewrap_data_keys() == 1

    settings.ACCOUNT_KEY_ENCRYPTION_KEYS = [new]
    assert read_variable_value(Variable.objects.select_related("account").get()) == SECRET
    settings.ACCOUNT_KEY_ENCRYPTION_KEYS = old
    with pytest.raises(sealing.SealBroken) as broken:
        read_variable_value(Variable.objects.select_related("account").get())
    assert "ACCOUNT_KEY_ENCRYPTION_KEYS" in broken.value.detail
