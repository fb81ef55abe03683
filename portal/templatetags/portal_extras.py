import signal

from django import template

register = template.Library()


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
