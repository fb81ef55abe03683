from django.db.models import Case, CharField, Exists, OuterRef, QuerySet, Subquery, Value, When

from automation.models import AutomationAccount, Runbook, RunbookVersion

# Azure's runbookState: never published, the draft is the latest version, or the draft differs from it.
NEW, PUBLISHED, EDIT = "New", "Published", "Edit"
STATES = (NEW, PUBLISHED, EDIT)


def runbooks_of(account: AutomationAccount) -> QuerySet[Runbook]:
    """Runbooks with `published_version` (the latest number, or None) and `state` (New, Published or Edit),
    in one query however many runbooks.

    The state is derived each time from the draft and the latest version, never stored, so no write path
    can leave it wrong. A version freezes the content and the parameters (not the description or the job
    settings), so those are what is compared: in SQL, so neither the versions' content nor a hash of every
    draft travels to Python (PostgreSQL compares the lengths of two texts before their bytes)."""
    latest = RunbookVersion.objects.filter(runbook=OuterRef("pk")).order_by("-number")
    same_as_latest = RunbookVersion.objects.filter(
        runbook=OuterRef("pk"),
        number=OuterRef("published_version"),
        content=OuterRef("draft"),
        parameters=OuterRef("parameters"),
    )
    return (
        Runbook.objects.filter(account=account)
        .annotate(published_version=Subquery(latest.values("number")[:1]))
        .annotate(
            state=Case(
                When(published_version__isnull=True, then=Value(NEW)),
                When(Exists(same_as_latest), then=Value(PUBLISHED)),
                default=Value(EDIT),
                output_field=CharField(),
            )
        )
        .order_by("name")
    )
