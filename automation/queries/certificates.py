from django.db.models import QuerySet
from django.db.models.functions import Lower

from automation.models import AutomationAccount, Certificate
from automation.services.assets import find


def list_certificates(account: AutomationAccount) -> QuerySet[Certificate]:
    """The account's certificates by name (case-insensitively, as Azure lists them), in one query; the sealed
    column stays in the database."""
    return Certificate.objects.filter(account=account).defer("sealed_content").order_by(Lower("name"), "name")


def get_certificate(account: AutomationAccount, name: str) -> Certificate:
    """The certificate of that name (case-insensitively), or NotFound."""
    return find(Certificate, account=account, name=name)
