"""The heartbeat task: tell the server this worker is alive, every heartbeat_interval seconds.

Each heartbeat lists the jobs the service holds, with their leases (`"jobs": [{"id", "lease"}]`). When the
server has taken one back meanwhile (this worker was silent past its lease: paused, or cut off), it answers
409 `{"code": "stale_lease", "lost": [job ids]}` and applies nothing: those runs are ended at once, without
another word to the server about them (see workers.leases), and the heartbeat goes again right away without them.
"""

from __future__ import annotations

import logging
import time

from workers.backoff import Backoff
from workers.client import ApiError, Unreachable
from workers.errors import EXIT_NOT_REGISTERED
from workers.facts import collect_facts
from workers.leases import Lease
from workers.state import LastHeartbeat
from workers.task import ServiceHandle

REMOVED = "this worker was removed from group {group}; run 'hybridworker register' to add it again"
MAX_CLOCK_SKEW = 60.0


class Transitions:
    """Log a condition when it starts and when it ends, never once per retry."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.problem: str | None = None

    def failed(self, kind: str, message: str) -> None:
        if kind != self.problem:
            self.log.warning(message)
            self.problem = kind

    def recovered(self) -> None:
        if self.problem == "unreachable":
            self.log.info("server reachable again")
        elif self.problem is not None:
            self.log.info("heartbeats accepted again")
        self.problem = None


class HeartbeatTask:
    name = "heartbeat"

    def __init__(self) -> None:
        self.backoff = Backoff()
        self.clock_skewed = False

    def run(self, service: ServiceHandle) -> None:
        log = service.log
        link = Transitions(log)
        interval = float(service.registration.heartbeat_interval)
        while not service.stopping:
            started = time.monotonic()
            sent_at = time.time()
            held = service.held.snapshot()
            try:
                answer = service.client.heartbeat(
                    credential=service.credential,
                    facts=collect_facts(service.state.path, capacity=service.capacity),
                    jobs=held,
                )
            except ApiError as exc:
                lost = self._lost(exc, held)
                if lost:
                    ended = service.held.lose(lost)
                    log.warning(
                        "the server took back %s: this worker was silent past their lease (paused or cut off?); "
                        "ending them now without reporting",
                        ", ".join(f"job {job_id}" for job_id, _ in ended) or "jobs that already ended",
                    )
                    continue
                if exc.status == 401:
                    if service.reload_registration():
                        log.info("registered again meanwhile: using the new credential")
                        continue
                    log.error(REMOVED.format(group=service.registration.group))
                    service.stop(EXIT_NOT_REGISTERED)
                    return
                link.failed(f"http {exc.status} {exc.code}", f"heartbeat refused (HTTP {exc.status}): {exc.detail}")
                delay = max(self.backoff.next(), exc.retry_after or 0.0)
            except Unreachable as exc:
                link.failed("unreachable", f"server unreachable: {exc.reason} ({exc.url})")
                delay = self.backoff.next()
            else:
                link.recovered()
                self.backoff.reset()
                service.heartbeat_accepted.set()
                interval = self._take_interval(log, interval, answer)
                self._check_clock(log, sent_at, answer.get("server_time"))
                service.state.record_heartbeat(
                    LastHeartbeat(at=time.time(), interval=int(interval), server_time=answer.get("server_time"))
                )
                log.debug("heartbeat accepted; next in %.0f s", interval)
                service.wait(interval - (time.monotonic() - started))
                continue
            log.debug("heartbeat failed; next attempt in %.1f s", delay)
            service.wait(delay)

    @staticmethod
    def _lost(exc: ApiError, held: list[dict[str, str]]) -> list[Lease]:
        """The leases a `stale_lease` answer names among those sent (none: an answer that cannot be acted on)."""
        if exc.status != 409 or exc.code != "stale_lease" or not isinstance(exc.body.get("lost"), list):
            return []
        named = {str(job_id) for job_id in exc.body["lost"]}
        return [(job["id"], job["lease"]) for job in held if job["id"] in named]

    @staticmethod
    def _take_interval(log: logging.Logger, current: float, answer: dict) -> float:
        try:
            interval = max(1.0, float(answer.get("heartbeat_interval") or current))
        except (TypeError, ValueError):
            return current
        if interval != current:
            log.info("the server set the heartbeat interval to %.0f s (was %.0f s)", interval, current)
        return interval

    def _check_clock(self, log: logging.Logger, sent_at: float, server_time: object) -> None:
        if not isinstance(server_time, (int, float)):
            return
        skew = float(server_time) - (sent_at + time.time()) / 2
        skewed = abs(skew) > MAX_CLOCK_SKEW
        if skewed and not self.clock_skewed:
            log.warning(
                "this machine's clock is %.0f s %s the server's; synchronise it (NTP)",
                abs(skew),
                "behind" if skew > 0 else "ahead of",
            )
        elif self.clock_skewed and not skewed:
            log.info("this machine's clock agrees with the server's again")
        self.clock_skewed = skewed
