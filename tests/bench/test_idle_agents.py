"""Idle agents: thousands of simulated agents wait in long-poll on ONE daphne process on PostgreSQL; what that
costs daphne (memory, CPU), and how fast a job still reaches one of them.

Run by `make bench`, never by `make test`. The knobs come from the environment:

    BENCH_IDLE_AGENTS             simulated agents, each with a connection of its own       (default 2000)
    BENCH_IDLE_GROUP_SIZE         agents per hybrid worker group                            (100)
    BENCH_IDLE_SECONDS            how long daphne is watched while they only wait           (60)
    BENCH_IDLE_JOBS               jobs dispatched one at a time while they wait             (200)
    BENCH_IDLE_HEARTBEAT_SECONDS  heartbeat interval of the agents meanwhile; 0: none       (0)

The agents (tests/bench/simagents.py, one process, asyncio + httpx) register through the API with the account
key, then start their long-polls spread over one long-poll period (25 s), as agents started at different times
would be, and keep waiting; each long-poll holds a connection. Once (nearly) all of them wait (counted in the
channel layer's groups in Redis), daphne's RSS and CPU are sampled for BENCH_IDLE_SECONDS; then jobs are
started one at a time through start_job() on the groups in turn (each once an agent received the one before)
and timed to the agent as in test_dispatch.py.

A benchmark asserts correctness only (no 5xx, no job reached two agents, every job received ended Completed),
never time: long-polls that daphne did not answer within the agents' timeout (the wait + 30 s) are printed under
"agents saw", the long-polls it did not take up at once (fewer waiting in Redis than agents) under "waiting",
and jobs no agent received within 60 s under "undelivered" (still Queued, or claimed for a long-poll whose
agent had given up on it: with heartbeats on, the agents list the jobs they hold, as real agents do, and the
server takes such a claim back).
"""

import math
import os
import statistics
import time
from collections import Counter

import psutil

from tests.bench import support
from tests.bench.simagents import Fleet

RUNBOOK = "bench-exit0"
LONG_POLL_SECONDS = 25
KNOBS = ("BENCH_IDLE_",)
SAMPLE_EVERY = 1.0


def _config() -> dict:
    return {
        "agents": support.env_number("BENCH_IDLE_AGENTS", 2000, int, 1, 20_000),
        "group_size": support.env_number("BENCH_IDLE_GROUP_SIZE", 100, int, 1, 20_000),
        "seconds": support.env_number("BENCH_IDLE_SECONDS", 60.0, float, 1.0, 3600.0),
        "jobs": support.env_number("BENCH_IDLE_JOBS", 200, int, 1, 100_000),
        "heartbeat": support.env_number("BENCH_IDLE_HEARTBEAT_SECONDS", 0, int, 0, 3600),
    }


def test_idle_agents_on_one_daphne(transactional_db, server_env, log_dir, redis_url, postgres):
    from automation.models import FINAL_STATUSES, Job, JobStatus
    from automation.services.actor import Actor
    from automation.services.groups import create_group
    from automation.services.jobs import start_job

    config = _config()
    agents = config["agents"]
    # A socket per agent on each side, plus daphne's database, Redis and log files.
    limits = support.raise_open_files(2 * agents + 1024)
    setup = support.make_account("bench-idle")
    support.publish_bash(setup.account, RUNBOOK, "exit 0\n")
    group_count = math.ceil(agents / config["group_size"])
    groups = [
        create_group(account=setup.account, name=f"bench-idle-{g:03d}", actor=Actor.for_system())
        for g in range(group_count)
    ]
    actor = Actor.for_system()
    daphne_env = {**server_env, **support.NO_AUTH_LIMIT}
    if config["heartbeat"]:
        daphne_env["HEARTBEAT_INTERVAL_SECONDS"] = str(config["heartbeat"])

    busy_before = support.machine_busy(1.0)
    access_log = log_dir / f"access-idle-{time.monotonic_ns()}.log"
    process, url = support.start_daphne(daphne_env, log_dir, access_log=access_log)
    daphne = psutil.Process(process.popen.pid)
    rss_start = support.rss(daphne.pid)
    fleet = None
    try:
        fleet = Fleet(
            {
                "endpoint": f"{url}/agentsvc/accounts/{setup.account.pk}",
                "key": setup.key,
                "groups": [groups[i // config["group_size"]].name for i in range(agents)],
                "capacity": 1,
                "wait": LONG_POLL_SECONDS,
                "claim": 0,
                "heartbeat_seconds": config["heartbeat"],
                "first_poll_spread": LONG_POLL_SECONDS,
                "name_prefix": "idle",
            }
        )
        registering = time.perf_counter()
        fleet.registered(timeout=300 + agents)
        register_seconds = time.perf_counter() - registering
        group_ids = [g.pk for g in groups]
        # Until 99% wait, or their number stops growing for two long-poll periods (daphne holds no more).
        settle, settled_at = support.wait_for_waiting(
            redis_url, group_ids, agents, 120 + agents / 20, fraction=0.99, plateau=2 * LONG_POLL_SECONDS
        )
        time.sleep(LONG_POLL_SECONDS)  # every agent past its first long-poll: the steady state

        # ---- only waiting ----
        log = support.AccessLog(access_log)
        log.mark()
        meters = support.Meters(
            daphne=daphne.pid, database=support.postmaster_pid(postgres), agents=fleet.pid, bench=os.getpid()
        )
        meters.mark("idle")
        transactions_before = support.pg_transactions()
        rss_samples, waiting_samples = [], []
        until = time.perf_counter() + config["seconds"]
        while time.perf_counter() < until:
            rss_samples.append(support.rss(daphne.pid))
            waiting_samples.append(support.waiting_in_groups(redis_url, group_ids))
            time.sleep(SAMPLE_EVERY)
        meters.mark("idle end")
        transactions = support.pg_transactions() - transactions_before
        idle_kinds, idle_statuses = log.count()
        idle_wall = meters.marks["idle end"][0] - meters.marks["idle"][0]
        threads = daphne.num_threads()
        fds = daphne.num_fds()
        connections = len([c for c in daphne.net_connections(kind="tcp") if c.status == psutil.CONN_ESTABLISHED])

        # ---- a job at a time while they wait ----
        def start(i: int):
            group = groups[i % group_count]
            return start_job(account=setup.account, runbook_name=RUNBOOK, group_name=group.name, actor=actor)

        log.mark()
        undelivered: list[support.Undelivered] = []
        meters.mark("dispatch")
        samples = support.dispatch_serially(fleet, start, config["jobs"], timeout=60, undelivered=undelivered)
        meters.mark("dispatch end")
        rss_end = support.rss(daphne.pid)
        time.sleep(0.5)
        dispatch_kinds, dispatch_statuses = log.count()
        stats = fleet.report()
        daphne_alive = process.alive()
    finally:
        stats_at_stop = fleet.stop() if fleet is not None else None
        process.stop()

    measured = [s.job_id for s in samples]
    delivered_late = [u.job_id for u in undelivered if u.late_ms is not None]
    rows = {
        str(pk): (status, attempt, pickup)
        for pk, status, attempt, pickup in Job.objects.filter(pk__in=measured).values_list(
            "pk", "status", "attempt", "pickup_ms"
        )
    }
    completed = sum(row[0] == JobStatus.COMPLETED for row in rows.values())
    ended = sum(row[0] in FINAL_STATUSES for row in rows.values())
    pickups = [float(row[2]) for row in rows.values() if row[2] is not None]
    daphne_idle_cpu = meters.seconds("daphne", "idle", "idle end")
    idle_requests = sum(idle_kinds.values())
    mib = support.MiB
    support.banner(
        f"IDLE AGENTS: {agents} simulated agents waiting in long-poll on one daphne process (PostgreSQL)",
        [
            f"{'command:':<22}{support.command_line(KNOBS)}",
            f"{'machine:':<22}{support.machine_line()}",
            f"{'other load:':<22}machine {busy_before:.0f}% busy in the second before daphne started",
            f"{'setup:':<22}{agents} agents in {group_count} groups of {config['group_size']}, capacity 1, a "
            f"connection each; long-poll wait {LONG_POLL_SECONDS} s, first long-polls spread over "
            f"{LONG_POLL_SECONDS} s; heartbeats "
            + (f"every {config['heartbeat']} s" if config["heartbeat"] else "off")
            + f"; {limits}",
            f"{'registration:':<22}{agents} through the API in {register_seconds:.1f} s "
            f"({agents / register_seconds:.0f}/s); {settled_at} waiting {settle:.1f} s later"
            + (" (99%)" if settled_at >= 0.99 * agents else " (no more came: daphne holds no more at once)"),
            f"{'waiting (Redis):':<22}min {min(waiting_samples)}, median {statistics.median(waiting_samples):.0f}, "
            f"max {max(waiting_samples)} long-polls held by daphne over the {idle_wall:.0f} s",
            f"{'daphne RSS:':<22}{rss_start / mib:.0f} MiB before the agents; while they wait: median "
            f"{statistics.median(rss_samples) / mib:.0f} MiB, max {max(rss_samples) / mib:.0f} MiB "
            f"({(statistics.median(rss_samples) - rss_start) / agents / 1024:.0f} KiB per waiting agent); "
            f"{rss_end / mib:.0f} MiB after the jobs",
            f"{'daphne CPU, waiting:':<22}{support.share(daphne_idle_cpu, idle_wall)} over {idle_wall:.0f} s "
            f"({threads} threads, {fds} open files, {connections} established TCP connections)",
            *meters.lines("idle", "idle end"),
            f"{'':<22}PostgreSQL: {transactions / idle_wall:.0f} transactions/s in the test database "
            f"({transactions / idle_wall / max(statistics.median(waiting_samples), 1):.2f}/s per waiting long-poll)",
            f"{'requests, waiting:':<22}{idle_requests / idle_wall:.1f}/s answered: "
            + ", ".join(f"{k} {v / idle_wall:.1f}/s" for k, v in sorted(idle_kinds.items()))
            + f"; statuses {dict(idle_statuses)}",
            *support.dispatch_lines(samples, pickups),
            f"{'undelivered:':<22}"
            + (
                f"{len(undelivered)} of {config['jobs']} jobs reached no agent within 60 s: "
                + str(dict(Counter(f"{u.status}{' (claimed)' if u.worker else ''}" for u in undelivered)))
                + f"; {sum(u.late_ms is not None for u in undelivered)} arrived later"
                if undelivered
                else "none (every job reached an agent within 60 s)"
            ),
            f"{'CPU, dispatching:':<22}{len(samples)} jobs in "
            f"{meters.marks['dispatch end'][0] - meters.marks['dispatch'][0]:.1f} s",
            *meters.lines("dispatch", "dispatch end"),
            f"{'requests, jobs:':<22}"
            + ", ".join(f"{k} {v}" for k, v in sorted(dispatch_kinds.items()))
            + f"; statuses {dict(dispatch_statuses)}",
            *[f"{'daphne logged:':<22}{line}" for line in support.server_errors(process.log)],
            f"{'agents saw:':<22}{stats_at_stop or stats}",
        ],
    )

    # Correctness only, never time.
    assert daphne_alive, "daphne exited during the benchmark"
    assert len(samples) + len(undelivered) == config["jobs"] and len(set(measured)) == len(measured)
    assert not set(delivered_late) & set(measured), "a job reached two agents"
    assert ended == completed == len(measured), f"{len(measured) - completed} jobs did not end Completed"
    assert all(row[1] == 1 for row in rows.values()), "a job was handed out more than once"
    statuses = idle_statuses + dispatch_statuses
    assert not [k for k in statuses if k.startswith("5")], f"daphne answered 5xx: {statuses}"
