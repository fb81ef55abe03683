"""Throughput: real `hybridworker run` processes drain a queue of Bash `exit 0` jobs from one daphne on PostgreSQL.

Run by `make bench`, never by `make test`. The knobs come from the environment:

    BENCH_THROUGHPUT_AGENTS     agents: `hybridworker register`, then `hybridworker run --capacity N`   (default 20)
    BENCH_THROUGHPUT_JOBS       jobs queued before the agents start                                  (10000)
    BENCH_THROUGHPUT_CAPACITY   --capacity of each agent                                             (4)
    BENCH_THROUGHPUT_QUEUE      bulk: the rows start_job() writes, bulk-inserted; service: start_job() per job
                                                                                                     (bulk)
    BENCH_THROUGHPUT_TIMEOUT    seconds the agents get to drain the queue                            (3000)

The jobs are queued first (the benchmark process, on daphne's database), then the agents start; the clock runs
from starting them until every job has ended. Requests are counted from daphne's access log (one line per
request). Running as root, the agents run the runbooks as `nobody`, as in production. Agents, daphne,
PostgreSQL and Redis all share this machine's cores: the output says how the CPU time split between them.

A benchmark asserts correctness only (every job ended Completed, each handed out once), never time.
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db.models import Max, Min

from tests.bench import support
from tests.support.processes import BASE_DIR, BIN

GROUP = "bench-throughput"
RUNBOOK = "bench-exit0"
KNOBS = ("BENCH_THROUGHPUT_",)
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
PROGRESS_EVERY = 1.0
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _config() -> dict:
    queue = os.environ.get("BENCH_THROUGHPUT_QUEUE", "bulk").strip() or "bulk"
    if queue not in ("bulk", "service"):
        pytest.fail(f"BENCH_THROUGHPUT_QUEUE={queue!r}: expected bulk or service", pytrace=False)
    return {
        "agents": support.env_number("BENCH_THROUGHPUT_AGENTS", 20, int, 1, 500),
        "jobs": support.env_number("BENCH_THROUGHPUT_JOBS", 10_000, int, 1, 10_000_000),
        "capacity": support.env_number("BENCH_THROUGHPUT_CAPACITY", 4, int, 1, 1024),
        "queue": queue,
        "timeout": support.env_number("BENCH_THROUGHPUT_TIMEOUT", 3000.0, float, 10.0, 86_400.0),
    }


def _agent_command() -> list[str]:
    script = BIN / "hybridworker"
    return [str(script)] if script.exists() else [sys.executable, "-m", "workers.cli"]


def _agent_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES and not k.startswith("PYTEST_")}
    return env | {"PYTHONUNBUFFERED": "1"}


def _open_for_runbooks(folder: Path) -> None:
    """As root the agents run runbooks as another user: it must pass through the folders above the sandboxes."""
    if os.geteuid() != 0:
        return
    for path in [folder, *folder.parents]:
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)


class Agents:
    """Registered agent installations (state folders) and their `hybridworker run` processes."""

    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.names = [f"tp{i:03d}" for i in range(count)]
        self.env = _agent_env()
        self.runs: list[subprocess.Popen] = []
        self._files: list = []
        for name in self.names:
            (root / name).mkdir(parents=True)
        _open_for_runbooks(root)

    def state(self, name: str) -> Path:
        return self.root / name / "state"

    def register(self, endpoint: str, key: str) -> float:
        """`hybridworker register` for every agent, several at once; returns the seconds it took."""
        started = time.perf_counter()
        pending = []
        for name in self.names:
            command = [
                *_agent_command(),
                "register",
                "--group",
                GROUP,
                "--endpoint",
                endpoint,
                "--token",
                "-",
                "--name",
                name,
                "--state-dir",
                str(self.state(name)),
            ]
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            process.stdin.write(key + "\n")
            process.stdin.close()
            pending.append((name, process))
            if len(pending) >= 8:
                self._reap(pending.pop(0))
        for item in pending:
            self._reap(item)
        return time.perf_counter() - started

    @staticmethod
    def _reap(item: tuple[str, subprocess.Popen]) -> None:
        name, process = item
        output = process.stdout.read()
        code = process.wait(timeout=120)
        assert code == 0, f"hybridworker register for {name} exited {code}:\n{output}"

    def start(self, capacity: int) -> None:
        for name in self.names:
            out = open(self.root / name / "run.out", "wb")  # noqa: SIM115 - closed in stop()
            self._files.append(out)
            command = [
                *_agent_command(),
                "run",
                "--capacity",
                str(capacity),
                "--stop-grace",
                "2",
                "--shutdown-grace",
                "2",
                "--state-dir",
                str(self.state(name)),
            ]
            self.runs.append(
                subprocess.Popen(command, cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT)
            )

    def pids(self) -> list[int]:
        return [run.pid for run in self.runs]

    def dead(self) -> list[str]:
        return [f"{name}: exit {run.returncode}" for name, run in zip(self.names, self.runs, strict=True) if run.poll()]

    def log_problems(self) -> Counter:
        """WARNING and ERROR lines of the agents' logs, by their text past the job id (for the report)."""
        found: Counter = Counter()
        for name in self.names:
            path = self.state(name) / "hybridworker.log"
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                words = line.split(" ", 3)
                if len(words) == 4 and words[2] in ("WARNING", "ERROR"):
                    found[f"{words[2]} {_ID.sub('<id>', words[3])[:80]}"] += 1
        return found

    def stop(self) -> None:
        for run in self.runs:
            if run.poll() is None:
                run.send_signal(signal.SIGTERM)
        for run in self.runs:
            try:
                run.wait(timeout=30)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
        for handle in self._files:
            handle.close()


def _agent_code() -> str:
    """Which agent ran: a digest of workers/*.py as they are on disk, and whether its end reports claim."""
    import hashlib
    import inspect

    digest = hashlib.sha256()
    for path in sorted((BASE_DIR / "workers").glob("*.py")):
        digest.update(path.read_bytes())
    try:
        from workers.client import JobsClient

        claims = "yes" if "claim" in inspect.signature(JobsClient.finish_job).parameters else "no"
    except Exception as exc:  # the agent's code is read as it is on disk, whatever state it is in
        claims = f"unknown ({type(exc).__name__})"
    return f"workers/*.py sha256 {digest.hexdigest()[:12]}; end reports claim the next job: {claims}"


def _crossing(progress: list[tuple[float, int]], target: float) -> float | None:
    for t, done in progress:
        if done >= target:
            return t
    return None


def test_throughput_of_real_agents(transactional_db, server_env, log_dir, run_dir, postgres):
    from automation.models import FINAL_STATUSES, Job, JobStatus
    from automation.services.actor import Actor
    from automation.services.groups import create_group
    from automation.services.jobs import start_job

    config = _config()
    setup = support.make_account("bench-throughput")
    support.publish_bash(setup.account, RUNBOOK, "exit 0\n")
    group = create_group(account=setup.account, name=GROUP, actor=Actor.for_system())
    jobs = Job.objects.filter(account=setup.account, group=group)

    queue_started = time.perf_counter()
    if config["queue"] == "bulk":
        support.queue_jobs_bulk(setup.account, RUNBOOK, group, config["jobs"])
    else:
        actor = Actor.for_system()
        for _ in range(config["jobs"]):
            start_job(account=setup.account, runbook_name=RUNBOOK, group_name=GROUP, actor=actor)
    queue_seconds = time.perf_counter() - queue_started
    assert jobs.filter(status=JobStatus.QUEUED).count() == config["jobs"]

    agent_code = _agent_code()
    busy_before = support.machine_busy(1.0)
    access_log = log_dir / f"access-throughput-{time.monotonic_ns()}.log"
    process, url = support.start_daphne({**server_env, **support.NO_AUTH_LIMIT}, log_dir, access_log=access_log)
    agents = Agents(run_dir / f"throughput-agents-{time.monotonic_ns()}", config["agents"])
    progress: list[tuple[float, int]] = []
    try:
        endpoint = f"{url}/agentsvc/accounts/{setup.account.pk}"
        register_seconds = agents.register(endpoint, setup.key)
        log = support.AccessLog(access_log)
        log.mark()
        rss_before = support.rss(process.popen.pid)
        started = time.perf_counter()
        agents.start(config["capacity"])
        meters = support.Meters(
            daphne=process.popen.pid, database=support.postmaster_pid(postgres), agents=agents.pids(), bench=os.getpid()
        )
        meters.mark("start")
        peak_rss = rss_before
        finished = None
        while time.perf_counter() - started < config["timeout"]:
            done = jobs.filter(status__in=FINAL_STATUSES).count()
            progress.append((time.perf_counter() - started, done))
            peak_rss = max(peak_rss, support.rss(process.popen.pid))
            if done >= config["jobs"]:
                finished = time.perf_counter()
                break
            if agents.dead() or not process.alive():
                break
            time.sleep(PROGRESS_EVERY)
        meters.mark("end")
        dead = agents.dead()
        daphne_alive = process.alive()
        time.sleep(0.5)
        kinds, statuses = log.count()
    finally:
        agents.stop()
        process.stop()

    n = config["jobs"]
    wall = (finished or time.perf_counter()) - started
    by_status = Counter(jobs.values_list("status", flat=True))
    span = jobs.aggregate(first=Min("claimed_at"), last=Max("ended_at"))
    drain = (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else float("nan")
    t10, t90 = _crossing(progress, 0.1 * n), _crossing(progress, 0.9 * n)
    steady = 0.8 * n / (t90 - t10) if t10 is not None and t90 is not None and t90 > t10 else float("nan")
    per_agent = Counter(jobs.values_list("worker_name", flat=True))
    requests = sum(kinds.values())
    job_requests = kinds["jobs/next"] + kinds["records"] + kinds["finish"]
    cpu = {key: meters.seconds(key, "start", "end") for key in ("daphne", "database", "agents")}

    def per_job(seconds: float | None) -> str:
        return "unavailable" if seconds is None else f"{seconds / n * 1000:.1f} ms"

    queued_how = (
        "bulk-inserted (the rows start_job() writes: job + job.start Activity log entry)"
        if config["queue"] == "bulk"
        else "start_job() one after another"
    )
    support.banner(
        f"THROUGHPUT on PostgreSQL: {config['agents']} real agents (hybridworker run --capacity "
        f"{config['capacity']}) drain {n} queued Bash `exit 0` jobs from one daphne",
        [
            f"{'command:':<22}{support.command_line(KNOBS)}",
            f"{'machine:':<22}{support.machine_line()}",
            f"{'other load:':<22}machine {busy_before:.0f}% busy in the second before daphne started",
            f"{'agent code:':<22}{agent_code}",
            f"{'queueing:':<22}{n} jobs {queued_how} in {queue_seconds:.1f} s = {n / queue_seconds:.0f} jobs/s; "
            f"{config['agents']} agents registered with `hybridworker register` in {register_seconds:.1f} s",
            f"{'throughput:':<22}{n / wall:.1f} jobs/s: all {n} ended {wall:.1f} s after the agents were started "
            "(their start-up and first heartbeat included)",
            f"{'':<22}{n / drain:.1f} jobs/s from the first claim to the last end ({drain:.1f} s); "
            f"{steady:.1f} jobs/s between 10% and 90% done",
            f"{'goal:':<22}300 jobs/s: {'met' if n / wall >= 300 else 'NOT met'}",
            f"{'HTTP requests:':<22}{requests} = {requests / n:.2f} per job ({job_requests / n:.2f} for the jobs "
            "themselves): " + ", ".join(f"{k} {v} ({v / n:.2f}/job)" for k, v in sorted(kinds.items())),
            f"{'':<22}statuses {dict(statuses)} (daphne's access log, from the agents' start to the last end)",
            f"{'CPU while draining:':<22}{wall:.1f} s wall; per job: daphne {per_job(cpu['daphne'])}, PostgreSQL "
            f"{per_job(cpu['database'])}, agents (with their runbooks) {per_job(cpu['agents'])}",
            *meters.lines("start", "end"),
            f"{'daphne RSS:':<22}{rss_before / support.MiB:.0f} MiB before, peak {peak_rss / support.MiB:.0f} MiB",
            f"{'jobs per agent:':<22}min {min(per_agent.values(), default=0)}, max "
            f"{max(per_agent.values(), default=0)} over {len(per_agent)} agents; statuses {dict(by_status)}",
            f"{'agents logged:':<22}{dict(agents.log_problems().most_common(5)) or 'no warnings or errors'}",
            *[f"{'daphne logged:':<22}{line}" for line in support.server_errors(process.log)],
        ],
    )

    # Correctness only, never time.
    assert daphne_alive, "daphne exited during the benchmark"
    assert not dead, f"agents exited: {dead}"
    assert finished is not None, f"not every job ended within {config['timeout']:g} s: {dict(by_status)}"
    assert by_status == {JobStatus.COMPLETED: n}, f"jobs by status: {dict(by_status)}"
    assert not jobs.exclude(exit_code=0).exists(), "a job ended with another exit code"
    assert not jobs.exclude(attempt=1).exists(), "a job was handed out more than once"
    assert not [k for k in statuses if k.startswith("5")], f"daphne answered 5xx: {statuses}"
