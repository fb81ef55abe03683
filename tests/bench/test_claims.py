"""Claims per second in the service layer alone, on PostgreSQL: many claimers drain one group's queue.

Run by `make bench`, never by `make test`. The knobs come from the environment:

    BENCH_CLAIMS_CLAIMERS   claimer processes, each with its own connection and its own worker   (default 16)
    BENCH_CLAIMS_JOBS       jobs queued in the group before the claimers start                 (20000)
    BENCH_CLAIMS_MODES      which runs: "claim" (claim only, the jobs stay Activating), "finish" (each
                            claimed job is then reported Completed with finish_job), or both    (claim,finish)

Each claimer (tests/bench/claimers.py) is a process of its own with Django set up as a server process is
(its own PostgreSQL connection), and a worker of the group whose capacity is more than the whole queue. All
wait at a barrier, then call automation.services.jobs.claim_jobs(limit=1) until the queue is empty. The jobs
are bulk-inserted as start_job() writes them. claim_jobs includes its push to open pages (a Redis publish per
claimed job), as in production; no HTTP and no daphne are involved.

Asserted: exactly once. Every queued job was claimed by exactly one claimer, and the database agrees (each
job's worker is the claimer that got it, under one lease); the figures are printed, never asserted.
"""

import multiprocessing
import os
import time
from collections import Counter

import pytest

from tests.bench import support
from tests.bench.claimers import claim_until_empty

RUNBOOK = "bench-exit0"
KNOBS = ("BENCH_CLAIMS_",)
MODES = {"claim": False, "finish": True}


def _config() -> dict:
    modes = [m.strip() for m in os.environ.get("BENCH_CLAIMS_MODES", "claim,finish").split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        pytest.fail(f"BENCH_CLAIMS_MODES={os.environ['BENCH_CLAIMS_MODES']!r}: claim, finish or both", pytrace=False)
    return {
        "claimers": support.env_number("BENCH_CLAIMS_CLAIMERS", 16, int, 1, 256),
        "jobs": support.env_number("BENCH_CLAIMS_JOBS", 20_000, int, 1, 10_000_000),
        "modes": modes,
    }


@pytest.mark.parametrize("mode", list(MODES))
def test_claims_per_second(mode, transactional_db, server_env, run_dir, postgres):
    from automation.models import HybridWorker, Job, JobStatus
    from automation.services.actor import Actor
    from automation.services.groups import create_group
    from automation.services.workers import register_worker

    config = _config()
    if mode not in config["modes"]:
        pytest.skip(f"BENCH_CLAIMS_MODES={','.join(config['modes'])}")
    finish = MODES[mode]
    n, claimers = config["jobs"], config["claimers"]
    setup = support.make_account(f"bench-claims-{mode}")
    support.publish_bash(setup.account, RUNBOOK, "exit 0\n")
    group = create_group(account=setup.account, name="bench-claims", actor=Actor.for_system())
    workers = [
        register_worker(
            account=setup.account,
            group_name=group.name,
            machine_id=f"bench-claims-{mode}-{i:04d}",
            name=f"claimer{i:03d}",
            facts={"capacity": 1},
        ).worker
        for i in range(claimers)
    ]
    # More room than the whole queue: a claimer is never refused for capacity, only for an empty queue.
    HybridWorker.objects.filter(pk__in=[w.pk for w in workers]).update(capacity=n + 1)
    queued_at = time.perf_counter()
    support.queue_jobs_bulk(setup.account, RUNBOOK, group, n)
    queue_seconds = time.perf_counter() - queued_at
    jobs = Job.objects.filter(group=group)
    assert jobs.filter(status=JobStatus.QUEUED).count() == n

    env = {**server_env, "LOG_LEVEL": "WARNING"}
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(claimers + 1)
    results = context.Queue()
    folder = run_dir / f"claims-{mode}-{time.monotonic_ns()}"
    folder.mkdir()
    processes = [
        context.Process(
            target=claim_until_empty,
            args=(env, str(w.pk), finish, barrier, results, str(folder / f"{i}.ids"), i),
            daemon=True,
        )
        for i, w in enumerate(workers)
    ]
    busy_before = support.machine_busy(1.0)
    for process in processes:
        process.start()
    summaries = []
    try:
        barrier.wait(timeout=300)  # every claimer has Django up and its connection open
        meters = support.Meters(
            database=support.postmaster_pid(postgres), claimers=[p.pid for p in processes], bench=os.getpid()
        )
        meters.mark("start")
        for _ in processes:
            summaries.append(results.get(timeout=3000))
        meters.mark("end")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()

    claimed = []
    for i in range(claimers):
        path = folder / f"{i}.ids"
        claimed += [(line, i) for line in path.read_text().splitlines()] if path.exists() else []
    counts = Counter(job_id for job_id, _ in claimed)
    twice = [job_id for job_id, k in counts.items() if k > 1]
    start = min(s["started"] for s in summaries)
    end = max(s["ended"] for s in summaries)
    wall = end - start
    claim_ms = [v for s in summaries for v in s["claim_ms"]]
    finish_ms = [v for s in summaries for v in s["finish_ms"]]
    per_claimer = [s["claimed"] for s in summaries]
    errors = [s["error"] for s in summaries if s["error"]]
    worker_of = {str(w.pk): i for i, w in enumerate(workers)}
    rows = list(jobs.values_list("pk", "status", "worker_id", "lease_id"))
    wrong_worker = [pk for pk, _, worker_id, _ in rows if worker_of.get(str(worker_id)) is None]
    by_claimer = dict(claimed)
    mismatched = [pk for pk, _, worker_id, _ in rows if by_claimer.get(str(pk)) != worker_of.get(str(worker_id))]
    statuses = Counter(status for _, status, _, _ in rows)
    leases = len({lease for _, _, _, lease in rows})
    database_cpu = meters.seconds("database", "start", "end")
    what = "claim_jobs(limit=1), then finish_job(Completed)" if finish else "claim_jobs(limit=1) only"
    support.banner(
        f"CLAIMS in the service layer on PostgreSQL ({mode}): {claimers} claimer processes drain {n} queued jobs",
        [
            f"{'command:':<22}{support.command_line(KNOBS)}",
            f"{'machine:':<22}{support.machine_line()}",
            f"{'other load:':<22}machine {busy_before:.0f}% busy in the second before the claimers started",
            f"{'setup:':<22}{n} jobs bulk-inserted in one group ({queue_seconds:.1f} s); {claimers} processes, "
            f"each its own connection and worker; each call: {what}",
            f"{'claims:':<22}{n / wall:.0f} claims/s ({n} in {wall:.1f} s)",
            f"{'claim_jobs() time:':<22}{support.percentiles(claim_ms)}",
            *([f"{'finish_job() time:':<22}{support.percentiles(finish_ms)}"] if finish else []),
            f"{'per claimer:':<22}min {min(per_claimer)}, max {max(per_claimer)} jobs; "
            f"{sum(s['empty'] for s in summaries)} empty answers while jobs were still queued (rows locked by "
            "the others: SKIP LOCKED)",
            f"{'exactly once:':<22}{len(claimed)} claims of {len(counts)} distinct jobs; {len(twice)} claimed "
            f"twice; database: {dict(statuses)}, {leases} distinct leases",
            f"{'CPU:':<22}PostgreSQL "
            + ("unavailable" if database_cpu is None else f"{database_cpu / n * 1000:.2f} ms per claim"),
            *meters.lines("start", "end"),
        ],
    )

    # Correctness only (exactly once), never time.
    assert not errors, f"claimers failed: {errors}"
    assert len(claimed) == n, f"{len(claimed)} claims for {n} jobs"
    assert not twice, f"{len(twice)} jobs claimed twice, e.g. {twice[:3]}"
    assert len(counts) == n
    assert statuses == {(JobStatus.COMPLETED if finish else JobStatus.ACTIVATING): n}, dict(statuses)
    assert not wrong_worker and not mismatched, "a job's worker in the database is not the claimer that got it"
    assert leases == n, "two jobs share a lease"
