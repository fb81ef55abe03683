"""What the Schedules blades and the management API read: each in a fixed number of queries."""

from django.db.models import Case, Count, OuterRef, QuerySet, Subquery, When
from django.db.models.functions import Lower

from automation.models import AutomationAccount, Job, Runbook, Schedule, ScheduleFire, ScheduleLink, StartedBy
from automation.services.errors import NotFound
from automation.validators import is_name

RECENT_FIRES = 20


def list_schedules(account: AutomationAccount) -> QuerySet[Schedule]:
    """The account's schedules by name (case-insensitively), each with `link_count`: one query."""
    return Schedule.objects.filter(account=account).annotate(link_count=Count("links")).order_by(Lower("name"), "name")


def get_schedule(account: AutomationAccount, name: str) -> Schedule:
    """The schedule of that name (whatever its case) with `link_count`, or NotFound."""
    schedule = list_schedules(account).filter(name__iexact=name).first() if is_name(name) else None
    if schedule is None:
        raise NotFound(f"There is no schedule named {name!r} in {account.name}.")
    schedule.account = account
    return schedule


def _links() -> QuerySet[ScheduleLink]:
    return ScheduleLink.objects.select_related("schedule", "runbook", "last_job").defer("secret_parameters")


def schedule_detail(account: AutomationAccount, name: str, *, fires: int = RECENT_FIRES) -> Schedule:
    """One schedule for its blade: `links` (with runbook, schedule and last job) and `recent_fires` (newest
    first, missed ranges among them, with their runbook and job): three queries."""
    schedule = get_schedule(account, name)
    schedule.link_list = list(_links().filter(schedule=schedule).order_by(Lower("runbook__name")))
    schedule.recent_fires = list(
        ScheduleFire.objects.filter(link__schedule=schedule)
        .select_related("link__runbook", "job")
        .order_by("-fire_time", "link__runbook__name")[:fires]
    )
    return schedule


def links_of_runbook(runbook: Runbook) -> QuerySet[ScheduleLink]:
    """A runbook's schedules (its blade's Schedules), by schedule name: one query."""
    return _links().filter(runbook=runbook).order_by(Lower("schedule__name"))


def links_of_schedule(schedule: Schedule) -> QuerySet[ScheduleLink]:
    return _links().filter(schedule=schedule).order_by(Lower("runbook__name"))


def fires_of_link(link: ScheduleLink) -> QuerySet[ScheduleFire]:
    return ScheduleFire.objects.filter(link=link).select_related("job").order_by("-fire_time")


def with_schedule_ids(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """Jobs with `schedule_pk`: the schedule that started each one, while a schedule of that name still exists
    in its account (a job keeps the name of a schedule deleted since). In the jobs' own query."""
    started_by = Schedule.objects.filter(account=OuterRef("account"), name=OuterRef("started_by"))
    return jobs.annotate(
        schedule_pk=Case(
            When(started_by_kind=StartedBy.SCHEDULE, then=Subquery(started_by.values("pk")[:1])),
            default=None,
        )
    )
