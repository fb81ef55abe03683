"""Simulated agents doing the real long-poll protocol, in a process of their own (never imports Django).

The benchmark process starts this with multiprocessing's spawn context: `main(config, inbox, outbox)`.
Each agent registers through the agent API with the account key (a worker of its own, with the capacity
given), then loops: `POST jobs/next` (long-poll), and for every job it gets, tells the benchmark process
at once (`("job", job_id, perf_counter time the answer was read, agent index, "next")`), then reports it
Completed with `POST jobs/{id}/finish` (`claim` as configured: a job that comes in that answer is reported
the same way, with "finish"). time.perf_counter is CLOCK_MONOTONIC on Linux, the same clock in every
process, so the benchmark compares these times with its own.

Running apart from the benchmark process keeps the agents' event loop and the benchmark's service calls
from taking turns on one GIL (they still share the machine's cores). Each agent has an httpx client of its
own (one connection for its long-poll, one more for a heartbeat beside it): a long-poll holds a
connection, as a real agent's does.

The config: endpoint, key, groups (a group name per agent), capacity, wait (the long-poll's), claim (of the end
reports), heartbeat_seconds (0: none), register_concurrency, first_poll_spread (seconds over which the first
long-polls start), name_prefix.

Messages to the benchmark: ("registered", [(index, worker_id), ...]) once every agent registered (or
("failed", text)), ("job", ...) as above, ("report", stats) when asked with ("report",), and ("done",
stats) after ("stop",).
"""

import asyncio
import contextlib
import random
import ssl
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUEST_TIMEOUT = 60.0
ERROR_PAUSE = 1.0


@dataclass
class SimAgent:
    index: int
    name: str
    group: str
    machine_id: str
    client: httpx.AsyncClient
    credential: str = ""
    worker_id: str = ""
    held: dict = field(default_factory=dict)  # job id -> lease, from its receipt to the answer to its end report


@dataclass
class Stats:
    polls: Counter = field(default_factory=Counter)  # answered long-polls by status
    finishes: Counter = field(default_factory=Counter)
    heartbeats: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    jobs: int = 0
    waiting: int = 0  # long-polls sent and not answered yet
    poll_ms: list[float] = field(default_factory=list)  # how long empty long-polls took (the server's wait)

    def snapshot(self) -> dict[str, Any]:
        empty = sorted(self.poll_ms)
        return {
            "polls": dict(self.polls),
            "finishes": dict(self.finishes),
            "heartbeats": dict(self.heartbeats),
            "errors": dict(self.errors),
            "jobs": self.jobs,
            "waiting": self.waiting,
            "empty_polls": len(empty),
            "empty_poll_median_s": empty[len(empty) // 2] / 1000 if empty else None,
        }


def facts(agent: SimAgent, capacity: int) -> dict[str, Any]:
    return {
        "hostname": agent.name,
        "os": "Debian GNU/Linux 12 (bookworm)",
        "ip_addresses": [f"10.30.{agent.index // 250}.{agent.index % 250 + 2}"],
        "cpu_count": 2,
        "memory_bytes": 8 * 1024**3,
        "agent_version": "bench",
        "python_version": "3.11",
        "capacity": capacity,
        "clock": time.time(),
    }


def main(config: dict[str, Any], inbox, outbox) -> None:
    asyncio.run(_main(config, inbox, outbox))


async def _main(config: dict[str, Any], inbox, outbox) -> None:
    endpoint = config["endpoint"]
    groups: list[str] = config["groups"]  # one per agent
    capacity = int(config.get("capacity", 1))
    wait = float(config.get("wait", 25.0))
    claim = int(config.get("claim", 0))
    heartbeat_seconds = float(config.get("heartbeat_seconds", 0))
    concurrency = int(config.get("register_concurrency", 32))
    spread = float(config.get("first_poll_spread", 0))
    context = ssl.create_default_context()  # one for all clients (each would load the CA bundle again)
    agents = [
        SimAgent(
            index=i,
            name=f"{config.get('name_prefix', 'sim')}-{i:05d}",
            group=group,
            machine_id=f"bench-{uuid.uuid4().hex}",
            client=httpx.AsyncClient(
                trust_env=False,
                verify=context,
                timeout=REQUEST_TIMEOUT,
                limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
            ),
        )
        for i, group in enumerate(groups)
    ]
    stats = Stats()
    stopping = asyncio.Event()

    def send(message: tuple) -> None:
        outbox.send(message)

    async def post(agent: SimAgent, operation: str, token: str, body: dict, timeout: float = REQUEST_TIMEOUT):
        return await agent.client.post(
            f"{endpoint}/v1/{operation}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    # ---- registration, through the API with the account key -------------------------------------------
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def register(agent: SimAgent) -> None:
        body = {
            "group": agent.group,
            "machine_id": agent.machine_id,
            "name": agent.name,
            "facts": facts(agent, capacity),
        }
        async with gate:
            for attempt in range(5):
                try:
                    response = await post(agent, "register", config["key"], body)
                except httpx.HTTPError as exc:
                    stats.errors[f"register {type(exc).__name__}"] += 1
                    await asyncio.sleep(ERROR_PAUSE * (attempt + 1))
                    continue
                if response.status_code in (200, 201):
                    answer = response.json()
                    agent.credential, agent.worker_id = answer["credential"], answer["worker_id"]
                    return
                stats.errors[f"register {response.status_code}"] += 1
                await asyncio.sleep(ERROR_PAUSE * (attempt + 1))
        failures.append(f"{agent.name}: registration failed")

    await asyncio.gather(*(register(a) for a in agents))
    if failures:
        send(("failed", f"{len(failures)} registrations failed: {failures[:3]}; errors {dict(stats.errors)}"))
        for agent in agents:
            await agent.client.aclose()
        return
    send(("registered", [(a.index, a.worker_id) for a in agents]))

    # ---- the protocol ---------------------------------------------------------------------------------
    async def finish(agent: SimAgent, jobs: list[dict]) -> None:
        for job in jobs:
            agent.held[job["id"]] = job["lease"]
        while jobs:
            job = jobs.pop(0)
            body = {"lease": job["lease"], "status": "Completed", "exit_code": 0, "claim": claim}
            for _ in range(5):
                try:
                    response = await post(agent, f"jobs/{job['id']}/finish", agent.credential, body)
                except httpx.HTTPError as exc:
                    stats.errors[f"finish {type(exc).__name__}"] += 1
                    await asyncio.sleep(ERROR_PAUSE)
                    continue
                stats.finishes[response.status_code] += 1
                agent.held.pop(job["id"], None)
                if response.status_code == 200:
                    more = response.json().get("jobs") or []
                    if more:
                        received = time.perf_counter()
                        for item in more:
                            stats.jobs += 1
                            agent.held[item["id"]] = item["lease"]
                            send(("job", item["id"], received, agent.index, "finish"))
                        jobs.extend(more)
                break

    async def poll(agent: SimAgent) -> None:
        # Real agents started at different times: their long-polls end at different moments, not all at once.
        await asyncio.sleep(random.uniform(0, spread))
        while not stopping.is_set():
            stats.waiting += 1
            sent = time.perf_counter()
            try:
                response = await post(agent, "jobs/next", agent.credential, {"wait": wait}, timeout=wait + 30.0)
            except httpx.HTTPError as exc:
                stats.errors[f"next {type(exc).__name__}"] += 1
                await asyncio.sleep(ERROR_PAUSE)
                continue
            finally:
                stats.waiting -= 1
            received = time.perf_counter()
            stats.polls[response.status_code] += 1
            if response.status_code != 200:
                await asyncio.sleep(ERROR_PAUSE)
                continue
            jobs = response.json().get("jobs") or []
            if not jobs:
                stats.poll_ms.append((received - sent) * 1000)
            for job in jobs:
                stats.jobs += 1
                send(("job", job["id"], received, agent.index, "next"))
            await finish(agent, list(jobs))

    async def heartbeat(agent: SimAgent) -> None:
        # Spread over one interval, as real agents started at different times are.
        await asyncio.sleep(random.uniform(0, heartbeat_seconds))
        while not stopping.is_set():
            started = time.monotonic()
            # With the jobs it holds, as the real agent: the server takes back a claim whose answer never came.
            held = [{"id": job_id, "lease": lease} for job_id, lease in agent.held.items()]
            body = {"facts": facts(agent, capacity), "jobs": held}
            try:
                response = await post(agent, "heartbeat", agent.credential, body)
                stats.heartbeats[response.status_code] += 1
                if response.status_code == 409:
                    for job_id in response.json().get("lost") or []:
                        agent.held.pop(str(job_id), None)
            except httpx.HTTPError as exc:
                stats.errors[f"heartbeat {type(exc).__name__}"] += 1
            await asyncio.sleep(max(0.0, heartbeat_seconds - (time.monotonic() - started)))

    tasks = [asyncio.create_task(poll(a)) for a in agents]
    if heartbeat_seconds > 0:
        tasks += [asyncio.create_task(heartbeat(a)) for a in agents]

    while True:
        message = await asyncio.to_thread(inbox.recv)
        if message[0] == "report":
            send(("report", stats.snapshot()))
        elif message[0] == "stop":
            break
    stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for agent in agents:
        with contextlib.suppress(Exception):
            await agent.client.aclose()
    send(("done", stats.snapshot()))


# ---- the benchmark's side --------------------------------------------------------------------------------


class Fleet:
    """The simulated agents' process, seen from the benchmark process."""

    def __init__(self, config: dict[str, Any]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._inbox_reader, self._inbox = context.Pipe(duplex=False)
        self._outbox, self._outbox_writer = context.Pipe(duplex=False)
        self.process = context.Process(
            target=main, args=(config, self._inbox_reader, self._outbox_writer), name="simulated-agents", daemon=True
        )
        self.process.start()
        self.pending_jobs: list[tuple] = []
        self.workers: dict[int, str] = {}

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def _receive(self, timeout: float) -> tuple | None:
        if not self._outbox.poll(max(0.0, timeout)):
            return None
        message = self._outbox.recv()
        if message[0] == "failed":
            raise RuntimeError(f"simulated agents: {message[1]}")
        return message

    def expect(self, kind: str, timeout: float) -> tuple:
        """The next message of `kind`; job messages that come first are kept for next_job."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if not self.process.is_alive() and not self._outbox.poll():
                raise RuntimeError(f"the simulated agents' process exited ({self.process.exitcode})")
            message = self._receive(min(left, 1.0))
            if message is None:
                if left <= 0:
                    raise TimeoutError(f"no {kind!r} from the simulated agents within {timeout:g} s")
                continue
            if message[0] == kind:
                return message
            if message[0] == "job":
                self.pending_jobs.append(message)

    def registered(self, timeout: float) -> dict[int, str]:
        self.workers = dict(self.expect("registered", timeout)[1])
        return self.workers

    def next_job(self, timeout: float) -> tuple:
        """("job", job_id, perf_counter time received, agent index, "next" or "finish")."""
        if self.pending_jobs:
            return self.pending_jobs.pop(0)
        return self.expect("job", timeout)

    def report(self, timeout: float = 30.0) -> dict[str, Any]:
        self._inbox.send(("report",))
        return self.expect("report", timeout)[1]

    def stop(self, timeout: float = 60.0) -> dict[str, Any] | None:
        stats = None
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self._inbox.send(("stop",))
            with contextlib.suppress(TimeoutError, RuntimeError):
                stats = self.expect("done", timeout)[1]
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        return stats
