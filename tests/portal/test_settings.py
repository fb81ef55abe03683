"""portal.settings as a fresh process loads it: the timings that must fit together, the secrets that may
come from files, and bounds. Each case runs `django.setup()` in a new Python with only the variables it
names (as `make run`, Celery or `manage.py` would start), so a refusal is the one a process would give."""

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.support.processes import BASE_DIR

# Not in the SQLite pass (no `sqlite` mark): nothing here reaches the suite's database.

# Variables the settings read that a test process may have set: each case starts without them.
READ_BY_SETTINGS = (
    "SECRET_KEY",
    "ACCOUNT_KEY_ENCRYPTION_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "HEARTBEAT_INTERVAL_SECONDS",
    "PRESENCE_SWEEP_SECONDS",
    "RETENTION_BATCH_SIZE",
    "DB_POOL_MAX_SIZE",
    "DB_CONN_MAX_AGE",
    "PORT",
)


def load_settings(tmp_path, *names: str, **variables: str) -> subprocess.CompletedProcess:
    """Loads the settings with `variables`, then prints the named settings one per line."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_")) and k.removesuffix("_FILE") not in READ_BY_SETTINGS
    }
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "VAR_DIR": str(tmp_path / "var"), **variables})
    script = "import django; django.setup(); from django.conf import settings as s; "
    script += "".join(f"print(repr(s.{name})); " for name in names)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def printed(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def refused(result: subprocess.CompletedProcess) -> str:
    """The ImproperlyConfigured line the process died with."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if "ImproperlyConfigured: " in line]
    assert lines, result.stderr
    return lines[-1].split("ImproperlyConfigured: ", 1)[1]


# ---- timings -------------------------------------------------------------------------------------


def test_the_default_timings_fit_together(tmp_path):
    heartbeat, missed, sweep = printed(
        load_settings(
            tmp_path, "HEARTBEAT_INTERVAL_SECONDS", "OFFLINE_AFTER_MISSED_HEARTBEATS", "PRESENCE_SWEEP_SECONDS"
        )
    )

    assert (heartbeat, missed, sweep) == ("15", "3", "5.0")


def test_a_sweep_too_slow_for_the_offline_window_stops_the_process_naming_both(tmp_path):
    """Offline after 3 x 2 s = 6 s; two heartbeats (4 s) and a sweep (3 s) do not fit in it."""
    result = load_settings(tmp_path, HEARTBEAT_INTERVAL_SECONDS="2", PRESENCE_SWEEP_SECONDS="3")

    assert refused(result) == (
        "PRESENCE_SWEEP_SECONDS (3) and HEARTBEAT_INTERVAL_SECONDS (2) do not fit together: a worker is offline "
        "after 3 missed heartbeats (6 s), which must leave room for 2 heartbeats and one sweep (7 s). "
        "Shorten PRESENCE_SWEEP_SECONDS or lengthen HEARTBEAT_INTERVAL_SECONDS."
    )


def test_a_sweep_that_just_fits_is_accepted(tmp_path):
    result = load_settings(
        tmp_path, "PRESENCE_SWEEP_SECONDS", HEARTBEAT_INTERVAL_SECONDS="2", PRESENCE_SWEEP_SECONDS="2"
    )

    assert printed(result) == ["2.0"]


@pytest.mark.parametrize(("heartbeat", "sweep"), [("1", "1.0"), ("60", "5.0")])
def test_the_sweep_defaults_to_5_s_or_a_heartbeat_if_that_is_shorter(tmp_path, heartbeat, sweep):
    """So a short heartbeat alone (as the agent tests set) still fits."""
    result = load_settings(tmp_path, "PRESENCE_SWEEP_SECONDS", HEARTBEAT_INTERVAL_SECONDS=heartbeat)

    assert printed(result) == [sweep]


def test_a_sweep_interval_must_be_positive(tmp_path):
    result = load_settings(tmp_path, PRESENCE_SWEEP_SECONDS="0")

    assert refused(result) == "PRESENCE_SWEEP_SECONDS must be at least 0.1, got 0"


# ---- secrets from files --------------------------------------------------------------------------


def secret_file(tmp_path, name: str, content: str):
    path = tmp_path / name
    path.write_text(content)
    path.chmod(0o600)
    return str(path)


def test_each_secret_can_come_from_a_file(tmp_path):
    fernet = Fernet.generate_key().decode()
    database = f"sqlite:///{tmp_path / 'from-file.sqlite3'}"
    result = load_settings(
        tmp_path,
        "SECRET_KEY",
        "ACCOUNT_KEY_ENCRYPTION_KEYS",
        "DATABASE_URL",
        "REDIS_URL",
        SECRET_KEY_FILE=secret_file(tmp_path, "secret_key", "a-secret-key-from-a-file\n"),
        ACCOUNT_KEY_ENCRYPTION_KEY_FILE=secret_file(tmp_path, "fernet", f"{fernet}, {fernet[::-1]}\n"),
        DATABASE_URL_FILE=secret_file(tmp_path, "database_url", database + "\n"),
        REDIS_URL_FILE=secret_file(tmp_path, "redis_url", "redis://:pw@127.0.0.1:6390/0\n"),
    )

    assert printed(result) == [
        repr("a-secret-key-from-a-file"),
        repr([fernet, fernet[::-1]]),
        repr(database),
        repr("redis://:pw@127.0.0.1:6390/0"),
    ]
    # Nothing was generated under var/: the file's values are the secrets.
    assert not (tmp_path / "var" / "secrets").exists() or not any((tmp_path / "var" / "secrets").iterdir())


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL"])
def test_a_secret_set_both_ways_stops_the_process_without_showing_it(tmp_path, name):
    value = "sqlite:///never-shown.sqlite3" if name == "DATABASE_URL" else "never-shown-value"
    result = load_settings(tmp_path, **{name: value, f"{name}_FILE": secret_file(tmp_path, "secret", value)})

    assert refused(result) == f"Set {name} or {name}_FILE, not both"
    assert "never-shown" not in result.stderr + result.stdout


def test_a_missing_secret_file_stops_the_process_naming_it(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY_FILE=str(tmp_path / "nowhere"))

    assert refused(result) == f"SECRET_KEY_FILE: cannot read {tmp_path / 'nowhere'}: No such file or directory"


# ---- bounds and single reads ---------------------------------------------------------------------


def test_a_retention_batch_over_its_bound_stops_the_process(tmp_path):
    result = load_settings(tmp_path, RETENTION_BATCH_SIZE="10001")

    assert refused(result) == "RETENTION_BATCH_SIZE must be at most 10000, got 10001"


def test_a_port_outside_the_tcp_range_stops_the_process(tmp_path):
    result = load_settings(tmp_path, PORT="65536")

    assert refused(result) == "PORT must be at most 65535, got 65536"


def test_a_negative_connection_age_stops_the_process(tmp_path):
    result = load_settings(tmp_path, DB_CONN_MAX_AGE="-1")

    assert refused(result) == "DB_CONN_MAX_AGE must be at least 0, got -1"
