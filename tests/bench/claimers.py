"""One claimer of tests/bench/test_claims.py: a process of its own, with its own database connection and worker.

Started with multiprocessing's spawn context, it sets Django up from the environment it is given (the same
variables a server process gets: DATABASE_URL and the rest), waits at the barrier with the others, then claims
the group's queued jobs one at a time with automation.services.jobs.claim_jobs (and, if asked, reports each
Completed with finish_job) until the queue is empty. The ids it claimed go to a file; its figures to `results`.
"""

import os
import time
from typing import Any


def claim_until_empty(
    env: dict[str, str], worker_id: str, finish: bool, barrier, results, ids_path: str, index: int
) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from channels.layers import channel_layers
    from django.db import connection

    from automation.models import HybridWorker, Job, JobStatus
    from automation.services.jobs import claim_jobs, finish_job

    channel_layers.backends.clear()
    worker = HybridWorker.objects.get(pk=worker_id)
    queued = Job.objects.filter(group_id=worker.group_id, status=JobStatus.QUEUED)
    queued.exists()  # connected, and the queries' code warmed up, before the clock starts
    claimed: list[str] = []
    claim_ms: list[float] = []
    finish_ms: list[float] = []
    empty = 0
    error: str | None = None
    barrier.wait()
    started = time.perf_counter()
    try:
        while True:
            before = time.perf_counter()
            jobs = claim_jobs(worker=worker, limit=1)
            after = time.perf_counter()
            if not jobs:
                # Under SKIP LOCKED an empty answer may only mean the others hold the last rows for a moment.
                if not queued.exists():
                    break
                empty += 1
                continue
            claim_ms.append((after - before) * 1000)
            job = jobs[0]
            claimed.append(str(job.pk))
            if finish:
                finish_job(worker=worker, job_id=job.pk, lease=job.lease_id, status="Completed", exit_code=0)
                finish_ms.append((time.perf_counter() - after) * 1000)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    ended = time.perf_counter()
    with open(ids_path, "w") as handle:
        handle.write("\n".join(claimed))
    connection.close()
    summary: dict[str, Any] = {
        "index": index,
        "worker_id": worker_id,
        "claimed": len(claimed),
        "empty": empty,
        "started": started,
        "ended": ended,
        "claim_ms": claim_ms,
        "finish_ms": finish_ms,
        "error": error,
    }
    results.put(summary)
