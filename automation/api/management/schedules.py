"""Management API v1: schedules, their next runs, and a runbook's links to them (Azure's job schedules).

Times are ISO 8601 with their offset: a schedule's start and expiry are shown in its own zone, next_run in
UTC. The views look rows up through the queries and change them only through automation/services/schedules.py.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api.management.assets import Body, BooleanValue, DescriptionField, asset_schema
from automation.api.management.job_fields import JSONValue
from automation.api.management.runbooks import RunbookScoped
from automation.api.management.scoping import AccountScoped
from automation.models import Frequency, Overlap, Schedule, ScheduleLink
from automation.queries.schedules import get_schedule, links_of_runbook, list_schedules
from automation.services import recurrence
from automation.services import schedules as schedule_services
from automation.services.assets import UNSET
from automation.services.errors import InvalidInput

TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with its UTC offset."}
NULLABLE_TIME = {**TIME, "nullable": True}


@extend_schema_field(TIME)
class TimeValue(JSONValue):
    pass


@extend_schema_field({**NULLABLE_TIME, "description": "ISO 8601 with its UTC offset, or null: never expires."})
class ExpiryValue(JSONValue):
    pass


@extend_schema_field({"type": "string", "description": "An IANA time zone name (Europe/Berlin, UTC, ...)."})
class TimeZoneValue(JSONValue):
    pass


@extend_schema_field({"type": "string", "enum": Frequency.values})
class FrequencyValue(JSONValue):
    pass


@extend_schema_field({"type": "integer", "minimum": 1, "description": "Every N minutes, hours, days, weeks or months."})
class IntervalValue(JSONValue):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(recurrence.WEEK_DAYS)}})
class WeekDaysValue(JSONValue):
    pass


@extend_schema_field(
    {"type": "array", "items": {"type": "integer", "minimum": -1, "maximum": 31}, "description": "-1: the last day."}
)
class MonthDaysValue(JSONValue):
    pass


OCCURRENCE = {
    "type": "object",
    "properties": {
        "day": {"type": "string", "enum": list(recurrence.WEEK_DAYS)},
        "occurrence": {"type": "integer", "enum": list(recurrence.OCCURRENCES), "description": "-1: the last."},
    },
    "required": ["day", "occurrence"],
    "additionalProperties": False,
}


@extend_schema_field({"type": "array", "items": OCCURRENCE})
class OccurrencesValue(JSONValue):
    pass


class ScheduleSerializer(serializers.ModelSerializer):
    start_time = serializers.SerializerMethodField()
    expiry_time = serializers.SerializerMethodField()
    expired = serializers.SerializerMethodField(help_text="Past its expiry: it fires no more.")
    # The same schema as the request's field: one FrequencyEnum in the document.
    frequency = FrequencyValue(read_only=True)
    links = serializers.IntegerField(source="link_count", read_only=True, help_text="How many runbooks it starts.")

    class Meta:
        model = Schedule
        fields = [
            "name",
            "description",
            "start_time",
            "time_zone",
            "frequency",
            "interval",
            "week_days",
            "month_days",
            "monthly_occurrences",
            "expiry_time",
            "enabled",
            "next_run",
            "expired",
            "links",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(TIME)
    def get_start_time(self, schedule) -> str:
        return recurrence.local_time(schedule.start_time, schedule.time_zone).isoformat()

    @extend_schema_field(NULLABLE_TIME)
    def get_expiry_time(self, schedule) -> str | None:
        if schedule.expiry_time is None:
            return None
        return recurrence.local_time(schedule.expiry_time, schedule.time_zone).isoformat()

    def get_expired(self, schedule) -> bool:
        return schedule_services.is_expired(schedule)


class ScheduleCreate(Body):
    name = openapi.NameSchemaField()
    description = DescriptionField(required=False)
    start_time = TimeValue()
    time_zone = TimeZoneValue(required=False)
    frequency = FrequencyValue()
    interval = IntervalValue(required=False)
    week_days = WeekDaysValue(required=False)
    month_days = MonthDaysValue(required=False)
    monthly_occurrences = OccurrencesValue(required=False)
    expiry_time = ExpiryValue(required=False, allow_null=True)
    enabled = BooleanValue(required=False)


class ScheduleUpdate(Body):
    description = DescriptionField(required=False)
    start_time = TimeValue(required=False)
    time_zone = TimeZoneValue(required=False)
    frequency = FrequencyValue(required=False)
    interval = IntervalValue(required=False)
    week_days = WeekDaysValue(required=False)
    month_days = MonthDaysValue(required=False)
    monthly_occurrences = OccurrencesValue(required=False)
    expiry_time = ExpiryValue(required=False, allow_null=True)
    enabled = BooleanValue(
        required=False, help_text="false: it fires no more; true again: it fires from now on, its start unchanged."
    )


lists, details = asset_schema(
    tag="schedules",
    serializer=ScheduleSerializer,
    create=ScheduleCreate,
    update=ScheduleUpdate,
    create_conflict="A schedule of that name (whatever its case) exists in the account.",
)


@extend_schema_view(**lists)
class ScheduleList(AccountScoped, generics.ListAPIView):
    serializer_class = ScheduleSerializer

    def get_queryset(self):
        return list_schedules(self.get_account())

    def post(self, request, *args, **kwargs):
        account = self.get_account()
        body = ScheduleCreate(data=request.data)
        body.is_valid(raise_exception=True)
        schedule = schedule_services.create_schedule(account=account, actor=self.actor(), **body.validated_data)
        return Response(self.get_serializer(get_schedule(account, schedule.name)).data, status=status.HTTP_201_CREATED)


@extend_schema_view(**details)
class ScheduleDetail(AccountScoped, generics.RetrieveAPIView):
    serializer_class = ScheduleSerializer

    def get_object(self):
        return get_schedule(self.get_account(), self.kwargs["schedule_name"])

    def patch(self, request, *args, **kwargs):
        account = self.get_account()
        body = ScheduleUpdate(data=request.data)
        body.is_valid(raise_exception=True)
        changes = {key: body.validated_data.get(key, UNSET) for key in body.fields}
        schedule = schedule_services.update_schedule(
            account=account, name=self.kwargs["schedule_name"], actor=self.actor(), **changes
        )
        return Response(self.get_serializer(get_schedule(account, schedule.name)).data)

    def delete(self, request, *args, **kwargs):
        schedule_services.delete_schedule(
            account=self.get_account(), name=self.kwargs["schedule_name"], actor=self.actor()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_field({**TIME, "description": "In the schedule's time zone, with its offset then."})
class LocalTime(serializers.CharField):
    pass


class NextRunSerializer(serializers.Serializer):
    local = LocalTime()
    utc = serializers.DateTimeField()


class NextRunsSerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    next_runs = NextRunSerializer(many=True, help_text="None while the schedule is disabled or expired.")


COUNT = OpenApiParameter(
    "count",
    {"type": "integer", "minimum": 1, "maximum": schedule_services.MAX_NEXT_RUNS},
    description=f"How many (default 5, at most {schedule_services.MAX_NEXT_RUNS}).",
)


class ScheduleNextRuns(AccountScoped, APIView):
    @extend_schema(tags=["schedules"], parameters=[COUNT], **openapi.reading(NextRunsSerializer))
    def get(self, request, account_id, schedule_name):
        schedule = get_schedule(self.get_account(), schedule_name)
        raw = request.query_params.get("count", "5")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 3:
            raise InvalidInput(f"count is a whole number from 1 to {schedule_services.MAX_NEXT_RUNS}.", field="count")
        runs = schedule_services.schedule_next_runs(schedule=schedule, count=int(raw))
        zone = schedule.time_zone
        body = {
            "time_zone": zone,
            "next_runs": [{"local": recurrence.local_time(run, zone).isoformat(), "utc": run} for run in runs],
        }
        return Response(NextRunsSerializer(body).data)


# ---- links ----


@extend_schema_field({"type": "string", "enum": Overlap.values, "default": Overlap.ALLOW})
class OverlapValue(JSONValue):
    pass


class LinkSerializer(serializers.ModelSerializer):
    schedule = serializers.CharField(source="schedule.name")
    runbook = serializers.CharField(source="runbook.name")
    run_on = serializers.CharField(source="run_on_name")
    next_run = serializers.DateTimeField(source="schedule.next_run", allow_null=True)
    last_job = serializers.UUIDField(source="last_job_id", allow_null=True)
    overlap = OverlapValue(read_only=True)

    class Meta:
        model = ScheduleLink
        fields = ["id", "schedule", "runbook", "parameters", "run_on", "overlap", "next_run", "last_job", "created_at"]
        read_only_fields = fields


class LinkCreate(Body):
    schedule = openapi.NameSchemaField()
    parameters = JSONValue(
        required=False, allow_null=True, help_text="The runbook's parameters, checked as a start checks them."
    )
    run_on = openapi.NameSchemaField()
    overlap = OverlapValue(
        required=False,
        help_text="While this link's previous job has not ended: allow (start another), skip (start nothing, "
        "recorded), queue (wait for it).",
    )


@extend_schema(tags=["schedules"])
@extend_schema_view(get=extend_schema(**openapi.listing(LinkSerializer)))
class RunbookScheduleList(RunbookScoped, generics.ListAPIView):
    serializer_class = LinkSerializer

    def get_queryset(self):
        return links_of_runbook(self.get_runbook())

    @extend_schema(
        request=LinkCreate,
        responses={
            201: LinkSerializer,
            **openapi.errors(*openapi.MANAGEMENT_WRITE, 409, _409="The runbook is on that schedule already."),
        },
    )
    def post(self, request, account_id, runbook_name):
        runbook = self.get_runbook()
        body = LinkCreate(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        link = schedule_services.link_schedule(
            account=self.get_account(),
            runbook_name=runbook.name,
            schedule_name=values["schedule"],
            parameters=values.get("parameters"),
            run_on=values["run_on"],
            overlap=values.get("overlap", Overlap.ALLOW),
            actor=self.actor(),
        )
        return Response(LinkSerializer(link).data, status=status.HTTP_201_CREATED)


class RunbookScheduleDetail(RunbookScoped, APIView):
    @extend_schema(tags=["schedules"], responses={204: None, **openapi.errors(*openapi.MANAGEMENT_ACTION)})
    def delete(self, request, account_id, runbook_name, link_id):
        schedule_services.unlink_schedule(
            account=self.get_account(), runbook=self.get_runbook(), link_id=link_id, actor=self.actor()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
