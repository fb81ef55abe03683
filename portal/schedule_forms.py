"""The forms of the Schedules blades: a schedule's rule as an Azure operator fills it in (a start date and time in
a time zone, Once or Recurring every N units, the days of a week or a month, an expiry), and a runbook's link to
a schedule (its parameters, Run on group and overlap policy).

A person types wall-clock times in the schedule's zone; the form hands the service ISO 8601 times with the
zone's offset, so what the service checks (and the API takes) is one thing. The next five runs of what the form
holds, saved or not, come from the service's own `next_runs`: the preview cannot disagree with the beat.
"""

import functools
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from automation.models import Frequency, Overlap
from automation.services import recurrence
from automation.services import schedules as services
from automation.services.errors import InvalidInput, ServiceError
from portal.forms import ServiceForm, StartJobForm, name_field

DATE_INPUT = "%Y-%m-%d"
TIME_INPUT = "%H:%M:%S"
TIME_FORMATS = [TIME_INPUT, "%H:%M"]
UNITS = [
    (Frequency.MINUTE, "Minute"),
    (Frequency.HOUR, "Hour"),
    (Frequency.DAY, "Day"),
    (Frequency.WEEK, "Week"),
    (Frequency.MONTH, "Month"),
]
LAST = "-1"
MONTH_DAYS = [(str(day), str(day)) for day in range(1, 32)] + [(LAST, "Last")]
OCCURRENCE_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
OCCURRENCES = [(str(n), word.capitalize()) for n, word in OCCURRENCE_WORDS.items()]
WEEK_DAYS = [(day, day) for day in recurrence.WEEK_DAYS]
PREVIEW_COUNT = 5
NOT_RULE = ("name", "description", "enabled", "__all__")
# Where the service names a field the form asks for in other inputs.
SERVICE_FIELDS = {
    "start_time": "start_date",
    "frequency": "unit",
    "monthly_occurrences": "occurrences",
    "expiry_time": "expiry_date",
}


@functools.cache
def zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def _radio(choices, initial: str, label: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label, choices=choices, initial=initial, widget=forms.RadioSelect(attrs={"class": "radio"})
    )


def _checkboxes(choices, label: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label, choices=choices, required=False, widget=forms.CheckboxSelectMultiple(attrs={"class": "check"})
    )


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(zoneinfo.ZoneInfo(zone))


class ScheduleForm(ServiceForm):
    """+ Add a schedule (with `adding`) and a schedule's properties blade (with `row`: only what changed is
    passed on, so saving the description does not touch the rule)."""

    name = name_field(strip=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "maxlength": 512}))
    start_date = forms.DateField(
        label="Start date",
        input_formats=[DATE_INPUT],
        widget=forms.DateInput(attrs={"type": "date"}, format=DATE_INPUT),
    )
    start_clock = forms.TimeField(
        label="Start time",
        input_formats=TIME_FORMATS,
        widget=forms.TimeInput(attrs={"type": "time", "step": "1"}, format=TIME_INPUT),
    )
    time_zone = forms.ChoiceField(label="Time zone", choices=zone_choices)
    recurrence = _radio([("once", "Once"), ("recurring", "Recurring")], "once", "Recurrence")
    interval = forms.IntegerField(label="Recur every", required=False, min_value=1, initial=1)
    unit = forms.ChoiceField(label="Unit", choices=UNITS, initial=Frequency.DAY, required=False)
    week_days = _checkboxes(WEEK_DAYS, "On these days")
    month_by = _radio([("days", "Month days"), ("occurrence", "Week days")], "days", "Run on")
    month_days = _checkboxes(MONTH_DAYS, "Days of the month")
    occurrences = _checkboxes(OCCURRENCES, "Occurrences")
    occurrence_days = _checkboxes(WEEK_DAYS, "Week days")
    expires = _radio([("never", "Never"), ("at", "At")], "never", "Set expiration")
    expiry_date = forms.DateField(
        label="Expiry date",
        required=False,
        input_formats=[DATE_INPUT],
        widget=forms.DateInput(attrs={"type": "date"}, format=DATE_INPUT),
    )
    expiry_clock = forms.TimeField(
        label="Expiry time",
        required=False,
        input_formats=TIME_FORMATS,
        widget=forms.TimeInput(attrs={"type": "time", "step": "1"}, format=TIME_INPUT),
    )
    enabled = forms.TypedChoiceField(
        label="Enabled",
        choices=[("yes", "Yes"), ("no", "No")],
        coerce=lambda value: value == "yes",
        initial="yes",
        widget=forms.RadioSelect(attrs={"class": "radio"}),
    )

    def __init__(self, data=None, *, row=None, now: datetime | None = None, **kwargs):
        self.row = row
        initial = self.current(row) if row is not None else self.fresh(now or timezone.now())
        super().__init__(data, initial=initial, **kwargs)
        for field in ("month_by", "expires", "recurrence"):
            self.fields[field].required = False
        if row is not None:
            # The name is the schedule's key (as in Azure); Enable and Disable are the blade's commands.
            del self.fields["name"], self.fields["enabled"]
        elif data is None:
            # The browser's own zone is chosen by static/js/portal.js; without JavaScript the server's stays.
            self.fields["time_zone"].widget.attrs["data-browser-zone"] = "true"

    @staticmethod
    def fresh(now: datetime) -> dict[str, Any]:
        """A new schedule: as in Azure, starting a little ahead, in the server's zone until the browser says its."""
        zone = timezone.get_default_timezone_name()
        start = _local(now + timedelta(minutes=30), zone).replace(second=0, microsecond=0)
        return {
            "start_date": start.strftime(DATE_INPUT),
            "start_clock": start.strftime("%H:%M"),
            "time_zone": zone,
            "recurrence": "once",
            "interval": 1,
            "unit": Frequency.DAY,
            "month_by": "days",
            "expires": "never",
            "enabled": "yes",
        }

    @staticmethod
    def current(row) -> dict[str, Any]:
        zone = row.time_zone
        start = _local(row.start_time, zone)
        once = row.frequency == Frequency.ONE_TIME
        occurrences = row.monthly_occurrences
        values = {
            "description": row.description,
            "start_date": start.strftime(DATE_INPUT),
            "start_clock": start.strftime(TIME_INPUT),
            "time_zone": zone,
            "recurrence": "once" if once else "recurring",
            "interval": row.interval,
            "unit": Frequency.DAY if once else row.frequency,
            "week_days": list(row.week_days),
            "month_by": "occurrence" if occurrences else "days",
            "month_days": [str(day) for day in row.month_days],
            "occurrences": sorted({str(o["occurrence"]) for o in occurrences}),
            "occurrence_days": sorted({o["day"] for o in occurrences}, key=recurrence.WEEK_DAYS.index),
            "expires": "never" if row.expiry_time is None else "at",
        }
        if row.expiry_time is not None:
            expiry = _local(row.expiry_time, zone)
            values.update(expiry_date=expiry.strftime(DATE_INPUT), expiry_clock=expiry.strftime(TIME_INPUT))
        return values

    # ---- what the form says, as the service's arguments ------------------------------------------------

    def clean(self):
        data = super().clean()
        if data.get("expires") == "at" and data.get("recurrence") == "recurring":
            for field, words in (("expiry_date", "date"), ("expiry_clock", "time")):
                if not data.get(field) and field not in self.errors:
                    self.add_error(field, f"Enter the {words} it expires, or choose Never.")
        recurring = data.get("recurrence") == "recurring"
        if recurring and data.get("interval") is None and "interval" not in self.errors:
            self.add_error("interval", "Enter how many units apart it runs: 1 or more.")
        if recurring and data.get("unit") == Frequency.MONTH and data.get("month_by") == "occurrence":
            # Each occurrence of each day is run on: with either list empty, nothing would be said at all.
            for field, words in (("occurrences", "which ones (first … last)"), ("occurrence_days", "the week days")):
                if not data.get(field) and field not in self.errors:
                    self.add_error(field, f"Choose {words}.")
        return data

    def _moment(self, date_field: str, clock_field: str) -> str | None:
        day, clock = self.cleaned_data.get(date_field), self.cleaned_data.get(clock_field)
        zone = self.cleaned_data.get("time_zone")
        if day is None or clock is None or zone is None:
            return None
        # fold=0: a time a fall-back repeats is its first occurrence, as the rule reads it.
        return datetime.combine(day, clock).replace(tzinfo=zoneinfo.ZoneInfo(zone)).isoformat()

    def rule_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        once = data.get("recurrence") != "recurring"
        frequency = Frequency.ONE_TIME if once else data.get("unit") or Frequency.DAY
        monthly = frequency == Frequency.MONTH
        by_occurrence = monthly and data.get("month_by") == "occurrence"
        return {
            "start_time": self._moment("start_date", "start_clock"),
            "time_zone": data.get("time_zone"),
            "frequency": frequency,
            "interval": 1 if once else data.get("interval"),
            "week_days": list(data.get("week_days") or []) if frequency == Frequency.WEEK else [],
            "month_days": [int(d) for d in data.get("month_days") or []] if monthly and not by_occurrence else [],
            "monthly_occurrences": [
                {"day": day, "occurrence": int(n)}
                for n in data.get("occurrences") or []
                for day in data.get("occurrence_days") or []
            ]
            if by_occurrence
            else [],
            "expiry_time": self._moment("expiry_date", "expiry_clock")
            if not once and data.get("expires") == "at"
            else None,
        }

    def arguments(self) -> dict[str, Any]:
        values = {"description": self.cleaned_data.get("description", ""), **self.rule_arguments()}
        if self.row is None:
            return {"name": self.cleaned_data["name"], "enabled": self.cleaned_data["enabled"], **values}
        return values

    def submit(self, action, /, **kwargs):
        # The whole rule goes every time: the service compares it with the saved one and writes only a change.
        return self.call(action, **self.arguments(), **kwargs) if self.is_valid() else None

    def add_service_error(self, error: ServiceError) -> None:
        field = SERVICE_FIELDS.get(error.field, error.field)
        self.add_error(field if field in self.fields else None, error.detail)

    # ---- the next runs -----------------------------------------------------------------------------------

    def preview(self) -> "Preview":
        """The next five runs of what the form holds (its initial values while nothing was posted)."""
        form = self if self.is_bound else type(self)(self._initial_as_data(), row=self.row)
        # Only the rule counts: a name not typed yet does not keep the runs from showing.
        wrong = [form.fields[name].label for name in form.errors if name not in NOT_RULE]
        if wrong:
            return Preview(problem=f"Correct {', '.join(wrong)} to see the next runs.")
        try:
            rule = services.checked_rule(**form.rule_arguments())
            runs = services.next_runs(rule=rule, count=PREVIEW_COUNT)
        except InvalidInput as error:
            return Preview(problem=error.detail)
        return Preview(zone=rule.time_zone, runs=runs)

    def _initial_as_data(self) -> MultiValueDict:
        data = MultiValueDict()
        for name in self.fields:
            value = self.get_initial_for_field(self.fields[name], name)
            if isinstance(value, list):
                data.setlist(name, [str(v) for v in value])
            elif value is not None:
                data[name] = str(value)
        if "name" in self.fields:
            data["name"] = "preview"
        return data


class Preview:
    """The next runs as the blade shows them: each in the schedule's zone and in UTC, or why there are none."""

    def __init__(self, *, zone: str = "UTC", runs: list[datetime] = (), problem: str = ""):
        self.zone = zone
        self.problem = problem
        self.runs = [(_local(run, zone), run) for run in runs]


class LinkScheduleForm(StartJobForm):
    """A runbook's link to a schedule: which schedule, then what Start asks (Run on, the published version's
    parameters), then what a fire does while the previous job of the link still runs."""

    schedule = forms.ChoiceField(label="Schedule")
    overlap = forms.ChoiceField(
        label="While the previous job of this link runs",
        choices=Overlap.choices,
        initial=Overlap.ALLOW,
        widget=forms.RadioSelect(attrs={"class": "radio"}),
    )

    def __init__(self, *args, schedules: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["timeout_seconds"]
        self.fields["schedule"].choices = [("", "Choose a schedule"), *((name, name) for name in schedules)]
        self.order_fields(["schedule", "run_on", *(f"param_{spec['name']}" for spec in self.declared), "overlap"])

    def add_service_error(self, error: ServiceError) -> None:
        if error.field in ("schedule", "run_on", "overlap"):
            self.add_error(error.field, error.detail)
        else:
            super().add_service_error(error)
