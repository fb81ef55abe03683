from automation.models.accounts import AutomationAccount, Membership, Role
from automation.models.audit import AuditEvent
from automation.models.notifications import Notification, NotificationReceipt

__all__ = [
    "AuditEvent",
    "AutomationAccount",
    "Membership",
    "Notification",
    "NotificationReceipt",
    "Role",
]
