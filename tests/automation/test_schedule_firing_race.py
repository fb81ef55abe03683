"""Exactly once per fire with several ticking processes racing on PostgreSQL: four processes (each what a
Celery worker running the beat's tick is) fire the same 30 schedules of 3 runbooks each at the same travelled
moments. However they interleave, every fire instant of every link is recorded once (started, or within one
missed range), and every started fire has a job of its own: no fire twice, none lost.

Nothing is timed: the racers start together on a file appearing and run as fast as the database lets them.
"""

import json
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from automation.models import FireOutcome, Job, ScheduleFire, ScheduleLink, StartedBy
from automation.services.actor import Actor
from automation.services.schedules import create_schedule, link_schedule
from tests.support.builders import make_group, make_runbook
from tests.support.processes import Process
from tests.support.waiting import wait_until

SYSTEM = Actor.for_system()
RACERS = 4
SCHEDULES = 30
RUNBOOKS = ("backup", "report", "cleanup")
T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MOMENTS = [T, T + timedelta(minutes=1), T + timedelta(minutes=2), T + timedelta(minutes=2, seconds=30)]
# Every fire instant of a schedule that started two minutes before T, up to the last moment.
INSTANTS = [T + timedelta(minutes=m) for m in range(-2, 3)]


@pytest.mark.django_db(transaction=True)
def test_racing_ticks_fire_every_instant_of_every_link_exactly_once(people, server_env, log_dir, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED and concurrent writers: PostgreSQL")
    make_group(people.account, "lab")
    for name in RUNBOOKS:
        make_runbook(people.account, name)
    for n in range(SCHEDULES):
        create_schedule(
            account=people.account,
            name=f"every minute {n}",
            start_time=T - timedelta(minutes=2),
            frequency="Minute",
            actor=SYSTEM,
            now=T - timedelta(minutes=3),
        )
        for runbook in RUNBOOKS:
            link_schedule(
                account=people.account,
                runbook_name=runbook,
                schedule_name=f"every minute {n}",
                run_on="lab",
                actor=SYSTEM,
            )
    go = tmp_path / "go"
    env = {**server_env, "SCHEDULE_MISSED_GRACE_SECONDS": "300"}
    command = [sys.executable, "-m", "tests.support.fire_schedules", str(go), *(m.isoformat() for m in MOMENTS)]
    racers = [
        Process(f"racer-{i}", command, env, log_dir / f"fire-racer-{i}-{tmp_path.name}.log") for i in range(RACERS)
    ]
    try:
        for racer in racers:
            wait_until(lambda r=racer: "ready" in r.output() or not r.alive(), f"{racer.name} to start")
        go.touch()
        for racer in racers:
            wait_until(lambda r=racer: not r.alive(), f"{racer.name} to finish", timeout=240, context=racer.output)
            assert racer.popen.returncode == 0, racer.output()
        totals = [json.loads(racer.output().strip().splitlines()[-1]) for racer in racers]
    finally:
        for racer in racers:
            racer.stop()

    links = SCHEDULES * len(RUNBOOKS)
    assert ScheduleLink.objects.count() == links
    covered: dict = {}
    for fire in ScheduleFire.objects.all():
        if fire.outcome == FireOutcome.MISSED:
            span = [i for i in INSTANTS if fire.fire_time <= i <= fire.missed_until]
            assert len(span) == fire.missed_count
        else:
            assert fire.outcome == FireOutcome.STARTED, (fire.outcome, fire.reason)
            span = [fire.fire_time]
        for instant in span:
            covered.setdefault((fire.link_id, instant), []).append(fire.outcome)
    twice = {key: outcomes for key, outcomes in covered.items() if len(outcomes) > 1}
    assert twice == {}, f"{len(twice)} fire(s) recorded more than once"
    assert len(covered) == links * len(INSTANTS), "every instant of every link is recorded"

    started = ScheduleFire.objects.filter(outcome=FireOutcome.STARTED)
    assert started.values("job").distinct().count() == started.count() == Job.objects.count()
    assert not started.filter(job__isnull=True).exists()
    assert set(Job.objects.values_list("started_by_kind", flat=True)) == {StartedBy.SCHEDULE}
    assert sum(t["started"] for t in totals) == started.count()
    print("racers' totals:", totals)
