"""What the job benchmarks share: knobs, the machine line, percentiles, daphne with an access log, CPU meters,
an account with a published runbook, and a SQLite database for the SQLite variants.

Imports Django's settings and models: only for benchmark processes that have Django set up (pytest's, or a
child that called django.setup()); the simulated agents (tests/bench/simagents.py) never import it.
"""

import contextlib
import copy
import math
import os
import platform
import re
import shlex
import sqlite3
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings
from django.db import connection, connections

from automation import live
from tests.support.postgres import free_port
from tests.support.processes import BASE_DIR, Process

MiB = 1024 * 1024
GiB = 1024 * MiB
DAPHNE_STARTUP_SECONDS = 30
# Every agent comes from 127.0.0.1: the per-address limit on failed sign-ins must not be what is measured.
NO_AUTH_LIMIT = {"AUTH_FAILURES_PER_MINUTE": "1000000"}


def env_number(name: str, default, kind=int, low=1, high=10**9):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        pytest.fail(f"{name}={raw!r}: expected a number ({kind.__name__}) from {low} to {high}", pytrace=False)
    return value


# ---- what the figures are printed with ---------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def database_line() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        return f"PostgreSQL {version} (test server: fsync=off, synchronous_commit=off)"
    return f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL, IMMEDIATE transactions)"


def machine_line() -> str:
    memory = psutil.virtual_memory().total / GiB
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}, {memory:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {database_line()}, {platform.system()} {platform.release()}"
    )


def command_line(prefixes: tuple[str, ...]) -> str:
    """The command that reruns this benchmark, with the knobs that were set."""
    knobs = [f"{k}={os.environ[k]}" for k in sorted(os.environ) if k.startswith(prefixes) or k == "TEST_DATABASE"]
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(BASE_DIR)
    args = sys.argv[1:]
    # pytest's own command line when run as `python -m pytest ...`; anything else (an IDE) gets the usual one.
    if not args or not any(a.startswith("tests") for a in args):
        args = ["tests/bench", "-s", "-p", "no:cacheprovider", "-o", "addopts=", "--timeout", "3600"]
    line = shlex.join([*knobs, str(python), "-m", "pytest", *args])
    return f"{line}   (through `make bench`)" if os.environ.get("MAKELEVEL") else line


def rank(ordered: list[float], p: float) -> float:
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def percentiles(values: list[float], unit: str = "ms") -> str:
    if not values:
        return "no values"
    ordered = sorted(values)
    return (
        f"p50 {rank(ordered, 50):.1f} {unit}, p95 {rank(ordered, 95):.1f} {unit}, "
        f"p99 {rank(ordered, 99):.1f} {unit}, max {ordered[-1]:.1f} {unit} (n={len(ordered)})"
    )


def machine_busy(seconds: float) -> float:
    """How busy the machine is (percent of all cores) over `seconds`: other work that would skew the figures."""
    return psutil.cpu_percent(interval=seconds)


def banner(title: str, lines: list[str]) -> None:
    rule = "=" * 110
    print("\n".join(["", rule, title, rule, *lines, rule]), flush=True)


# ---- daphne -----------------------------------------------------------------------------------------


def start_daphne(env: dict[str, str], log_dir: Path, *, access_log: Path | None = None) -> tuple[Process, str]:
    """daphne on a free port of 127.0.0.1, its access log in `access_log` (else none at all), once it answers.

    Like tests/support/daphne.py, plus the access log as a file of its own (one line per HTTP request), so
    requests can be counted; without one, daphne would write it to its stdout.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = ["--access-log", str(access_log)] if access_log else ["-v", "0"]
    env = {**env, "PORT": str(port), "PORTAL_BASE_URL": url}
    process = Process(
        "daphne",
        [sys.executable, "-m", "portal.serve", "-b", "127.0.0.1", "-p", str(port), *log, "portal.asgi:application"],
        env,
        log_dir / f"daphne-bench-{port}-{time.monotonic_ns()}.log",
    )
    deadline = time.monotonic() + DAPHNE_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"daphne exited early:\n{process.output()}")
        try:
            httpx.get(url + "/login/", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"daphne did not answer within {DAPHNE_STARTUP_SECONDS} s:\n{process.output()}")


_REQUEST = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+)[^"]*" (?P<status>\d{3}|-)')
_KINDS = (
    ("jobs/next", re.compile(r"/v1/jobs/next$")),
    ("records", re.compile(r"/v1/jobs/[^/]+/records$")),
    ("finish", re.compile(r"/v1/jobs/[^/]+/finish$")),
    ("heartbeat", re.compile(r"/v1/heartbeat$")),
    ("register", re.compile(r"/v1/register$")),
)


@dataclass
class AccessLog:
    """Requests in daphne's access log from a byte offset on, by kind and by status."""

    path: Path
    offset: int = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def count(self) -> tuple[Counter, Counter]:
        kinds: Counter = Counter()
        statuses: Counter = Counter()
        if not self.path.exists():
            return kinds, statuses
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
        for line in text.splitlines():
            match = _REQUEST.search(line)
            if match is None:
                continue
            path = match["path"].split("?", 1)[0]
            kind = next((name for name, pattern in _KINDS if pattern.search(path)), "other")
            kinds[kind] += 1
            statuses[match["status"]] += 1
        return kinds, statuses


def server_errors(log: Path, limit: int = 5) -> list[str]:
    """The distinct errors daphne logged (its ERROR lines and the last line of each traceback), most common first."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found: Counter = Counter()
    in_traceback = False
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and line and not line.startswith((" ", "\t")):
            in_traceback = False
            if not (i + 1 < len(lines) and lines[i + 1].startswith(("During handling", "The above exception"))):
                found[line[:160]] += 1
        elif " ERROR " in line:
            found[line.split(" ERROR ", 1)[1][:160]] += 1
    return [f"{n}x {text}" for text, n in found.most_common(limit)]


# ---- CPU and memory ----------------------------------------------------------------------------------


def postmaster_pid(postgres) -> int | None:
    try:
        return int((Path(postgres.directory) / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tree_cpu(pid: int | None, *, with_children: bool = True) -> float | None:
    """CPU seconds of a process; with_children: with its reaped children's (children_*) and its live ones'."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system
        if with_children:
            total += times.children_user + times.children_system
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
        return total
    except psutil.Error:
        return None


def pg_transactions() -> int:
    """Transactions ended in this database so far, as PostgreSQL counts them (published within a second)."""
    time.sleep(1.0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def rss(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return math.nan


def share(seconds: float | None, wall: float) -> str:
    if seconds is None:
        return "unavailable"
    return f"{seconds:.1f} s CPU = {seconds / max(wall, 1e-9) * 100:.0f}% of one core"


class Meters:
    """CPU seconds of named process trees (a process with its children), read at marks.

    `bench` (this process) counts alone: daphne and the agents are its children, counted on their own.
    """

    def __init__(self, **pids) -> None:
        self.pids = pids
        self.marks: dict[str, tuple[float, dict[str, float | None], tuple[float, float]]] = {}

    @staticmethod
    def _cpu(key: str, pid) -> float | None:
        if isinstance(pid, list | tuple):  # several trees (the agents): the sum of those still there
            times = [tree_cpu(p) for p in pid]
            return sum(t for t in times if t is not None)
        return tree_cpu(pid, with_children=key != "bench")

    def mark(self, name: str) -> None:
        machine = psutil.cpu_times()
        idle = machine.idle + getattr(machine, "iowait", 0.0)
        total = idle + sum(getattr(machine, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))
        self.marks[name] = (
            time.perf_counter(),
            {key: self._cpu(key, pid) for key, pid in self.pids.items()},
            (total - idle, total),
        )

    def lines(self, a: str, b: str, width: int = 22) -> list[str]:
        start, before, machine_a = self.marks[a]
        end, after, machine_b = self.marks[b]
        wall = end - start
        parts = []
        for key in self.pids:
            x, y = before[key], after[key]
            parts.append(f"{key} {share(None if x is None or y is None else y - x, wall)}")
        busy = (machine_b[0] - machine_a[0]) / max(machine_b[1] - machine_a[1], 1e-9) * 100
        return [f"{'':<{width}}{p}" for p in parts] + [f"{'':<{width}}machine {busy:.0f}% busy (all cores)"]

    def seconds(self, key: str, a: str, b: str) -> float | None:
        x, y = self.marks[a][1][key], self.marks[b][1][key]
        return None if x is None or y is None else y - x


# ---- an account with a published runbook ---------------------------------------------------------------


@dataclass
class Setup:
    account: object
    owner: object
    key: str


def make_account(name: str = "bench-jobs") -> Setup:
    from django.contrib.auth import get_user_model

    from automation.services.accounts import create_account
    from automation.services.actor import Actor
    from automation.services.keys import reveal_keys

    owner = get_user_model().objects.create_user(username=f"bench-{uuid.uuid4().hex[:8]}", password="x" * 20)
    account = create_account(name=name, owner=owner, actor=Actor.for_system())
    key = reveal_keys(account=account, actor=Actor(user=owner))["primary"]
    return Setup(account=account, owner=owner, key=key)


def publish_bash(account, name: str, content: str) -> None:
    from automation.services.actor import Actor
    from automation.services.runbooks import create_runbook, publish_runbook

    runbook = create_runbook(account=account, name=name, runbook_type="bash", actor=Actor.for_system(), content=content)
    publish_runbook(runbook=runbook, actor=Actor.for_system())


# ---- SQLite for the SQLite variants ------------------------------------------------------------------------


def sqlite_options() -> dict:
    """What portal/settings.py gives a SQLite DATABASE_URL (the bench process must write the same way)."""
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": float(os.environ.get("SQLITE_BUSY_TIMEOUT", "20")),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }


@contextlib.contextmanager
def sqlite_default_database(path: Path):
    """Point the default database of this process at a new, migrated SQLite file for the duration.

    Used when the suite runs on PostgreSQL (`make bench`), so that one run measures both. With
    TEST_DATABASE=sqlite the default database is SQLite already and this is not needed.
    """
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    saved = copy.deepcopy(db)

    def switch(new: dict) -> None:
        connections.close_all()
        db.clear()
        db.update(new)  # in place: the connection handler holds this very dict
        connections.configure_settings(settings.DATABASES)
        if hasattr(connections._connections, "default"):
            del connections._connections.default

    switch({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": sqlite_options(), "TEST": {}})
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield f"sqlite:///{path}"
    finally:
        switch(saved)


def server_database_url() -> str:
    db = connections["default"].settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def raise_open_files(needed: int) -> str:
    """Raise this process's soft RLIMIT_NOFILE (daphne and the agents inherit it) to `needed` if it can."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return f"RLIMIT_NOFILE soft {soft}, hard {'unlimited' if hard == resource.RLIM_INFINITY else hard}"


# ---- long-polls waiting, and dispatching one job at a time ---------------------------------------------


def waiting_in_groups(redis_url: str, group_ids: list) -> int:
    """Long-polls daphne has waiting on these worker groups: members of the channel layer's group sets."""
    import redis

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    client = redis.Redis.from_url(redis_url)
    try:
        pipe = client.pipeline()
        for group_id in group_ids:
            pipe.zcard(f"{prefix}:group:{live.jobs_waiters(group_id)}")
        return sum(pipe.execute())
    finally:
        client.close()


def wait_until_waiting(
    redis_url: str, group_ids: list, expected: int, timeout: float, *, fraction: float = 1.0
) -> float:
    """Seconds until at least `fraction` of `expected` long-polls wait in daphne; fails the test after `timeout`."""
    seconds, seen = wait_for_waiting(redis_url, group_ids, expected, timeout, fraction=fraction)
    if seen < math.ceil(expected * fraction):
        pytest.fail(f"only {seen} of {expected} long-polls were waiting after {timeout:g} s", pytrace=False)
    return seconds


def wait_for_waiting(
    redis_url: str, group_ids: list, expected: int, timeout: float, *, fraction: float = 1.0, plateau: float = 0.0
) -> tuple[float, int]:
    """(seconds, long-polls waiting) once `fraction` of `expected` wait in daphne, or their number did not grow
    for `plateau` seconds (if > 0), or after `timeout`."""
    started = time.monotonic()
    target = math.ceil(expected * fraction)
    best, best_at = -1, started
    seen = 0
    while time.monotonic() - started < timeout:
        seen = waiting_in_groups(redis_url, group_ids)
        now = time.monotonic()
        if seen >= target:
            break
        if seen > best:
            best, best_at = seen, now
        elif plateau > 0 and now - best_at >= plateau:
            break
        time.sleep(0.2)
    return time.monotonic() - started, seen


def all_waiting(redis_url: str, group_ids: list, expected: int, settle: float, timeout: float = 10.0) -> None:
    """Return once `expected` long-polls wait on these groups again (the agent that took the last job is back),
    then `settle` seconds more (its first look at the queue is done: the next job must wake it)."""
    import redis

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    keys = [f"{prefix}:group:{live.jobs_waiters(group_id)}" for group_id in group_ids]
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pipe = client.pipeline()
            for key in keys:
                pipe.zcard(key)
            if sum(pipe.execute()) >= expected:
                break
            time.sleep(0.002)
        else:
            pytest.fail(f"fewer than {expected} long-polls waiting after {timeout:g} s", pytrace=False)
    finally:
        client.close()
    time.sleep(settle)


@dataclass
class Dispatch:
    """One job started through the service layer and received by an agent (perf_counter seconds)."""

    job_id: str
    called: float  # just before start_job was called
    returned: float  # start_job returned
    received: float  # the agent had read the answer that carried the job
    agent: int
    via: str  # "next": a long-poll's answer; "finish": the answer to an end report with claim

    @property
    def from_call_ms(self) -> float:
        return (self.received - self.called) * 1000

    @property
    def from_return_ms(self) -> float:
        return (self.received - self.returned) * 1000

    @property
    def start_job_ms(self) -> float:
        return (self.returned - self.called) * 1000


@dataclass
class Undelivered:
    """A job no agent received within the time allowed: its state in the database then (and later)."""

    job_id: str
    status: str
    worker: str
    late_ms: float | None = None  # when an agent received it after all


def dispatch_serially(
    fleet, start, count: int, *, timeout: float = 60.0, ready=None, undelivered: list | None = None
) -> list[Dispatch]:
    """Start `count` jobs one at a time with `start(i)` (returns the Job), each once an agent received the last
    (and `ready()` returned, when given).

    A job no agent receives within `timeout` fails the test, unless `undelivered` is a list: then it is noted
    there (with its status: still Queued, or claimed for a long-poll whose answer never arrived) and the next
    job is started.
    """
    from automation.models import Job

    done = []
    late: dict[str, tuple[Undelivered, float]] = {}
    for i in range(count):
        if ready is not None:
            ready()
        called = time.perf_counter()
        job = start(i)
        returned = time.perf_counter()
        while True:
            try:
                _, job_id, received, agent, via = fleet.next_job(timeout)
            except TimeoutError:
                row = Job.objects.filter(pk=job.pk).values_list("status", "worker_name").first() or ("gone", "")
                if undelivered is None:
                    pytest.fail(
                        f"no agent received job {job.pk} within {timeout:g} s: it is {row[0]} "
                        f"(worker {row[1] or 'none'})",
                        pytrace=False,
                    )
                lost = Undelivered(str(job.pk), row[0], row[1])
                undelivered.append(lost)
                late[lost.job_id] = (lost, called)
                break
            if job_id in late:  # an earlier job that reached an agent after all
                lost, at = late.pop(job_id)
                lost.late_ms = (received - at) * 1000
                continue
            if job_id != str(job.pk):
                pytest.fail(f"an agent received job {job_id} while job {job.pk} was the one queued", pytrace=False)
            done.append(Dispatch(str(job.pk), called, returned, received, agent, via))
            break
    return done


def dispatch_lines(samples: list[Dispatch], pickups: list[float], width: int = 22) -> list[str]:
    from_call = [s.from_call_ms for s in samples]
    from_return = [s.from_return_ms for s in samples]
    before_return = sum(v < 0 for v in from_return)
    ordered = sorted(from_call)
    p50, p99 = (rank(ordered, 50), rank(ordered, 99)) if ordered else (math.nan, math.nan)
    goal = f"p50 < 20 ms: {'met' if p50 < 20 else 'NOT met'}; p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'}"
    return [
        f"{'dispatch latency:':<{width}}{percentiles(from_call)}",
        f"{'':<{width}}(from just before start_job() was called to the agent having read the answer that "
        "carried the job)",
        f"{'goal:':<{width}}{goal}",
        f"{'from its return:':<{width}}{percentiles(from_return)} ({before_return} jobs reached their agent "
        "before start_job() had returned: its last act, the push to open pages, comes after the wake-up)",
        f"{'start_job() itself:':<{width}}{percentiles([s.start_job_ms for s in samples])}",
        f"{'server pickup_ms:':<{width}}{percentiles(pickups)} (the job's queued_at to its claim, as the server "
        "records it)",
    ]


# ---- queueing many jobs ------------------------------------------------------------------------------------


def queue_jobs_bulk(account, runbook_name: str, group, count: int, *, batch: int = 2000) -> None:
    """`count` queued jobs as start_job() writes them (the Job row and its job.start Activity log entry), in
    bulk: no wake-up pushes (no agent waits yet) and no per-job role check. Queued 1 µs apart, in order."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from automation.models import AuditEvent, Job, JobStatus, Runbook
    from automation.services.actor import Actor
    from automation.services.runbooks import latest_version

    actor = Actor.for_system()
    runbook = Runbook.objects.get(account=account, name=runbook_name)
    version = latest_version(runbook)
    base = timezone.now()
    for first in range(0, count, batch):
        jobs = [
            Job(
                account=account,
                runbook=runbook,
                runbook_name=runbook.name,
                version=version,
                version_number=version.number,
                group=group,
                group_name=group.name,
                status=JobStatus.QUEUED,
                parameters={},
                secret_parameters="",
                timeout_seconds=runbook.timeout_seconds,
                retries_left=runbook.retries,
                is_test=False,
                test_snapshot=None,
                started_by=actor.name,
                queued_at=base + timedelta(microseconds=i),
            )
            for i in range(first, min(first + batch, count))
        ]
        events = [
            AuditEvent(
                account=account,
                actor=actor.user,
                actor_name=actor.name,
                action="job.start",
                target_type="job",
                target_id=str(job.pk),
                target_name=str(job)[:255],
                details={"runbook": runbook.name, "run_on": group.name, "version": version.number},
                source_ip=actor.ip,
            )
            for job in jobs
        ]
        with transaction.atomic():
            Job.objects.bulk_create(jobs)
            AuditEvent.objects.bulk_create(events)
