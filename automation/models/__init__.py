from automation.models.accounts import AutomationAccount, Membership, Role
from automation.models.audit import AuditEvent
from automation.models.keys import AccountKey
from automation.models.notifications import Notification, NotificationReceipt
from automation.models.tokens import ApiToken
from automation.models.workers import HybridWorker, HybridWorkerGroup

__all__ = [
    "AccountKey",
    "ApiToken",
    "AuditEvent",
    "AutomationAccount",
    "HybridWorker",
    "HybridWorkerGroup",
    "Membership",
    "Notification",
    "NotificationReceipt",
    "Role",
]
