from django.db.models import Max, QuerySet

from automation.models import AutomationAccount, Runbook


def runbooks_of(account: AutomationAccount) -> QuerySet[Runbook]:
    """Runbooks with `published_version` (the latest number, or None), in one query."""
    return Runbook.objects.filter(account=account).annotate(published_version=Max("versions__number")).order_by("name")
