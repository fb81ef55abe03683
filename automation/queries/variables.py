from django.db.models import QuerySet
from django.db.models.functions import Lower

from automation.models import AutomationAccount, Variable
from automation.services.assets import find


def list_variables(account: AutomationAccount) -> QuerySet[Variable]:
    """The account's variables by name (case-insensitively, as Azure lists them), in one query; the sealed
    column stays in the database."""
    return Variable.objects.filter(account=account).defer("sealed_value").order_by(Lower("name"), "name")


def get_variable(account: AutomationAccount, name: str) -> Variable:
    """The variable of that name (case-insensitively), or NotFound."""
    return find(Variable, account=account, name=name)
