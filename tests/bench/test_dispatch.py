"""Dispatch latency: simulated agents wait in long-poll on one daphne; jobs are started one at a time through
the service layer, each once an agent received the one before; how long until an agent holds each job.

Run by `make bench`, on PostgreSQL and on SQLite (a migrated SQLite file that daphne and this process share;
with TEST_DATABASE=sqlite, the suite's own SQLite database). The knobs come from the environment:

    BENCH_DISPATCH_AGENTS   simulated agents, all in one hybrid worker group, capacity 1 each   (default 20)
    BENCH_DISPATCH_JOBS     jobs measured                                                       (1000)
    BENCH_DISPATCH_WARMUP   jobs dispatched first and not measured (imports, connections)       (20)
    BENCH_DISPATCH_CLAIM    `claim` of the agents' end reports: 0 leaves every job to a long-poll (0)
    BENCH_DISPATCH_SETTLE_MS  before each job, wait until every agent waits again, then this long (50);
                            -1: start each job as soon as the last one was received

The agents (tests/bench/simagents.py) run in a process of their own: each registered as a real worker
through the API with the account key, then `POST jobs/next` with wait=25, `POST jobs/{id}/finish` (Completed)
for each job it gets, and back to waiting. The benchmark process starts the jobs with
automation.services.jobs.start_job on the same database, timing from just before the call (and from its
return) to the moment the agent had read the answer carrying the job (time.perf_counter, one clock for both
processes). Both processes share the machine's cores with daphne, the database and Redis.

A benchmark asserts correctness only (every job reached exactly one agent and ended Completed), never time.
"""

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from tests.bench import support
from tests.bench.simagents import Fleet

GROUP = "bench-dispatch"
RUNBOOK = "bench-exit0"
LONG_POLL_SECONDS = 25
KNOBS = ("BENCH_DISPATCH_",)


def _config() -> dict:
    return {
        "agents": support.env_number("BENCH_DISPATCH_AGENTS", 20, int, 1, 5000),
        "jobs": support.env_number("BENCH_DISPATCH_JOBS", 1000, int, 1, 1_000_000),
        "warmup": support.env_number("BENCH_DISPATCH_WARMUP", 20, int, 0, 10_000),
        "claim": support.env_number("BENCH_DISPATCH_CLAIM", 0, int, 0, 1),
        "settle_ms": support.env_number("BENCH_DISPATCH_SETTLE_MS", 50, int, -1, 60_000),
    }


def run_dispatch(*, label: str, daphne_env: dict[str, str], log_dir: Path, redis_url: str, postmaster: int | None):
    from automation.models import FINAL_STATUSES, Job, JobStatus
    from automation.services.actor import Actor
    from automation.services.groups import create_group
    from automation.services.jobs import start_job

    config = _config()
    setup = support.make_account("bench-dispatch")
    support.publish_bash(setup.account, RUNBOOK, "exit 0\n")
    group = create_group(account=setup.account, name=GROUP, actor=Actor.for_system())
    actor = Actor.for_system()
    busy_before = support.machine_busy(1.0)

    access_log = log_dir / f"access-dispatch-{label}-{time.monotonic_ns()}.log"
    process, url = support.start_daphne({**daphne_env, **support.NO_AUTH_LIMIT}, log_dir, access_log=access_log)
    fleet = None
    try:
        endpoint = f"{url}/agentsvc/accounts/{setup.account.pk}"
        fleet = Fleet(
            {
                "endpoint": endpoint,
                "key": setup.key,
                "groups": [GROUP] * config["agents"],
                "capacity": 1,
                "wait": LONG_POLL_SECONDS,
                "claim": config["claim"],
                "name_prefix": "dispatch",
            }
        )
        fleet.registered(timeout=120 + config["agents"])
        settle = support.wait_until_waiting(redis_url, [group.pk], config["agents"], 60 + config["agents"] / 10)

        def start(_: int):
            return start_job(account=setup.account, runbook_name=RUNBOOK, group_name=GROUP, actor=actor)

        ready = None
        if config["settle_ms"] >= 0:

            def ready() -> None:
                support.all_waiting(redis_url, [group.pk], config["agents"], config["settle_ms"] / 1000)

        support.dispatch_serially(fleet, start, config["warmup"], ready=ready)
        log = support.AccessLog(access_log)
        time.sleep(0.5)  # the last warm-up job's end report
        log.mark()
        meters = support.Meters(daphne=process.popen.pid, database=postmaster, agents=fleet.pid, bench=os.getpid())
        transactions = support.pg_transactions() if postmaster else None
        meters.mark("start")
        rss_before = support.rss(process.popen.pid)
        samples = support.dispatch_serially(fleet, start, config["jobs"], ready=ready)
        meters.mark("end")
        rss_after = support.rss(process.popen.pid)
        time.sleep(0.5)  # the last end report
        if transactions is not None:
            transactions = support.pg_transactions() - transactions
        kinds, statuses = log.count()
        stats = fleet.report()
        daphne_alive = process.alive()
    finally:
        stats_at_stop = fleet.stop() if fleet is not None else None
        process.stop()

    measured = [s.job_id for s in samples]
    rows = {
        str(pk): (status, worker, attempt, pickup)
        for pk, status, worker, attempt, pickup in Job.objects.filter(pk__in=measured).values_list(
            "pk", "status", "worker_id", "attempt", "pickup_ms"
        )
    }
    final = [job_id for job_id, row in rows.items() if row[0] in FINAL_STATUSES]
    incomplete = [job_id for job_id, row in rows.items() if row[0] != JobStatus.COMPLETED]
    per_agent = Counter(s.agent for s in samples)
    wall = samples[-1].received - samples[0].called if samples else 0.0
    pickups = [float(row[3]) for row in rows.values() if row[3] is not None]
    n = max(len(samples), 1)
    support.banner(
        f"DISPATCH LATENCY on {label}: {config['agents']} simulated agents in long-poll on one daphne, "
        f"{config['jobs']} jobs started one at a time through start_job()",
        [
            f"{'command:':<22}{support.command_line(KNOBS)}",
            f"{'machine:':<22}{support.machine_line()}",
            f"{'other load:':<22}machine {busy_before:.0f}% busy in the second before daphne started",
            f"{'setup:':<22}{config['agents']} agents (one process, asyncio + httpx, registered through the API), "
            f"one group, capacity 1 each; long-poll wait {LONG_POLL_SECONDS} s; end reports claim="
            f"{config['claim']}; {config['warmup']} warm-up jobs not counted; all {config['agents']} long-polls "
            f"were waiting {settle:.1f} s after the registrations",
            f"{'pacing:':<22}"
            + (
                f"each job once all {config['agents']} long-polls wait again (Redis) and {config['settle_ms']} ms "
                "more, so that it has to wake one"
                if config["settle_ms"] >= 0
                else "each job as soon as the last one was received (the agent that took it may pick the next up "
                "as it comes back, without a wake-up)"
            ),
            *support.dispatch_lines(samples, pickups),
            f"{'pace:':<22}{len(samples) / max(wall, 1e-9):.1f} jobs/s (one job in flight at a time, paced as above)",
            f"{'received through:':<22}{dict(Counter(s.via for s in samples))}; jobs per agent: min "
            f"{min(per_agent.values(), default=0)}, max {max(per_agent.values(), default=0)} over "
            f"{len(per_agent)} agents",
            f"{'requests per job:':<22}{sum(kinds.values()) / n:.2f} in all (daphne's access log): "
            + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(kinds.items()))
            + f"; statuses {dict(statuses)}",
            *(
                [
                    f"{'PostgreSQL:':<22}{transactions / n:.1f} transactions per job (every waiting long-poll of "
                    "the group wakes and looks for work; one gets the job)"
                ]
                if transactions is not None
                else []
            ),
            f"{'CPU while measured:':<22}{wall:.1f} s wall",
            *meters.lines("start", "end"),
            f"{'daphne RSS:':<22}{rss_before / support.MiB:.0f} MiB before, {rss_after / support.MiB:.0f} MiB after",
            *[f"{'daphne logged:':<22}{line}" for line in support.server_errors(process.log)],
            f"{'agents saw:':<22}{stats}",
        ],
    )

    # Correctness only, never time.
    assert daphne_alive, "daphne exited during the benchmark"
    assert len(samples) == config["jobs"]
    assert len(set(measured)) == len(measured), "a job reached two agents"
    assert len(final) == len(measured), f"{len(measured) - len(final)} jobs did not end"
    assert not incomplete, f"jobs that did not end Completed: {incomplete[:5]}"
    assert all(row[2] == 1 for row in rows.values()), "a job was handed out more than once"
    assert not [k for k in statuses if k.startswith("5")], f"daphne answered 5xx: {statuses}"
    assert stats_at_stop is None or not stats_at_stop["errors"], f"agents' errors: {stats_at_stop['errors']}"


def test_dispatch_latency_postgresql(transactional_db, server_env, log_dir, redis_url, postgres):
    assert connection.vendor == "postgresql"
    run_dispatch(
        label="PostgreSQL",
        daphne_env=server_env,
        log_dir=log_dir,
        redis_url=redis_url,
        postmaster=support.postmaster_pid(postgres),
    )


@pytest.mark.sqlite
def test_dispatch_latency_sqlite(transactional_db, server_env, log_dir, redis_url, run_dir):
    if connection.vendor == "sqlite":  # TEST_DATABASE=sqlite: the suite's database is SQLite already
        run_dispatch(label="SQLite", daphne_env=server_env, log_dir=log_dir, redis_url=redis_url, postmaster=None)
        return
    with support.sqlite_default_database(run_dir / f"bench-dispatch-{time.monotonic_ns()}.sqlite3") as url:
        run_dispatch(
            label="SQLite",
            daphne_env={**server_env, "DATABASE_URL": url},
            log_dir=log_dir,
            redis_url=redis_url,
            postmaster=None,
        )
