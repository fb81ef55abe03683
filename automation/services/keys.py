from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from automation.models import AccountKey, AutomationAccount, Role
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.crypto import constant_time_equal, decrypt, encrypt, new_account_key
from automation.services.errors import InvalidInput

SLOTS = [AccountKey.Slot.PRIMARY, AccountKey.Slot.SECONDARY]


def agent_service_url(account: AutomationAccount) -> str:
    return f"{settings.PORTAL_BASE_URL}/agentsvc/accounts/{account.pk}"


def ensure_keys(*, account: AutomationAccount) -> None:
    """Every account has both keys; create whichever is missing (accounts made before keys existed)."""
    have = set(AccountKey.objects.filter(account=account).values_list("slot", flat=True))
    for slot in SLOTS:
        if slot not in have:
            try:
                with transaction.atomic():
                    AccountKey.objects.create(account=account, slot=slot, ciphertext=encrypt(new_account_key()))
            except IntegrityError:
                pass  # another process made it first; theirs stands


def reveal_keys(*, account: AutomationAccount, actor: Actor) -> dict[str, str]:
    """The plain keys, for an Owner. Each reveal is audited (without the keys)."""
    require_role(account=account, actor=actor, role=Role.OWNER)
    ensure_keys(account=account)
    keys = {key.slot: decrypt(key.ciphertext) or "" for key in AccountKey.objects.filter(account=account)}
    record_event(actor=actor, action="keys.reveal", account=account, target=account)
    return keys


def regenerate_key(*, account: AutomationAccount, slot: str, actor: Actor) -> str:
    """Replace one key; the other keeps working and registered workers keep their own credentials."""
    require_role(account=account, actor=actor, role=Role.OWNER)
    if slot not in AccountKey.Slot.values:
        raise InvalidInput("The key to regenerate is 'primary' or 'secondary'.", field="slot")
    ensure_keys(account=account)
    value = new_account_key()
    with transaction.atomic():
        AccountKey.objects.filter(account=account, slot=slot).update(
            ciphertext=encrypt(value), regenerated_at=timezone.now()
        )
        record_event(actor=actor, action="keys.regenerate", account=account, target=account, details={"slot": slot})
    return value


def account_for_key(*, account_id, presented: str) -> AutomationAccount | None:
    """The account whose primary or secondary key this is; None for any mismatch or unknown account."""
    if not presented:
        return None
    keys = list(AccountKey.objects.filter(account_id=account_id).select_related("account"))
    match = None
    for key in keys:
        plain = decrypt(key.ciphertext)
        # Compare against both keys every time, so timing does not tell which one matched.
        if plain is not None and constant_time_equal(plain, presented):
            match = key.account
    return match
