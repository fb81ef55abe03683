from django.db.models import QuerySet

from automation.models import AuditEvent, AutomationAccount


def activity_of(account: AutomationAccount) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(account=account).order_by("-created_at")
