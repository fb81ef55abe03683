import math
import signal

from django import template
from django.template.defaultfilters import filesizeformat, floatformat

from automation.models.jobs import REASON_TONES, STATUS_BADGES
from automation.services.presence import presence_label

register = template.Library()

NONE = "—"
# The largest whole number these filters format (and the largest byte count): a signed 64-bit integer's.
LARGEST = 2**63 - 1


def _number(value) -> int | float | None:
    """A value a page can format as a number, or None. Facts are JSON an agent sent: a stored value may
    be text, a list, a bool, or (stored before the API bounded it) too big for a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value if abs(value) <= LARGEST else None


@register.filter
def size(value):
    """A byte count, as 1.5 GB; a dash for anything that is not one."""
    number = _number(value)
    if number is None or not 0 <= number <= LARGEST:
        return NONE
    return filesizeformat(number)


@register.filter
def decimal(value, places: int = 2):
    """A number with `places` decimals; a dash for anything that is not a number."""
    number = _number(value)
    return NONE if number is None else floatformat(number, places)


@register.filter
def load_averages(value):
    """The 1, 5 and 15 minute load averages, as 0.50, 0.25, 1.50."""
    if not isinstance(value, list) or not value:
        return NONE
    return ", ".join(decimal(item) for item in value[:3])


@register.filter
def duration(start, end):
    """How long from start to end, in the unit a person reads at a glance: 0.42 s, 42 s, 3 min 4 s, 2 h 5 min."""
    if not start or not end:
        return "—"
    return _seconds(max((end - start).total_seconds(), 0.0))


@register.filter
def milliseconds(ms):
    """A latency: 7 ms, 840 ms, 2.40 s, 3 min 4 s."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{int(ms)} ms"
    return _seconds(ms / 1000)


def _seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def exit_code(code):
    """A negative exit code is the signal that ended the process: say which."""
    if code is None:
        return "—"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{code} (ended by {name})"
    return str(code)


@register.filter
def status_badge(status):
    """The class of a job status's badge, from the model's map (a status it does not know looks busy)."""
    return STATUS_BADGES.get(status, "running")


@register.filter
def reason_tone(status):
    """The class of the reason shown beside a job's status: failed, waiting, or none."""
    return REASON_TONES.get(status, "")


@register.filter
def presence(online: bool) -> str:
    """A worker's presence as every page, push and API answer words it."""
    return presence_label(online)
