"""Heartbeats: many simulated agents register, then heartbeat, against ONE real daphne on PostgreSQL.

Run by `make bench`, never by `make test`. The knobs come from the environment:

    BENCH_AGENTS             simulated agents, each with a machine id of its own      (default 1000)
    BENCH_HEARTBEAT_SECONDS  heartbeat interval, given to daphne as HEARTBEAT_INTERVAL_SECONDS   (2)
    BENCH_SECONDS            how long the agents heartbeat once all are registered     (30)
    BENCH_CONNECTIONS        HTTP connections the agents share (httpx limits)          (32)

The agents share the connections through several small httpx clients (CONNECTIONS_PER_CLIENT each): httpcore's
pool does work quadratic in its size on every request, which a single pool of 32 spends on the shared cores.

The interval is compressed (a real agent beats every 15 s, its facts are rewritten every 60 s), so the
facts refresh is compressed in the same ratio. The agents run as asyncio tasks in this process: the load
generator shares the machine's cores with daphne, PostgreSQL and Redis, and the output says so.

A benchmark asserts correctness only (every agent registered, every heartbeat answered 200, every worker's
last_seen_at moved on), never time: the figures are printed for people to read.
"""

import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import random
import shlex
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings
from django.db import connection

from tests.support.daphne import start_daphne_at
from tests.support.processes import BASE_DIR
from workers import __version__ as AGENT_VERSION

# What a real deployment runs with (portal/settings.py): the benchmark keeps their ratio.
REAL_HEARTBEAT_SECONDS = 15
REAL_FACTS_REFRESH_SECONDS = 60
AGENTS_PER_GROUP = 100
# Every request answers within this, or counts as an error; a phase is cut off after its own limit.
REQUEST_TIMEOUT_SECONDS = 60.0
SETTLE_SECONDS = 1.5  # PostgreSQL publishes a backend's statistics within a second
SAMPLE_EVERY_SECONDS = 0.5
CONNECTIONS_PER_CLIENT = 4
OSES = (
    "Debian GNU/Linux 12 (bookworm)",
    "Ubuntu 22.04.4 LTS",
    "Ubuntu 24.04.1 LTS",
    "Red Hat Enterprise Linux 9.4 (Plow)",
)
MiB = 1024 * 1024
GiB = 1024 * MiB


def _env_number(name: str, default, kind, low, high):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        pytest.fail(f"{name}={raw!r}: expected a number ({kind.__name__}) from {low} to {high}", pytrace=False)
    if not low <= value <= high:
        pytest.fail(f"{name}={raw!r}: expected a number ({kind.__name__}) from {low} to {high}", pytrace=False)
    return value


@dataclass(frozen=True)
class Config:
    agents: int
    heartbeat_seconds: int
    seconds: float
    connections: int

    @classmethod
    def from_env(cls) -> "Config":
        return cls(
            agents=_env_number("BENCH_AGENTS", 1000, int, 1, 20_000),
            heartbeat_seconds=_env_number("BENCH_HEARTBEAT_SECONDS", 2, int, 1, 3600),
            seconds=_env_number("BENCH_SECONDS", 30.0, float, 1.0, 3600.0),
            connections=_env_number("BENCH_CONNECTIONS", 32, int, 1, 1000),
        )

    @property
    def groups(self) -> int:
        return math.ceil(self.agents / AGENTS_PER_GROUP)

    @property
    def facts_refresh_seconds(self) -> int:
        return max(1, round(self.heartbeat_seconds * REAL_FACTS_REFRESH_SECONDS / REAL_HEARTBEAT_SECONDS))

    @property
    def registration_limit(self) -> float:
        return 120.0 + self.agents * 1.0

    @property
    def heartbeat_limit(self) -> float:
        return self.seconds + self.heartbeat_seconds + REQUEST_TIMEOUT_SECONDS + 30.0

    @property
    def max_beats(self) -> int:
        return math.ceil(self.seconds / self.heartbeat_seconds) + 2


@dataclass
class Agent:
    """One simulated machine: its identity, its host, and what the server gave it."""

    index: int
    machine_id: str
    name: str
    group: str
    os: str
    ip: str
    cpu_count: int
    memory_bytes: int
    rng: random.Random
    credential: str | None = None
    worker_id: str | None = None
    accepted_at: list[float] = field(default_factory=list)  # monotonic times of the heartbeats answered 200

    @property
    def accepted(self) -> int:
        return len(self.accepted_at)

    def longest_gap(self) -> float | None:
        """The longest time between two accepted heartbeats: what decides whether the portal shows it offline."""
        times = self.accepted_at
        return max((b - a for a, b in itertools.pairwise(times)), default=None)

    @classmethod
    def make(cls, index: int, groups: int) -> "Agent":
        rng = random.Random(index)
        cpus = rng.choice((2, 2, 4, 4, 8, 16))
        return cls(
            index=index,
            machine_id=f"bench-{uuid.uuid4().hex}",
            name=f"bench-{index:05d}",
            group=f"bench-group-{index % groups:03d}",
            os=OSES[index % len(OSES)],
            ip=f"10.20.{index // 250}.{index % 250 + 2}",
            cpu_count=cpus,
            memory_bytes=cpus * 4 * GiB,
            rng=rng,
        )

    def facts(self) -> dict:
        """What workers/facts.py sends: the slow facts stay, the fast ones move with every beat."""
        rng = self.rng
        return {
            "hostname": self.name,
            "os": self.os,
            "ip_addresses": [self.ip, f"fe80::{self.index + 1:x}:1"],
            "cpu_count": self.cpu_count,
            "memory_bytes": self.memory_bytes,
            "memory_available_bytes": int(self.memory_bytes * rng.uniform(0.2, 0.9)),
            "disk_free_bytes": rng.randrange(5, 500) * GiB,
            "load": [round(rng.uniform(0, self.cpu_count), 2) for _ in range(3)],
            "agent_version": AGENT_VERSION,
            "python_version": "3.11.2",
            "capacity": self.cpu_count,
            "clock": time.time(),
        }


@dataclass
class Tally:
    """What one phase saw: latencies of the 2xx answers, and every outcome by status or error."""

    seen_ms: list[float] = field(default_factory=list)  # as the agent sees it: queueing for a connection too
    wire_ms: list[float] = field(default_factory=list)  # from the moment a connection was free
    outcomes: Counter = field(default_factory=Counter)
    started: float = 0.0
    finished: float = 0.0

    @property
    def wall(self) -> float:
        return max(self.finished - self.started, 1e-9)

    def ok(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.isdigit() and 200 <= int(k) < 300)

    def errors(self) -> Counter:
        return Counter({k: n for k, n in self.outcomes.items() if not (k.isdigit() and 200 <= int(k) < 300)})

    def server_errors(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.isdigit() and int(k) >= 500)


async def _post(
    client: httpx.AsyncClient, gate: asyncio.Semaphore, url: str, token: str, body: dict, tally: Tally
) -> httpx.Response | None:
    queued = time.perf_counter()
    async with gate:
        sent = time.perf_counter()
        try:
            response = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            tally.outcomes[type(exc).__name__] += 1
            return None
        done = time.perf_counter()
    tally.outcomes[str(response.status_code)] += 1
    if response.is_success:
        tally.seen_ms.append((done - queued) * 1000)
        tally.wire_ms.append((done - sent) * 1000)
    return response


def _json(response: httpx.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


class Pools:
    """The shared connections, as several small clients; agent i uses client i % len(clients)."""

    def __init__(self, config: Config) -> None:
        sizes = [CONNECTIONS_PER_CLIENT] * (config.connections // CONNECTIONS_PER_CLIENT)
        if config.connections % CONNECTIONS_PER_CLIENT:
            sizes.append(config.connections % CONNECTIONS_PER_CLIENT)
        self.clients = [
            httpx.AsyncClient(
                trust_env=False,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
            for size in sizes
        ]
        # At most `size` requests of a client out at once: the rest wait here, where the wait is measured.
        self.gates = [asyncio.Semaphore(size) for size in sizes]

    def of(self, agent: "Agent") -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        i = agent.index % len(self.clients)
        return self.clients[i], self.gates[i]

    async def __aenter__(self) -> "Pools":
        return self

    async def __aexit__(self, *exc) -> None:
        for client in self.clients:
            await client.aclose()


async def _register_all(agents: list[Agent], endpoint: str, key: str, config: Config, tally: Tally) -> None:
    async def register(agent: Agent) -> None:
        body = {"group": agent.group, "machine_id": agent.machine_id, "name": agent.name, "facts": agent.facts()}
        response = await _post(*pools.of(agent), f"{endpoint}/v1/register", key, body, tally)
        if response is not None and response.status_code == 201:
            answer = _json(response)
            agent.credential, agent.worker_id = answer.get("credential"), answer.get("worker_id")
            if not (agent.credential and agent.worker_id):
                tally.outcomes["201 without a credential"] += 1

    async with Pools(config) as pools:
        tally.started = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(register(a) for a in agents)), config.registration_limit)
        except TimeoutError:
            tally.outcomes["phase cut off"] += 1
        tally.finished = time.perf_counter()


async def _heartbeat_all(agents: list[Agent], endpoint: str, config: Config, tally: Tally) -> None:
    interval = float(config.heartbeat_seconds)

    async def beat(agent: Agent, deadline: float) -> None:
        # Agents start spread over one interval (or half the run, if shorter), then keep it as workers/heartbeat.py.
        await asyncio.sleep(agent.rng.uniform(0, min(interval, config.seconds / 2)))
        for _ in range(config.max_beats):
            started = time.monotonic()
            if started >= deadline:
                return
            body = {"facts": agent.facts()}
            url = f"{endpoint}/v1/heartbeat"
            response = await _post(*pools.of(agent), url, agent.credential or "", body, tally)
            if response is not None and response.status_code == 200:
                if _json(response).get("worker_id") == agent.worker_id:
                    agent.accepted_at.append(time.monotonic())
                else:
                    tally.outcomes["200 for another worker"] += 1
            now = time.monotonic()
            await asyncio.sleep(max(0.0, min(interval - (now - started), deadline - now)))

    async with Pools(config) as pools:
        tally.started = time.perf_counter()
        deadline = time.monotonic() + config.seconds
        try:
            await asyncio.wait_for(asyncio.gather(*(beat(a, deadline) for a in agents)), config.heartbeat_limit)
        except TimeoutError:
            tally.outcomes["phase cut off"] += 1
        tally.finished = time.perf_counter()


class Watch:
    """Peak RSS of daphne, sampled while a phase runs (bounded: it stops with the phase)."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak_rss = 0

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)

    async def during(self, work) -> None:
        stop = asyncio.Event()

        async def sampler() -> None:
            while not stop.is_set():
                self.sample()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_SECONDS)

        task = asyncio.create_task(sampler())
        try:
            await work
        finally:
            stop.set()
            await task
            self.sample()


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far by daphne, PostgreSQL (postmaster and all its backends), this process, the machine."""

    daphne: float
    postgres: float | None
    bench: float
    machine_busy: float
    machine_total: float

    @classmethod
    def now(cls, daphne: psutil.Process, postmaster_pid: int | None) -> "Cpu":
        try:
            times = daphne.cpu_times()
            daphne_seconds = times.user + times.system
        except psutil.Error:  # daphne died: the figures say nan, the assertions say why
            daphne_seconds = math.nan
        own = psutil.Process().cpu_times()
        machine = psutil.cpu_times()
        idle = machine.idle + getattr(machine, "iowait", 0.0)
        total = idle + sum(
            getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal")
        )
        return cls(
            daphne=daphne_seconds,
            postgres=_postgres_cpu(postmaster_pid),
            bench=own.user + own.system,
            machine_busy=total - idle,
            machine_total=total,
        )


def _rss(process: psutil.Process) -> float:
    try:
        return float(process.memory_info().rss)
    except psutil.Error:
        return math.nan


def _machine_busy(seconds: float) -> float:
    """How busy the machine is (percent of all cores) over `seconds`: other work that would skew the figures."""
    return psutil.cpu_percent(interval=seconds)


def _postgres_cpu(postmaster_pid: int | None) -> float | None:
    """The postmaster's own time, its reaped backends' (children_*) and its live children's."""
    if postmaster_pid is None:
        return None
    try:
        postmaster = psutil.Process(postmaster_pid)
        times = postmaster.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in postmaster.children():
            try:
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += child_times.user + child_times.system
        return total
    except psutil.Error:
        return None


def _postmaster_pid(postgres) -> int | None:
    try:
        return int((Path(postgres.directory) / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pg_counters() -> tuple[int, int, int]:
    """Sessions opened and transactions ended in the test database, as PostgreSQL counts them, and its backends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        sessions, transactions = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        (backends,) = cursor.fetchone()
    return int(sessions), int(transactions), int(backends)


def _redis_connections(url: str) -> int:
    """Connections Redis has accepted since it started (INFO stats)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_connections_received"])
    finally:
        client.close()


def _pg_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def _last_seen(account) -> dict:
    from automation.models import HybridWorker

    return dict(HybridWorker.objects.filter(account=account).values_list("machine_id", "last_seen_at"))


def _sql_of_one(path: str, token: str, body: dict) -> tuple[int, list[str]]:
    """The SQL one request runs, through Django's test client in this process (exact, unlike the counters)."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = Client().post(
            path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
    assert response.status_code < 300, response.content
    return response.status_code, [q["sql"] for q in queries.captured_queries]


def _abridged(sql: str, width: int = 100) -> str:
    return sql if len(sql) <= width else sql[: width - 3] + "..."


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command() -> str:
    knobs = [f"{k}={os.environ[k]}" for k in sorted(os.environ) if k.startswith("BENCH_") or k == "DB_CONN_MAX_AGE"]
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(BASE_DIR)
    line = shlex.join([*knobs, str(python), "-m", "pytest", *sys.argv[1:]])
    return f"{line}   (through `make bench`)" if os.environ.get("MAKELEVEL") else line


def _percentiles(values: list[float]) -> str:
    if not values:
        return "no answers"
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]

    return f"p50 {rank(50):.1f} ms, p95 {rank(95):.1f} ms, p99 {rank(99):.1f} ms, max {ordered[-1]:.1f} ms"


def _middle(values: list[float]) -> str:
    """Median and maximum of sorted values."""
    if not values:
        return "n/a"
    return f"{values[len(values) // 2]:.1f} s median, {values[-1]:.1f} s max"


def _errors(tally: Tally) -> str:
    errors = tally.errors()
    return ", ".join(f"{k}: {n}" for k, n in sorted(errors.items())) if errors else "none"


def _share(seconds: float | None, wall: float) -> str:
    if seconds is None:
        return "unavailable"
    return f"{seconds:.1f} s CPU ({seconds / wall * 100:.0f}% of one core)"


def test_heartbeats_from_many_agents(transactional_db, server_env, log_dir, people, postgres, redis_url):
    from automation.models import HybridWorker
    from automation.services.actor import Actor
    from automation.services.keys import reveal_keys

    config = Config.from_env()
    account = people.account
    key = reveal_keys(account=account, actor=Actor(user=people.owner))["primary"]
    daphne_env = {
        **server_env,
        "HEARTBEAT_INTERVAL_SECONDS": str(config.heartbeat_seconds),
        "FACTS_REFRESH_SECONDS": str(config.facts_refresh_seconds),
        # Every agent comes from 127.0.0.1: the per-address limit on failures must not be what we measure.
        "AUTH_FAILURES_PER_MINUTE": "1000000",
    }
    agents = [Agent.make(i, config.groups) for i in range(config.agents)]
    registering, beating = Tally(), Tally()
    postmaster_pid = _postmaster_pid(postgres)

    busy_before = _machine_busy(1.0)
    process, url = start_daphne_at(daphne_env, log_dir)
    try:
        assert url.startswith("http://127.0.0.1:"), url
        endpoint = f"{url}/agentsvc/accounts/{account.pk}"
        daphne = psutil.Process(process.popen.pid)
        rss_before = _rss(daphne)
        watch = Watch(daphne)

        pg_start = _pg_counters()
        cpu_0 = Cpu.now(daphne, postmaster_pid)
        asyncio.run(watch.during(_register_all(agents, endpoint, key, config, registering)))
        cpu_1 = Cpu.now(daphne, postmaster_pid)

        registered_seen = _last_seen(account)
        time.sleep(SETTLE_SECONDS)
        pg_0 = _pg_counters()
        redis_0 = _redis_connections(redis_url)
        cpu_2 = Cpu.now(daphne, postmaster_pid)
        asyncio.run(watch.during(_heartbeat_all([a for a in agents if a.credential], endpoint, config, beating)))
        cpu_3 = Cpu.now(daphne, postmaster_pid)
        redis_1 = _redis_connections(redis_url)
        rss_after = _rss(daphne)
        time.sleep(SETTLE_SECONDS)
        pg_1 = _pg_counters()
        daphne_alive = process.alive()
    finally:
        process.stop()

    heartbeat_seen = _last_seen(account)
    stale = [m for m, seen in registered_seen.items() if not heartbeat_seen.get(m) or heartbeat_seen[m] <= seen]
    unanswered = [a.name for a in agents if a.credential and a.accepted == 0]
    workers = HybridWorker.objects.filter(account=account)
    worker_count = workers.count()
    wrong_facts = workers.exclude(os__in=OSES).count() + workers.exclude(ip__startswith="10.20.").count()

    # The SQL of one heartbeat and of one registration, exactly (the database counters include reconnects).
    probe = Agent.make(config.agents, config.groups)
    path = f"/agentsvc/accounts/{account.pk}/v1"
    body = {"group": probe.group, "machine_id": probe.machine_id, "name": probe.name, "facts": probe.facts()}
    _, register_sql = _sql_of_one(f"{path}/register", key, body)
    with_credential = [a for a in agents if a.credential]
    heartbeat_sql: list[str] = []
    if with_credential:
        _, heartbeat_sql = _sql_of_one(f"{path}/heartbeat", with_credential[0].credential, {"facts": probe.facts()})

    heartbeats = beating.ok()
    register_wall, beat_wall = registering.wall, beating.wall
    offered = len(with_credential) / config.heartbeat_seconds
    sessions = pg_1[0] - pg_0[0]
    transactions = pg_1[1] - pg_0[1]
    register_sessions = pg_0[0] - pg_start[0]
    redis_opened = redis_1 - redis_0 - 1  # less this test's own INFO connection
    gaps = sorted(g for g in (a.longest_gap() for a in agents) if g is not None)
    offline_after = settings.OFFLINE_AFTER_MISSED_HEARTBEATS * config.heartbeat_seconds
    intervals = sorted((a.accepted_at[-1] - a.accepted_at[0]) / (a.accepted - 1) for a in agents if a.accepted >= 2)
    machine = (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {_cpu_model()}, "
        f"Python {platform.python_version()}, PostgreSQL {_pg_version()}, {platform.system()} {platform.release()}"
    )

    def cpu_line(name: str, a: Cpu, b: Cpu, wall: float, requests: int) -> list[str]:
        pg = None if a.postgres is None or b.postgres is None else b.postgres - a.postgres
        busy = (b.machine_busy - a.machine_busy) / max(b.machine_total - a.machine_total, 1e-9) * 100
        per = max(requests, 1)
        pg_per = "unavailable" if pg is None else f"{pg / per * 1000:.2f} ms"
        return [
            f"{name:<22}daphne {_share(b.daphne - a.daphne, wall)}; PostgreSQL {_share(pg, wall)}; "
            f"load generator {_share(b.bench - a.bench, wall)}; machine busy {busy:.0f}% of all cores",
            f"{'':<22}per request: daphne {(b.daphne - a.daphne) / per * 1000:.2f} ms CPU, PostgreSQL {pg_per} CPU",
        ]

    lines = [
        "",
        "=" * 100,
        "HEARTBEAT BENCHMARK: simulated agents against one daphne process on PostgreSQL",
        "=" * 100,
        f"command:              {_command()}",
        f"machine:              {machine}",
        f"note:                 the load generator (this pytest process: asyncio + httpx) shares these "
        f"{os.cpu_count()} cores with daphne, PostgreSQL and Redis",
        f"other load:           machine {busy_before:.0f}% busy in the second before daphne started "
        "(anything above a few % is other work skewing these figures)",
        f"setup:                {config.agents} agents in {config.groups} group(s), {config.connections} shared "
        f"HTTP/1.1 connections ({CONNECTIONS_PER_CLIENT} per httpx client), "
        f"heartbeat every {config.heartbeat_seconds} s for {config.seconds:g} s",
        f"daphne settings:      HEARTBEAT_INTERVAL_SECONDS={config.heartbeat_seconds} "
        f"FACTS_REFRESH_SECONDS={config.facts_refresh_seconds} AUTH_FAILURES_PER_MINUTE=1000000 "
        f"DB_CONN_MAX_AGE={daphne_env.get('DB_CONN_MAX_AGE', '0 (default)')}",
        "-" * 100,
        f"registrations:        {registering.ok()} of {config.agents} in {register_wall:.2f} s = "
        f"{registering.ok() / register_wall:.1f} registrations/s",
        f"registration latency: {_percentiles(registering.seen_ms)} (as the agent sees it)",
        f"registration errors:  {_errors(registering)}",
        f"heartbeats:           {heartbeats} answered 200 in {beat_wall:.2f} s = {heartbeats / beat_wall:.1f} "
        f"heartbeats/s handled (offered: {offered:.1f}/s)",
        f"heartbeat latency:    {_percentiles(beating.seen_ms)} (as the agent sees it, waiting for a free "
        "connection included)",
        f"  on the wire:        {_percentiles(beating.wire_ms)} (from the moment a connection was free)",
        f"heartbeat errors:     {_errors(beating)}",
        f"per agent:            {heartbeats / max(len(with_credential), 1):.1f} heartbeats accepted each; "
        f"mean interval {_middle(intervals)} (asked: {config.heartbeat_seconds} s); "
        f"longest gap between two: {_middle(gaps)}; "
        f"{sum(g >= offline_after for g in gaps)} agents had a gap of {offline_after} s or more (the portal shows "
        "such a worker offline)",
        f"daphne RSS:           before {rss_before / MiB:.1f} MiB, after {rss_after / MiB:.1f} MiB, "
        f"peak {watch.peak_rss / MiB:.1f} MiB (pid {process.popen.pid})",
        f"daphne CPU total:     {cpu_3.daphne - cpu_0.daphne:.1f} s over both phases",
        *cpu_line("CPU, registration:", cpu_0, cpu_1, register_wall, registering.ok()),
        *cpu_line("CPU, heartbeats:", cpu_2, cpu_3, beat_wall, heartbeats),
        f"PostgreSQL counters:  {sessions} sessions opened, {transactions} transactions during the heartbeats = "
        f"{sessions / max(heartbeats, 1):.2f} sessions and {transactions / max(heartbeats, 1):.2f} "
        "transactions per heartbeat",
        f"{'':<22}{register_sessions} sessions opened during the registrations = "
        f"{register_sessions / max(registering.ok(), 1):.2f} per registration; backends connected to the test "
        f"database: {pg_start[2]} before, {pg_0[2]} after the registrations, {pg_1[2]} after the heartbeats",
        f"Redis connections:    {redis_opened} opened during the heartbeats = "
        f"{redis_opened / max(heartbeats, 1):.2f} per heartbeat",
        f"SQL per heartbeat:    {len(heartbeat_sql)} statements (in-process probe, reconnects not included):",
        *(f"{'':<22}{_abridged(q)}" for q in heartbeat_sql),
        f"SQL per registration: {len(register_sql)} statements (in-process probe, reconnects not included):",
        *(f"{'':<22}{_abridged(q)}" for q in register_sql),
        "=" * 100,
    ]
    print("\n".join(lines), flush=True)

    # Correctness only, never time.
    assert daphne_alive, "daphne exited during the benchmark"
    assert registering.server_errors() == 0 and beating.server_errors() == 0, "the server answered 5xx"
    assert registering.ok() == config.agents, f"registration errors: {_errors(registering)}"
    assert worker_count == config.agents, f"{worker_count} workers in the account, {config.agents} agents"
    assert not wrong_facts, "a worker's os or ip column does not hold what its agent reported"
    assert not beating.errors(), f"heartbeat errors: {_errors(beating)}"
    assert not unanswered, f"{len(unanswered)} agents never had a heartbeat accepted, e.g. {unanswered[:5]}"
    assert not stale, f"last_seen_at did not move on for {len(stale)} workers"
    assert len(registered_seen) == config.agents
