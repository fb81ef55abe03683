"""The one rule for names, text and numbers (automation/validators.py) that every entry point applies
through the services: what each kind of text refuses and keeps, and how a JSON value is walked."""

import re

import pytest
from django.core.exceptions import ValidationError

from automation.validators import (
    CODE,
    LINE,
    MACHINE_ID_MAX_LENGTH,
    MACHINE_ID_MIN_LENGTH,
    MACHINE_ID_PATTERN,
    MAX_INT,
    MAX_JSON_DEPTH,
    MIN_INT,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    PARAMETER_NAME_PATTERN,
    TEXT,
    int_problem,
    is_name,
    is_parameter_name,
    json_problem,
    machine_id_problem,
    text_problem,
    validate_name,
    validate_text,
)

# Not in the SQLite pass (no `sqlite` mark): nothing here reaches the suite's database.

C0_BUT_TAB_LF_CR = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]


def code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


@pytest.mark.parametrize("char", [*C0_BUT_TAB_LF_CR, "\x7f", *C1, *SURROGATES], ids=code_point)
@pytest.mark.parametrize("kind", [LINE, TEXT])
def test_line_and_text_refuse_control_characters_and_lone_surrogates(kind, char):
    problem = text_problem(f"ab{char}cd", kind)

    assert problem is not None
    assert code_point(char) in problem and "position 2" in problem


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\u2028", "\u2029"], ids=code_point)
def test_one_line_refuses_tabs_and_every_line_break(char):
    assert code_point(char) in text_problem(f"a{char}b", LINE)


@pytest.mark.parametrize(
    "value",
    ["one\ntwo", "tab\there", "windows\r\nline ends\r\n", "sep\u2028arated", "para\u2029graph", "\n\n\t\n", ""],
)
def test_text_keeps_tabs_and_line_ends(value):
    assert text_problem(value, TEXT) is None


@pytest.mark.parametrize("value", ["cr alone\r", "\rat the start", "old mac\rline"])
def test_text_refuses_a_carriage_return_that_does_not_end_a_line(value):
    assert "U+000D" in text_problem(value, TEXT)


@pytest.mark.parametrize(
    "value",
    [
        "ünïcödé, 日本語, עברית, العربية, emoji 🚀",
        "bidi controls are shown isolated, not refused: \u202etxt.exe \u2066x\u2069 \u200f",
        "zero width \u200b\u200c\u200d and BOM \ufeff",
        "\xa0no-break space and \xad soft hyphen",
    ],
)
@pytest.mark.parametrize("kind", [LINE, TEXT, CODE])
def test_ordinary_unicode_is_text_of_every_kind(kind, value):
    assert text_problem(value, kind) is None


@pytest.mark.parametrize("char", ["\x00", *SURROGATES], ids=code_point)
def test_code_refuses_only_nul_and_lone_surrogates(char):
    assert code_point(char) in text_problem(f"echo {char}", CODE)


def test_code_keeps_every_other_control_character():
    script = "".join(chr(c) for c in range(1, 0x20)) + "\x7f" + "".join(C1) + "\u2028"

    assert text_problem(script, CODE) is None


def test_the_message_names_the_kind_of_character():
    assert "NUL" in text_problem("a\x00", TEXT)
    assert "surrogate" in text_problem("\ud800", TEXT)
    assert "line break" in text_problem("a\nb", LINE)
    assert "control character" in text_problem("\x1b[0m", TEXT)


def test_validate_text_names_the_field():
    with pytest.raises(ValidationError) as error:
        validate_text("a\x00b", TEXT, label="The description")

    assert error.value.messages == ["The description contains a NUL character (U+0000) at position 1."]
    validate_text("fine\n", TEXT, label="The description")


@pytest.mark.parametrize("value", [0, -1, 1, MIN_INT, MAX_INT])
def test_every_64_bit_integer_is_a_whole_number(value):
    assert int_problem(value) is None


@pytest.mark.parametrize(
    "value", [MAX_INT + 1, MIN_INT - 1, 10**400, True, False, 1.0, float("nan"), float("inf"), "1", None, [1]]
)
def test_anything_else_is_not(value):
    assert "whole number" in int_problem(value)


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(10**30), 2.5, 1e-300, "text\nwith lines", [], {}, {"a": [1, {"b": None}], "c": "d\te"}],
)
def test_json_values_that_any_store_and_page_can_take(value):
    assert json_problem(value) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("a\x00b", "(U+0000) at position 1 of the text at its top"),
        ({"k": ["ok", "x\x1b"]}, "(U+001B) at position 1 of the text at ['k'][1]"),
        ({"bad\x00key": 1}, "(U+0000) at position 3 of the key 'bad\\x00key' at its top"),
        ([float("nan")], "nan at [0]"),
        ({"x": float("inf")}, "inf at ['x']"),
        ({"x": float("-inf")}, "-inf at ['x']"),
        ({1: "non-text key"}, "key that is not text"),
        ({"set": {1, 2}}, "holds a set"),
    ],
)
def test_json_values_that_no_store_or_page_can_take(value, words):
    assert words in json_problem(value)


def test_json_nesting_is_bounded_without_recursion():
    shallow, deep = "x", "x"
    for _ in range(MAX_JSON_DEPTH - 1):
        shallow = [shallow]
    for _ in range(100_000):  # far past Python's recursion limit
        deep = {"k": [deep]}

    assert json_problem(shallow) is None
    assert f"more than {MAX_JSON_DEPTH} levels" in json_problem(deep)


def test_a_long_key_is_cut_short_in_the_message():
    problem = json_problem({"k" * 5000: {"x": "\x00"}})

    assert len(problem) < 200


@pytest.mark.parametrize(
    ("value", "ok"),
    [("web-01", True), ("Restart web.service v2", True), ("a\x00b", False), ("..", False), (5, False), ("", False)],
)
def test_is_name_follows_the_name_rule(value, ok):
    assert is_name(value) is ok


# ---- names and machine ids: one rule each, as code and as a JSON Schema pattern ----------------

NAMES = ["a", "web-01", "A.b_c-d", "x y", ". .", "..a", "a..", "-", "_", "9" * 128, "a" + " " * 126 + "b"]
NOT_NAMES = ["", ".", "..", " a", "a ", "a/b", "a\nb", "é", "a\x00", "9" * 129, "a\tb", "a" + " " * 127 + "b"]


@pytest.mark.parametrize("name", NAMES + NOT_NAMES)
def test_the_name_pattern_and_length_say_what_validate_name_says(name):
    as_schema = re.fullmatch(NAME_PATTERN, name) is not None and len(name) <= NAME_MAX_LENGTH

    assert as_schema == is_name(name) == (name in NAMES)


def test_a_name_that_is_not_text_is_refused():
    for value in [None, 5, ["a"], b"a"]:
        with pytest.raises(ValidationError):
            validate_name(value)


MACHINE_IDS = ["machine-0001", "a" * 8, "Z" * 64, "host.example_1-2"]
NOT_MACHINE_IDS = ["short", "a" * 65, "machine 0001", "machine/0001", "machïne-0001", "machine\x000001", 12345678, None]


@pytest.mark.parametrize("value", MACHINE_IDS + NOT_MACHINE_IDS, ids=repr)
def test_the_machine_id_pattern_and_lengths_say_what_machine_id_problem_says(value):
    as_schema = (
        isinstance(value, str)
        and re.fullmatch(MACHINE_ID_PATTERN, value) is not None
        and MACHINE_ID_MIN_LENGTH <= len(value) <= MACHINE_ID_MAX_LENGTH
    )

    assert as_schema == (machine_id_problem(value) is None) == (value in MACHINE_IDS)


def test_a_machine_id_problem_says_what_a_machine_id_is():
    assert machine_id_problem("short") == "is 8 to 64 ASCII characters, generated by the agent"
    assert machine_id_problem("machine 0001") == "holds letters, digits, '-', '_' and '.' only"


@pytest.mark.parametrize(
    ("value", "taken"),
    [
        ("service", True),
        ("_x9", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("9lives", False),
        ("a-b", False),
        ("", False),
        ("é", False),
        ("a b", False),
        (None, False),
        (5, False),
    ],
)
def test_a_parameter_name_is_a_variable_name_of_at_most_64_characters(value, taken):
    assert is_parameter_name(value) is taken
    as_schema = isinstance(value, str) and re.fullmatch(PARAMETER_NAME_PATTERN, value) and len(value) <= 64
    assert bool(as_schema) is taken
