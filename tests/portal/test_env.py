"""portal.env: the typed readers every setting goes through. A value they cannot use stops the process
with a message naming the variable; a secret may come from a file (`<NAME>_FILE`) and never appears in
a message."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_float, env_int, env_list, env_secret, env_str

# Not in the SQLite pass (no `sqlite` mark): nothing here reaches the suite's database.

NAME = "PORTAL_TEST_VARIABLE"


@pytest.fixture
def environ(monkeypatch):
    """Sets NAME (and NAME_FILE) for one test; neither is set otherwise."""
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.delenv(f"{NAME}_FILE", raising=False)

    def put(value: str, name: str = NAME) -> None:
        monkeypatch.setenv(name, value)

    return put


def refusal(reader, *args, **kwargs) -> str:
    with pytest.raises(ImproperlyConfigured) as raised:
        reader(NAME, *args, **kwargs)
    return str(raised.value)


# ---- env_str -------------------------------------------------------------------------------------


def test_a_string_is_the_default_when_unset_and_the_value_as_given_otherwise(environ):
    assert env_str(NAME, "fallback") == "fallback"
    environ(" spaced ")
    assert env_str(NAME, "fallback") == " spaced "


# ---- env_int -------------------------------------------------------------------------------------


def test_a_whole_number_is_the_default_when_unset_or_empty(environ):
    assert env_int(NAME, 7) == 7
    environ("")
    assert env_int(NAME, 7) == 7


def test_a_whole_number_is_read(environ):
    environ("-12")
    assert env_int(NAME, 7) == -12


@pytest.mark.parametrize("raw", ["seven", "1.5", "1e3", "0x10", "7 days"])
def test_what_is_not_a_whole_number_is_refused_naming_the_variable(environ, raw):
    environ(raw)
    assert refusal(env_int, 7) == f"{NAME} must be a whole number, got {raw!r}"


def test_a_whole_number_below_its_minimum_is_refused(environ):
    environ("0")
    assert refusal(env_int, 7, minimum=1) == f"{NAME} must be at least 1, got 0"


def test_a_whole_number_above_its_maximum_is_refused(environ):
    environ("10001")
    assert refusal(env_int, 7, maximum=10_000) == f"{NAME} must be at most 10000, got 10001"


@pytest.mark.parametrize("raw", ["1", "5", "10"])
def test_both_bounds_are_included(environ, raw):
    environ(raw)
    assert env_int(NAME, 7, minimum=1, maximum=10) == int(raw)


def test_a_default_outside_the_bounds_is_a_programming_error(environ):
    with pytest.raises(ValueError, match=f"{NAME}: the default 0 is out of bounds"):
        env_int(NAME, 0, minimum=1, maximum=10)


# ---- env_float -----------------------------------------------------------------------------------


def test_a_number_is_the_default_when_unset_or_empty_and_read_otherwise(environ):
    assert env_float(NAME, 2.5) == 2.5
    environ("")
    assert env_float(NAME, 2.5) == 2.5
    environ("0.25")
    assert env_float(NAME, 2.5) == 0.25
    environ("3")
    assert env_float(NAME, 2.5) == 3.0


@pytest.mark.parametrize("raw", ["fast", "1,5", "nan", "inf", "-Infinity"])
def test_what_is_not_a_finite_number_is_refused_naming_the_variable(environ, raw):
    environ(raw)
    assert refusal(env_float, 2.5) == f"{NAME} must be a number, got {raw!r}"


def test_a_number_outside_its_bounds_is_refused(environ):
    environ("0.05")
    assert refusal(env_float, 2.5, minimum=0.1) == f"{NAME} must be at least 0.1, got 0.05"
    environ("61")
    assert refusal(env_float, 2.5, maximum=60) == f"{NAME} must be at most 60, got 61"


def test_a_number_on_its_bounds_is_accepted(environ):
    environ("0.1")
    assert env_float(NAME, 2.5, minimum=0.1, maximum=60) == 0.1
    environ("60")
    assert env_float(NAME, 2.5, minimum=0.1, maximum=60) == 60.0


def test_a_number_default_outside_the_bounds_is_a_programming_error(environ):
    with pytest.raises(ValueError, match=f"{NAME}: the default 0.0 is out of bounds"):
        env_float(NAME, 0.0, minimum=0.1)


# ---- env_bool ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), (" yes ", True), ("on", True)])
def test_a_switch_is_on_for_the_words_that_say_so(environ, raw, value):
    environ(raw)
    assert env_bool(NAME, False) is value


@pytest.mark.parametrize("raw", ["0", "false", "No", "off", ""])
def test_a_switch_is_off_for_the_words_that_say_so_and_for_empty(environ, raw):
    environ(raw)
    assert env_bool(NAME, True) is False


def test_a_switch_is_the_default_when_unset_and_refuses_other_words(environ):
    assert env_bool(NAME, True) is True
    environ("maybe")
    assert refusal(env_bool, True) == f"{NAME} must be true or false, got 'maybe'"


# ---- env_list ------------------------------------------------------------------------------------


def test_a_list_is_comma_separated_trimmed_and_without_empty_items(environ):
    assert env_list(NAME, ["a"]) == ["a"]
    environ(" a, b ,,c ,")
    assert env_list(NAME, ["a"]) == ["a", "b", "c"]
    environ("")
    assert env_list(NAME, ["a"]) == []


# ---- env_secret: <NAME> or <NAME>_FILE -----------------------------------------------------------


def test_a_secret_is_the_default_when_neither_is_set(environ):
    assert env_secret(NAME, "") == ""


def test_a_secret_is_read_from_the_variable(environ):
    environ("s3cret value")
    assert env_secret(NAME, "") == "s3cret value"


@pytest.mark.parametrize("content", ["s3cret\n", "s3cret\r\n", "s3cret"])
def test_a_secret_is_read_from_its_file_without_the_trailing_newline(environ, tmp_path, content):
    path = tmp_path / "secret"
    path.write_bytes(content.encode())
    environ(str(path), f"{NAME}_FILE")

    assert env_secret(NAME, "") == "s3cret"


def test_a_secret_file_keeps_inner_and_leading_whitespace(environ, tmp_path):
    path = tmp_path / "secret"
    path.write_text(" a b\n")
    environ(str(path), f"{NAME}_FILE")

    assert env_secret(NAME, "") == " a b"


def test_a_secret_set_both_ways_is_refused_without_showing_it(environ, tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-the-file\n")
    environ("from-the-variable")
    environ(str(path), f"{NAME}_FILE")

    message = refusal(env_secret, "")

    assert message == f"Set {NAME} or {NAME}_FILE, not both"


def test_a_missing_secret_file_is_refused_naming_the_variable_and_the_path(environ, tmp_path):
    path = tmp_path / "nowhere"
    environ(str(path), f"{NAME}_FILE")

    assert refusal(env_secret, "") == f"{NAME}_FILE: cannot read {path}: No such file or directory"


def test_an_empty_secret_file_is_refused(environ, tmp_path):
    path = tmp_path / "empty"
    path.write_text("\n")
    environ(str(path), f"{NAME}_FILE")

    assert refusal(env_secret, "") == f"{NAME}_FILE: {path} is empty"


def test_a_secret_file_that_is_not_text_is_refused_without_quoting_it(environ, tmp_path):
    path = tmp_path / "binary"
    path.write_bytes(b"\xff\xfe-secret")
    environ(str(path), f"{NAME}_FILE")

    assert refusal(env_secret, "") == f"{NAME}_FILE: {path} is not UTF-8 text"


def test_an_empty_secret_file_variable_counts_as_unset(environ):
    environ("", f"{NAME}_FILE")
    assert env_secret(NAME, "fallback") == "fallback"
