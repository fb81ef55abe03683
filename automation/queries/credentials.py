from django.db.models import QuerySet
from django.db.models.functions import Lower

from automation.models import AutomationAccount, Credential
from automation.services.assets import find


def list_credentials(account: AutomationAccount) -> QuerySet[Credential]:
    """The account's credentials by name (case-insensitively, as Azure lists them), in one query; the sealed
    column stays in the database."""
    return Credential.objects.filter(account=account).defer("sealed_password").order_by(Lower("name"), "name")


def get_credential(account: AutomationAccount, name: str) -> Credential:
    """The credential of that name (case-insensitively), or NotFound."""
    return find(Credential, account=account, name=name)
