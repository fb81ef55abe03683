from datetime import UTC, datetime, timedelta

import pytest

from portal.templatetags.portal_extras import duration, exit_code

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.42, "0.42 s"), (9.994, "9.99 s"), (42, "42 s"), (184, "3 min 4 s"), (7500, "2 h 5 min")],
)
def test_a_duration_reads_in_the_unit_that_fits(seconds, shown):
    assert duration(START, START + timedelta(seconds=seconds)) == shown


def test_a_duration_without_both_ends_is_a_dash():
    assert duration(START, None) == "—"


@pytest.mark.parametrize(
    ("code", "shown"), [(None, "—"), (0, "0"), (2, "2"), (-15, "-15 (ended by SIGTERM)"), (-9, "-9 (ended by SIGKILL)")]
)
def test_an_exit_code_names_the_signal_that_ended_the_process(code, shown):
    assert exit_code(code) == shown
