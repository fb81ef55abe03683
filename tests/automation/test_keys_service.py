"""Account access keys: random, encrypted at rest, shown and regenerated only by Owners, one at a time."""

import base64

import pytest
from cryptography.fernet import Fernet

from automation.models import AccountKey, AuditEvent
from automation.services.actor import Actor
from automation.services.crypto import decrypt, encrypt
from automation.services.errors import InvalidInput, NotFound, PermissionDenied
from automation.services.keys import account_for_key, agent_service_url, ensure_keys, regenerate_key, reveal_keys

pytestmark = pytest.mark.django_db


def owner_of(people) -> Actor:
    return Actor(user=people.owner, ip="198.51.100.20")


def ciphertexts(account) -> dict[str, str]:
    return dict(AccountKey.objects.filter(account=account).values_list("slot", "ciphertext"))


def random_bits(key: str) -> int:
    return len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) * 8


def test_every_account_has_a_primary_and_a_secondary_key(people):
    assert set(ciphertexts(people.account)) == {"primary", "secondary"}
    keys = reveal_keys(account=people.account, actor=owner_of(people))
    assert set(keys) == {"primary", "secondary"} and keys["primary"] != keys["secondary"]


def test_keys_have_at_least_256_random_bits_and_differ_between_accounts(people):
    mine = reveal_keys(account=people.account, actor=owner_of(people))
    theirs = reveal_keys(account=people.other_account, actor=Actor(user=people.stranger))
    for key in [*mine.values(), *theirs.values()]:
        assert random_bits(key) >= 256
        assert key.isascii() and " " not in key
    assert len({*mine.values(), *theirs.values()}) == 4


def test_keys_are_stored_encrypted(people):
    keys = reveal_keys(account=people.account, actor=owner_of(people))
    stored = ciphertexts(people.account)
    for slot, key in keys.items():
        assert key not in stored[slot]
        assert key not in repr(list(AccountKey.objects.values()))
        assert decrypt(stored[slot]) == key


def test_the_same_key_encrypts_differently_each_time():
    assert encrypt("same") != encrypt("same")
    assert decrypt(encrypt("same")) == "same"


def test_a_ciphertext_from_another_encryption_key_does_not_decrypt():
    foreign = Fernet(Fernet.generate_key()).encrypt(b"secret").decode()
    assert decrypt(foreign) is None
    assert decrypt("not a ciphertext") is None


def test_keys_stay_readable_after_the_encryption_key_is_rotated(people, settings):
    keys = reveal_keys(account=people.account, actor=owner_of(people))
    settings.ACCOUNT_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.ACCOUNT_KEY_ENCRYPTION_KEYS]
    assert reveal_keys(account=people.account, actor=owner_of(people)) == keys
    assert account_for_key(account_id=people.account.pk, presented=keys["primary"]) == people.account


def test_regenerating_one_key_leaves_the_other(people):
    before = reveal_keys(account=people.account, actor=owner_of(people))
    stored = ciphertexts(people.account)
    new = regenerate_key(account=people.account, slot="secondary", actor=owner_of(people))
    after = reveal_keys(account=people.account, actor=owner_of(people))
    assert after == {"primary": before["primary"], "secondary": new}
    assert new != before["secondary"] and random_bits(new) >= 256
    assert ciphertexts(people.account)["primary"] == stored["primary"]

    assert account_for_key(account_id=people.account.pk, presented=before["primary"]) == people.account
    assert account_for_key(account_id=people.account.pk, presented=new) == people.account
    assert account_for_key(account_id=people.account.pk, presented=before["secondary"]) is None


def test_regenerating_does_not_touch_other_accounts(people):
    theirs = ciphertexts(people.other_account)
    regenerate_key(account=people.account, slot="primary", actor=owner_of(people))
    assert ciphertexts(people.other_account) == theirs


def test_regenerating_is_audited_without_the_key(people):
    new = regenerate_key(account=people.account, slot="primary", actor=owner_of(people))
    event = AuditEvent.objects.get(action="keys.regenerate")
    assert (event.actor, event.account, event.details) == (people.owner, people.account, {"slot": "primary"})
    assert event.source_ip == "198.51.100.20"
    assert new not in repr(list(AuditEvent.objects.values()))


def test_revealing_is_audited_without_the_keys(people):
    keys = reveal_keys(account=people.account, actor=owner_of(people))
    event = AuditEvent.objects.get(action="keys.reveal")
    assert event.actor == people.owner and event.details == {}
    for key in keys.values():
        assert key not in repr(list(AuditEvent.objects.values()))


@pytest.mark.parametrize(
    ("role", "error"), [("operator", PermissionDenied), ("reader", PermissionDenied), ("stranger", NotFound)]
)
def test_only_owners_reveal_keys(people, role, error):
    audit = AuditEvent.objects.count()
    with pytest.raises(error):
        reveal_keys(account=people.account, actor=Actor(user=people.by_role[role]))
    assert AuditEvent.objects.count() == audit


@pytest.mark.parametrize(
    ("role", "error"), [("operator", PermissionDenied), ("reader", PermissionDenied), ("stranger", NotFound)]
)
def test_only_owners_regenerate_keys(people, role, error):
    stored, audit = ciphertexts(people.account), AuditEvent.objects.count()
    for slot in ("primary", "secondary"):
        with pytest.raises(error):
            regenerate_key(account=people.account, slot=slot, actor=Actor(user=people.by_role[role]))
    assert ciphertexts(people.account) == stored and AuditEvent.objects.count() == audit


def test_an_anonymous_actor_can_do_nothing_with_keys(people):
    with pytest.raises(NotFound):
        reveal_keys(account=people.account, actor=Actor(user=None))
    with pytest.raises(NotFound):
        regenerate_key(account=people.account, slot="primary", actor=Actor(user=None))


@pytest.mark.parametrize("slot", ["tertiary", "", "Primary", "primary "])
def test_only_the_two_slots_can_be_regenerated(people, slot):
    stored = ciphertexts(people.account)
    with pytest.raises(InvalidInput) as refused:
        regenerate_key(account=people.account, slot=slot, actor=owner_of(people))
    assert refused.value.field == "slot"
    assert ciphertexts(people.account) == stored


def test_ensure_keys_fills_in_a_missing_key_and_leaves_existing_ones(people):
    stored = ciphertexts(people.account)
    AccountKey.objects.filter(account=people.account, slot="secondary").delete()
    ensure_keys(account=people.account)
    ensure_keys(account=people.account)
    now = ciphertexts(people.account)
    assert now["primary"] == stored["primary"] and now["secondary"] != stored["secondary"]
    assert AccountKey.objects.filter(account=people.account).count() == 2


def test_account_for_key_matches_only_this_accounts_keys(people):
    import uuid

    mine = reveal_keys(account=people.account, actor=owner_of(people))
    theirs = reveal_keys(account=people.other_account, actor=Actor(user=people.stranger))
    for key in mine.values():
        assert account_for_key(account_id=people.account.pk, presented=key) == people.account
        assert account_for_key(account_id=people.other_account.pk, presented=key) is None
        assert account_for_key(account_id=uuid.uuid4(), presented=key) is None
    for presented in [theirs["primary"], "", mine["primary"][:-1], mine["primary"] + "x", mine["primary"].upper()]:
        assert account_for_key(account_id=people.account.pk, presented=presented) is None


def test_the_agent_service_url_names_the_account(people, settings):
    settings.PORTAL_BASE_URL = "https://portal.example"
    assert agent_service_url(people.account) == f"https://portal.example/agentsvc/accounts/{people.account.pk}"
