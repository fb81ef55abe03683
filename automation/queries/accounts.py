from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery

from automation.models import AutomationAccount, Membership, Role


def accounts_of(user) -> QuerySet[AutomationAccount]:
    """The accounts the user belongs to, each with `.role` (the user's role) set."""
    role = Membership.objects.filter(account=OuterRef("pk"), user=user).values("role")[:1]
    # Counted in a subquery: a join on memberships here would be narrowed to this user's row.
    members = (
        Membership.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        AutomationAccount.objects.filter(pk__in=Membership.objects.filter(user=user).values("account_id"))
        .annotate(role=Subquery(role), member_count=Subquery(members, output_field=IntegerField()))
        .order_by("name")
    )


def account_of(user, account_id) -> AutomationAccount | None:
    """One account with `.role`, or None when the user is not a member (or it does not exist)."""
    if not user.is_authenticated:
        return None
    return accounts_of(user).filter(pk=account_id).first()


def members_of(account: AutomationAccount) -> QuerySet[Membership]:
    return Membership.objects.filter(account=account).select_related("user").order_by("user__username")


def is_last_owner(membership: Membership) -> bool:
    """Whether removing or demoting this member would leave the account without an Owner (the service refuses
    it; pages say so before anyone confirms)."""
    if membership.role != Role.OWNER:
        return False
    return (
        not Membership.objects.filter(account_id=membership.account_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )
