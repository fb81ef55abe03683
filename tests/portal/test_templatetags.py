from datetime import UTC, datetime, timedelta

import pytest

from portal.templatetags.portal_extras import decimal, duration, exit_code, load_averages, size

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


# ---- numbers an agent reported: any stored value formats, none raises -------------------------------------

UNFORMATTABLE = {
    "10**400": 10**400,
    "-(10**400)": -(10**400),
    "2**63": 2**63,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
    "text": "lots",
    "a numeric string": "1024",
    "a list": [1],
    "an object": {"a": 1},
    "true": True,
    "null": None,
}


@pytest.mark.parametrize("value", UNFORMATTABLE.values(), ids=UNFORMATTABLE.keys())
def test_a_value_that_is_not_a_byte_count_shows_as_a_dash(value):
    assert size(value) == "—"
    assert decimal(value) == "—"


@pytest.mark.parametrize("value", [-1, -(2**63), -0.5], ids=["-1", "-(2**63)", "-0.5"])
def test_a_negative_byte_count_shows_as_a_dash(value):
    assert size(value) == "—"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0\xa0bytes"),
        (1536, "1.5\xa0KB"),
        (16 * 2**30, "16.0\xa0GB"),
        (2**63 - 1, "8192.0\xa0PB"),
        (2.5e9, "2.3\xa0GB"),
    ],
)
def test_a_byte_count_reads_in_the_unit_that_fits(value, shown):
    assert size(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ([0.5, 0.25, 1.5], "0.50, 0.25, 1.50"),
        ([2], "2.00"),
        ([1.7976931348623157e308], "1.7976931348623157e+308"),
        ([10**400, "high", None], "—, —, —"),
        ([0.1, 0.2, 0.3, 0.4], "0.10, 0.20, 0.30"),
        ([], "—"),
        (None, "—"),
        (10**400, "—"),
        ("0.5, 0.2", "—"),
        ({"1": 0.5}, "—"),
    ],
)
def test_load_averages_show_what_is_a_number_and_a_dash_for_the_rest(value, shown):
    assert load_averages(value) == shown
