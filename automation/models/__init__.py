from automation.models.accounts import AutomationAccount, Membership, Role
from automation.models.assets import Certificate, Connection, ConnectionType, Credential, Variable
from automation.models.audit import AuditEvent
from automation.models.jobs import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    Job,
    JobStatus,
    JobStream,
    StartedBy,
)
from automation.models.keys import AccountKey
from automation.models.notifications import Notification, NotificationReceipt
from automation.models.runbooks import Runbook, RunbookType, RunbookVersion
from automation.models.schedules import FireOutcome, Frequency, Overlap, Schedule, ScheduleFire, ScheduleLink
from automation.models.tokens import ApiToken
from automation.models.webhooks import Webhook
from automation.models.workers import HybridWorker, HybridWorkerGroup

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "AccountKey",
    "ApiToken",
    "AuditEvent",
    "AutomationAccount",
    "Certificate",
    "Connection",
    "ConnectionType",
    "Credential",
    "FireOutcome",
    "Frequency",
    "HybridWorker",
    "HybridWorkerGroup",
    "Job",
    "JobStatus",
    "JobStream",
    "Membership",
    "Notification",
    "NotificationReceipt",
    "Overlap",
    "Role",
    "Runbook",
    "RunbookType",
    "RunbookVersion",
    "Schedule",
    "ScheduleFire",
    "ScheduleLink",
    "StartedBy",
    "Variable",
    "Webhook",
]
