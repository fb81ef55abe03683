from django.db.models import Exists, OuterRef, Q, QuerySet

from automation.models import Membership, Notification, NotificationReceipt


def visible_to(user) -> QuerySet[Notification]:
    member_of = Membership.objects.filter(user=user).values("account_id")
    return Notification.objects.filter(Q(recipient=user) | Q(recipient__isnull=True, account_id__in=member_of))


def panel_for(user, *, limit: int = 50) -> list[Notification]:
    receipts = NotificationReceipt.objects.filter(notification=OuterRef("pk"), user=user)
    rows = (
        visible_to(user)
        .exclude(receipts__user=user, receipts__dismissed=True)
        .annotate(is_read=Exists(receipts))
        .select_related("account")
        .order_by("-created_at")[:limit]
    )
    return list(rows)


def unread_count(user) -> int:
    return visible_to(user).exclude(receipts__user=user).count()
