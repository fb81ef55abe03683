"""Retention: what is purged when, in batches of short transactions, from the service, the task, the beat
and `manage.py purge`; and the RETENTION_* settings read from the environment."""

import io
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation import tasks
from automation.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    AuditEvent,
    Job,
    JobStatus,
    JobStream,
    Notification,
    NotificationReceipt,
)
from automation.services.errors import InvalidInput
from automation.services.retention import PurgeCounts, purge_expired
from tests.support.celery_beat import start_celery_beat
from tests.support.processes import BASE_DIR, start_celery_worker
from tests.support.waiting import wait_until

NOW = timezone.now().replace(microsecond=0)
DAY = timedelta(days=1)
NOTHING = PurgeCounts().as_dict()


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.RETENTION_JOB_DAYS = 30
    settings.RETENTION_NOTIFICATION_DAYS = 30
    settings.RETENTION_AUDIT_DAYS = 365
    settings.RETENTION_BATCH_SIZE = 1000


def job(account, *, status=JobStatus.COMPLETED, ended_at=None, records=0, name="nightly") -> Job:
    made = Job.objects.create(
        account=account, runbook_name=name, version_number=1, group_name="lab", status=status, ended_at=ended_at
    )
    JobStream.objects.bulk_create(
        JobStream(job=made, seq=seq, stream="output", text=f"line {seq}", time=NOW) for seq in range(records)
    )
    return made


def ended(days_ago: float, **kwargs):
    return {"status": kwargs.pop("status", JobStatus.COMPLETED), "ended_at": NOW - timedelta(days=days_ago), **kwargs}


def notification(people, *, days_ago: float, updated_days_ago: float | None = None, state="", readers=()):
    made = Notification.objects.create(account=people.account, title=f"{state or 'plain'} {days_ago}", state=state)
    NotificationReceipt.objects.bulk_create(NotificationReceipt(notification=made, user=user) for user in readers)
    updated = days_ago if updated_days_ago is None else updated_days_ago
    Notification.objects.filter(pk=made.pk).update(
        created_at=NOW - timedelta(days=days_ago), updated_at=NOW - timedelta(days=updated)
    )
    return made


def audit_event(days_ago: float) -> AuditEvent:
    made = AuditEvent.objects.create(action="account.create", actor_name="system")
    AuditEvent.objects.filter(pk=made.pk).update(created_at=NOW - timedelta(days=days_ago))
    return made


def remaining(model) -> set:
    return set(model.objects.values_list("pk", flat=True))


@contextmanager
def recorded_transactions():
    """Each statement on the default connection with the rows it touched, and a marker at each commit."""
    events: list[tuple] = []
    conn = connections["default"]
    original_commit = conn.commit

    def commit():
        original_commit()
        events.append(("COMMIT", 0))

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        events.append((sql, context["cursor"].rowcount))
        return result

    vars(conn)["commit"] = commit
    try:
        with conn.execute_wrapper(record):
            yield events
    finally:
        del vars(conn)["commit"]


def transactions(events) -> list[list[tuple]]:
    """The statements grouped by the commit that ended them."""
    groups, current = [], []
    for sql, rows in events:
        if sql == "COMMIT":
            groups.append(current)
            current = []
        else:
            current.append((sql, rows))
    return groups


def deletes_from(model, statements) -> list[int]:
    table = model._meta.db_table
    return [rows for sql, rows in statements if sql.startswith(f'DELETE FROM "{table}"') and rows > 0]


# ---- jobs and their streams ------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_old_ended_jobs_go_with_all_their_streams_a_small_batch_per_transaction(people, settings):
    settings.RETENTION_BATCH_SIZE = 5
    old = [
        job(people.account, **ended(31), records=23),
        job(people.account, **ended(45, status=JobStatus.FAILED), records=7),
        job(people.account, **ended(400, status=JobStatus.STOPPED)),
    ]
    kept = job(people.account, **ended(29), records=4)
    kept_streams = set(kept.streams.values_list("pk", flat=True))

    with recorded_transactions() as events:
        counts = purge_expired(now=NOW)

    assert counts == PurgeCounts(jobs=3, streams=30)
    assert remaining(Job) == {kept.pk}
    assert remaining(JobStream) == kept_streams
    assert not JobStream.objects.filter(job_id__in=[j.pk for j in old]).exists()
    committed = transactions(events)
    stream_batches = [deletes_from(JobStream, statements) for statements in committed]
    # Every stream deletion is a transaction of its own, of at most 5 rows: 23 + 7 = 6 full batches.
    assert [batch for batch in stream_batches if batch] == [[5]] * 6
    for statements in committed:
        assert not (deletes_from(JobStream, statements) and deletes_from(Job, statements))
    # The jobs go after their streams, together: 3 < 5.
    job_batches = [deletes_from(Job, statements) for statements in committed]
    assert [batch for batch in job_batches if batch] == [[3]]
    assert job_batches.index([3]) > max(i for i, batch in enumerate(stream_batches) if batch)


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_job_with_more_records_than_a_batch_is_purged_in_batches(people, settings):
    settings.RETENTION_BATCH_SIZE = 50
    big = job(people.account, **ended(60), records=1234)

    with CaptureQueriesContext(connection) as queries:
        counts = purge_expired(now=NOW)

    assert counts == PurgeCounts(jobs=1, streams=1234)
    assert not Job.objects.filter(pk=big.pk).exists()
    assert not JobStream.objects.exists()
    table = JobStream._meta.db_table
    by_pk = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'DELETE FROM "{table}" WHERE')]
    # 25 batches of at most 50 rows, then the job's own deletion (which finds none left).
    assert len(by_pk) == 26


@pytest.mark.sqlite
@pytest.mark.django_db
@pytest.mark.parametrize("status", OPEN_STATUSES)
def test_an_open_job_stays_however_old(people, status):
    # The status decides: an ended_at on a job that is not final does not make it ended.
    never_ended = job(people.account, status=status, records=3)
    stale = job(people.account, status=status, ended_at=NOW - 400 * DAY, records=3)
    Job.objects.update(created_at=NOW - 400 * DAY)

    assert purge_expired(now=NOW).as_dict() == NOTHING
    assert remaining(Job) == {never_ended.pk, stale.pk}
    assert JobStream.objects.count() == 6


@pytest.mark.django_db
@pytest.mark.parametrize("status", FINAL_STATUSES)
def test_an_ended_job_goes_only_once_its_retention_has_passed(people, status):
    just_in = job(people.account, **ended(30, status=status), records=1)
    just_out = job(people.account, **ended(30.0001, status=status), records=1)

    counts = purge_expired(now=NOW)

    assert (counts.jobs, counts.streams) == (1, 1)
    assert remaining(Job) == {just_in.pk}
    assert not Job.objects.filter(pk=just_out.pk).exists()


@pytest.mark.django_db
def test_the_job_retention_comes_from_the_settings(people, settings):
    settings.RETENTION_JOB_DAYS = 7
    week_old = job(people.account, **ended(8), records=2)
    fresh = job(people.account, **ended(6), records=2)

    assert purge_expired(now=NOW) == PurgeCounts(jobs=1, streams=2)
    assert remaining(Job) == {fresh.pk}
    assert not Job.objects.filter(pk=week_old.pk).exists()


@pytest.mark.django_db
def test_more_ended_jobs_than_a_batch_all_go(people, settings):
    settings.RETENTION_BATCH_SIZE = 4
    for n in range(11):
        job(people.account, **ended(31 + n), records=n % 3)
    kept = job(people.account, **ended(1), records=2)

    assert purge_expired(now=NOW) == PurgeCounts(jobs=11, streams=10)
    assert remaining(Job) == {kept.pk}
    assert JobStream.objects.count() == 2


# ---- notifications and audit -----------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.django_db
def test_finished_notifications_past_their_retention_go_with_their_receipts(people):
    readers = (people.owner, people.reader)
    gone = [
        notification(people, days_ago=31, readers=readers),
        notification(people, days_ago=90, state=Notification.State.SUCCEEDED, readers=readers[:1]),
        notification(people, days_ago=31, state=Notification.State.FAILED),
    ]
    kept = {
        notification(people, days_ago=29, readers=readers).pk,
        # Still running a task that will update it.
        notification(people, days_ago=90, state=Notification.State.IN_PROGRESS).pk,
        # Created long ago, finished yesterday.
        notification(people, days_ago=90, updated_days_ago=1, state=Notification.State.SUCCEEDED).pk,
    }

    counts = purge_expired(now=NOW)

    assert (counts.notifications, counts.receipts) == (3, 3)
    assert remaining(Notification) == kept
    assert not NotificationReceipt.objects.filter(notification__in=gone).exists()
    assert NotificationReceipt.objects.count() == 2


@pytest.mark.django_db
def test_the_notification_retention_comes_from_the_settings(people, settings):
    settings.RETENTION_NOTIFICATION_DAYS = 3
    notification(people, days_ago=4)
    kept = notification(people, days_ago=2)

    assert purge_expired(now=NOW).notifications == 1
    assert remaining(Notification) == {kept.pk}


@pytest.mark.sqlite
@pytest.mark.django_db
def test_audit_entries_go_after_a_year_by_default_and_after_the_configured_days(settings):
    old = audit_event(366)
    recent = audit_event(364)

    assert purge_expired(now=NOW).audit_events == 1
    assert remaining(AuditEvent) == {recent.pk}
    assert not AuditEvent.objects.filter(pk=old.pk).exists()

    settings.RETENTION_AUDIT_DAYS = 90
    assert purge_expired(now=NOW).audit_events == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_many_audit_entries_go_a_batch_at_a_time(settings):
    settings.RETENTION_BATCH_SIZE = 7
    AuditEvent.objects.bulk_create(AuditEvent(action="account.create", actor_name="system") for _ in range(30))
    AuditEvent.objects.update(created_at=NOW - 400 * DAY)
    kept = audit_event(10)

    assert purge_expired(now=NOW).audit_events == 30
    assert remaining(AuditEvent) == {kept.pk}


# ---- idempotence -----------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_second_purge_finds_nothing_left(people):
    job(people.account, **ended(40), records=3)
    notification(people, days_ago=40)
    audit_event(400)

    assert purge_expired(now=NOW) == PurgeCounts(jobs=1, streams=3, notifications=1, audit_events=1)
    assert purge_expired(now=NOW).as_dict() == NOTHING


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_two_purges_at_once_delete_everything_once(people, settings):
    settings.RETENTION_BATCH_SIZE = 10
    for n in range(12):
        job(people.account, **ended(31 + n), records=25)
    kept = job(people.account, **ended(2), records=5)
    for n in range(15):
        notification(people, days_ago=31 + n, readers=(people.owner,))
    for n in range(15):
        audit_event(366 + n)
    before_audit = AuditEvent.objects.count()
    start = threading.Barrier(2)
    results, errors = [], []

    def purge():
        try:
            start.wait()
            results.append(purge_expired(now=NOW))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=purge) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    totals = {kind: sum(r.as_dict()[kind] for r in results) for kind in NOTHING}
    assert totals == {
        "jobs": 12,
        "streams": 300,
        "notifications": 15,
        "receipts": 15,
        "audit_events": 15,
        "signin_records": 0,
    }
    assert remaining(Job) == {kept.pk}
    assert JobStream.objects.count() == 5
    assert not Notification.objects.exists()
    assert AuditEvent.objects.count() == before_audit - 15


# ---- the task, the beat and the command ------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_task_purges_and_returns_the_counts(people):
    job(people.account, **ended(31), records=2)
    job(people.account, status=JobStatus.RUNNING, records=2)
    audit_event(400)

    assert tasks.purge_expired() == {**NOTHING, "jobs": 1, "streams": 2, "audit_events": 1}


def test_the_beat_runs_the_purge_every_sweep_period():
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired"]
    assert entry["task"] == tasks.purge_expired.name == "automation.purge_expired"
    assert entry["task"] in app.tasks
    assert entry["schedule"] == settings.RETENTION_SWEEP_SECONDS == 3600
    # A purge that waited a whole period in the queue is stale: the next one does its work.
    assert entry["options"]["expires"] == settings.RETENTION_SWEEP_SECONDS


@pytest.mark.django_db(transaction=True)
def test_celery_beat_has_a_real_worker_purge_on_its_schedule(people, server_env, log_dir, tmp_path):
    old = job(people.account, **ended(31), records=40)
    running = job(people.account, status=JobStatus.RUNNING, records=2)
    env = {**server_env, "RETENTION_SWEEP_SECONDS": "1", "RETENTION_BATCH_SIZE": "16"}
    worker = start_celery_worker(env, log_dir)
    beat = start_celery_beat(env, log_dir, tmp_path / "beat")
    try:
        said = lambda: worker.output()[-3000:]  # noqa: E731
        wait_until(lambda: not Job.objects.filter(pk=old.pk).exists(), "the old job to go", timeout=60, context=said)
        wait_until(
            lambda: "automation.purge_expired" in worker.output() and "succeeded" in worker.output(),
            "the worker to log the purge's success",
            timeout=60,
            context=said,
        )
    finally:
        beat.stop()
        worker.stop()

    assert "Sending due task purge-expired (automation.purge_expired)" in beat.output()
    assert "Retention purge deleted 1 jobs, 40 streams" in worker.output()
    assert remaining(Job) == {running.pk}
    assert JobStream.objects.count() == 2


@pytest.mark.sqlite
@pytest.mark.django_db
def test_manage_py_purge_runs_once_and_prints_the_counts(people):
    job(people.account, **ended(31), records=3)
    notification(people, days_ago=31, readers=(people.owner, people.reader))
    out = io.StringIO()

    call_command("purge", "--batch-size", "2", stdout=out)

    assert out.getvalue().splitlines() == [
        "jobs: 1",
        "streams: 3",
        "notifications: 1",
        "receipts: 2",
        "audit_events: 0",
        "signin_records: 0",
    ]
    assert not Job.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["0", "-5", "10001"])
def test_manage_py_purge_refuses_a_batch_size_out_of_bounds(people, size):
    job(people.account, **ended(31), records=3)

    with pytest.raises(CommandError, match=f"--batch-size must be from 1 to 10000, got {size}"):
        call_command("purge", "--batch-size", size, stdout=io.StringIO())

    assert Job.objects.exists()


@pytest.mark.sqlite
@pytest.mark.django_db
@pytest.mark.parametrize("size", [0, -5, 10_001])
def test_the_purge_refuses_a_batch_size_outside_the_bound_of_the_setting(people, size):
    job(people.account, **ended(31), records=3)

    with pytest.raises(InvalidInput, match=f"must be from 1 to 10000, got {size}"):
        purge_expired(batch_size=size)

    assert Job.objects.exists()


@pytest.mark.django_db
def test_manage_py_purge_takes_its_bound_from_the_setting(people, settings):
    """One bound for RETENTION_BATCH_SIZE and --batch-size: the command does not keep its own."""
    settings.RETENTION_BATCH_SIZE_MAX = 3
    job(people.account, **ended(31), records=3)

    with pytest.raises(CommandError, match="--batch-size must be from 1 to 3, got 4"):
        call_command("purge", "--batch-size", "4", stdout=io.StringIO())
    call_command("purge", "--batch-size", "3", stdout=io.StringIO())

    assert not Job.objects.exists()


# ---- settings from the environment -----------------------------------------------------

RETENTION_VARIABLES = (
    "RETENTION_JOB_DAYS",
    "RETENTION_NOTIFICATION_DAYS",
    "RETENTION_AUDIT_DAYS",
    "RETENTION_BATCH_SIZE",
    "RETENTION_SWEEP_SECONDS",
)
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    f"print(*[getattr(s, name) for name in {RETENTION_VARIABLES!r}], "
    "s.CELERY_BEAT_SCHEDULE['purge-expired']['schedule'])"
)


def settings_process(tmp_path, **variables) -> subprocess.CompletedProcess:
    """A fresh Python that loads portal.settings with these variables (and no other RETENTION_*). It reaches
    no database, so the tests that only read settings are not in the SQLite pass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETENTION_", "PYTEST_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "VAR_DIR": str(tmp_path),
            "SECRET_KEY": "not-a-secret",
            "ACCOUNT_KEY_ENCRYPTION_KEY": settings.ACCOUNT_KEY_ENCRYPTION_KEYS[0],
            **variables,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_retention_defaults_to_azures_30_days_and_a_year_of_audit(tmp_path):
    result = settings_process(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["30", "30", "365", "1000", "3600", "3600"]


def test_retention_settings_are_read_from_the_environment(tmp_path):
    result = settings_process(
        tmp_path,
        RETENTION_JOB_DAYS="7",
        RETENTION_NOTIFICATION_DAYS="14",
        RETENTION_AUDIT_DAYS="730",
        RETENTION_BATCH_SIZE="10000",
        RETENTION_SWEEP_SECONDS="600",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", "14", "730", "10000", "600", "600"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RETENTION_JOB_DAYS", "thirty", "RETENTION_JOB_DAYS must be a whole number, got 'thirty'"),
        ("RETENTION_JOB_DAYS", "0", "RETENTION_JOB_DAYS must be at least 1, got 0"),
        ("RETENTION_NOTIFICATION_DAYS", "1.5", "RETENTION_NOTIFICATION_DAYS must be a whole number, got '1.5'"),
        ("RETENTION_AUDIT_DAYS", "-1", "RETENTION_AUDIT_DAYS must be at least 1, got -1"),
        ("RETENTION_BATCH_SIZE", "0", "RETENTION_BATCH_SIZE must be at least 1, got 0"),
        ("RETENTION_BATCH_SIZE", "1e3", "RETENTION_BATCH_SIZE must be a whole number, got '1e3'"),
        ("RETENTION_BATCH_SIZE", "10001", "RETENTION_BATCH_SIZE must be at most 10000, got 10001"),
        ("RETENTION_SWEEP_SECONDS", "hourly", "RETENTION_SWEEP_SECONDS must be a whole number, got 'hourly'"),
    ],
)
def test_a_bad_retention_value_stops_the_process_naming_the_variable(tmp_path, variable, value, message):
    result = settings_process(tmp_path, **{variable: value})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


@pytest.mark.sqlite
@pytest.mark.django_db
def test_sign_in_records_go_with_the_audit_and_failure_counts_after_their_cool_off(settings):
    """Each username an anonymous client tries adds django-axes rows: they are not kept for ever."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    settings.RETENTION_AUDIT_DAYS = 30
    settings.LOGIN_COOLOFF_SECONDS = 900
    seen = {"user_agent": "test", "ip_address": "192.0.2.1", "http_accept": "*/*", "path_info": "/login/"}

    def made(model, age: timedelta, **fields):
        row = model.objects.create(username=f"user-{model.__name__}-{age}", **seen, **fields)
        model.objects.filter(pk=row.pk).update(attempt_time=NOW - age)
        return model.__name__, row.pk

    kept = {
        made(AccessLog, 29 * DAY),
        made(AccessFailureLog, 29 * DAY, locked_out=False),
        made(AccessAttempt, timedelta(seconds=899), get_data="", post_data="", failures_since_start=5),
    }
    gone = {
        made(AccessLog, 31 * DAY),
        made(AccessFailureLog, 31 * DAY, locked_out=True),
        made(AccessAttempt, timedelta(seconds=901), get_data="", post_data="", failures_since_start=5),
    }

    assert purge_expired(now=NOW).signin_records == len(gone)
    left = {(model.__name__, pk) for model in (AccessLog, AccessFailureLog, AccessAttempt) for pk in remaining(model)}
    assert left == kept
