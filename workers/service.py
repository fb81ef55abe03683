"""`hybridworker run`: one service per state folder, running its tasks until told to stop.

Two tasks, each in a thread of its own: the heartbeat (workers.heartbeat) and the jobs task
(workers.jobs), which waits for work and runs it. They share the credential, the stop signal and the
jobs held under a lease (workers.leases); the jobs task waits for the first accepted heartbeat, which
tells the server this worker's capacity.

When the service stops (SIGTERM, SIGINT, or a task failing), once its jobs are stopped and reported it
tells the server it is leaving (`POST v1/leave`, a few seconds at most, best effort): the worker shows
offline at once and whatever it still held is taken back now rather than when its lease runs out. It
does not when the worker was removed, nor after registering again elsewhere.

The service keeps its own files private (umask 077, its log 0600); runbooks get the umask the agent
was started with. As root it runs runbooks as another user (workers.identity): it checks at start that
this user can reach the sandboxes (else exit status 2) and run the Python interpreter (else Python jobs
fail, saying so).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from workers import __version__
from workers.client import AgentClient, ApiError, Unreachable, parse_endpoint
from workers.console import Console
from workers.errors import EXIT_BUSY, EXIT_FAILED, EXIT_NOT_REGISTERED, EXIT_OK, EXIT_USAGE, AgentError, NotRegistered
from workers.facts import MAX_CAPACITY, cpu_count
from workers.heartbeat import HeartbeatTask
from workers.identity import RunAs, allowed_users, can_access, closed_folder, resolve_run_as, user_exists
from workers.jobs import DEFAULT_SHUTDOWN_GRACE, DEFAULT_STOP_GRACE, JobSettings, JobsTask
from workers.leases import HeldJobs
from workers.logs import Redactor, setup_service_logging
from workers.outputcap import DEFAULT_MAX_OUTPUT_MB
from workers.sandbox import DEFAULT_KEEP_DAYS, prepare_sandboxes, sandboxes_dir
from workers.state import Registration, StateDir
from workers.task import Task

# After a stop request, how long a task may take to finish what it is doing (e.g. a request).
JOIN_TIMEOUT = 10.0
# Saying goodbye must not hold up a stop (systemd's own stop timeout is running).
LEAVE_SECONDS = 3.0
# The service's own files are private; runbooks get the umask the agent was started with.
SERVICE_UMASK = 0o077
NOT_REGISTERED = "this machine is not registered (state folder {path}); run 'hybridworker register' first"


class Service:
    def __init__(
        self,
        *,
        state: StateDir,
        registration: Registration,
        credential: str,
        client: AgentClient,
        log: logging.Logger,
        redact: Redactor,
        tasks: list[Task],
        capacity: int | None = None,
    ) -> None:
        self.state = state
        self.registration = registration
        self.credential = credential
        self.client = client
        self.log = log
        self.redact = redact
        self.tasks = tasks
        # Concurrent jobs; sent as the `capacity` fact with every heartbeat.
        self.capacity = capacity
        # Set by the first accepted heartbeat: from then on the server knows this worker's capacity.
        self.heartbeat_accepted = threading.Event()
        # The jobs held under a lease: the jobs task adds them, the heartbeat lists them.
        self.held = HeldJobs()
        # False once registered again with another server: this one is not told about the leaving.
        self.leave_on_stop = True
        self.exit_code = EXIT_OK
        self._stop = threading.Event()
        self._stop_lock = threading.Lock()
        self._signal: int | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep, but wake at once on a stop request. True when stopping."""
        return self._stop.wait(max(0.0, seconds))

    def stop(self, exit_code: int = EXIT_OK) -> None:
        # The first reason to stop decides the exit status (a SIGTERM after "removed" keeps 3).
        with self._stop_lock:
            if not self._stop.is_set():
                self.exit_code = exit_code
                self._stop.set()

    def stop_on_signal(self, signum: int, frame: object = None) -> None:
        # Only flag it: logging from a signal handler could wait on a lock this thread holds.
        self._signal = signum
        self.stop(EXIT_OK)

    def reload_registration(self) -> bool:
        """Take up a registration made while running (`register` again). True if the credential changed."""
        credential = self.state.credential()
        registration = self.state.registration()
        if not credential or registration is None or credential == self.credential:
            return False
        self.redact.hide(credential)
        if registration.endpoint != self.registration.endpoint:
            # The client was built for the old server; a fresh start builds one for the new.
            self.log.warning("registered again with %s; restarting to use it", registration.endpoint)
            self.leave_on_stop = False
            self.stop(EXIT_FAILED)
        self.credential, self.registration = credential, registration
        return True

    def _run_task(self, task: Task) -> None:
        try:
            task.run(self)
        except Exception:
            self.log.exception("the %s task failed; stopping so the service manager can restart the agent", task.name)
            self.stop(EXIT_FAILED)
            return
        if not self.stopping:
            self.log.error("the %s task ended unexpectedly; stopping", task.name)
            self.stop(EXIT_FAILED)

    def run(self) -> int:
        reg = self.registration
        self.log.info(
            "hybridworker %s started (pid %d): worker %r in group %r, endpoint %s %s, state folder %s",
            __version__,
            os.getpid(),
            reg.name,
            reg.group,
            reg.endpoint,
            self.client.route,
            self.state.path,
        )
        threads = [
            threading.Thread(target=self._run_task, args=(task,), name=task.name, daemon=True) for task in self.tasks
        ]
        for thread in threads:
            thread.start()
        while not self._stop.wait(1.0):
            pass
        if self._signal is not None:
            self.log.info("received %s; stopping", signal.Signals(self._signal).name)
        for task, thread in zip(self.tasks, threads):
            thread.join(timeout=getattr(task, "join_timeout", JOIN_TIMEOUT))
            if thread.is_alive():
                self.log.warning("the %s task did not end in time", task.name)
        for task in self.tasks:
            close = getattr(task, "close", None)
            if close is not None:
                close()
        self.leave()
        self.log.info("stopped (exit status %d)", self.exit_code)
        return self.exit_code

    def leave(self) -> None:
        """Tell the server this worker is gone, so it need not wait out the lease of what it still holds."""
        if self.exit_code == EXIT_NOT_REGISTERED or not self.leave_on_stop:
            return
        later = "the server shows it offline once its heartbeats are overdue"
        try:
            answer = self.client.leave(credential=self.credential, timeout=LEAVE_SECONDS)
        except ApiError as exc:
            self.log.warning(
                "could not tell the server this worker is leaving (HTTP %d: %s); %s", exc.status, exc.detail, later
            )
        except Unreachable as exc:
            self.log.warning("could not tell the server this worker is leaving (%s); %s", exc.reason, later)
        else:
            released = answer.get("released")
            taken = f"; it took back {released} job(s) this worker still held" if released else ""
            self.log.info("told the server this worker is leaving%s", taken)


class ServiceLock:
    """One `run` per state folder: an exclusive flock, released by the kernel however the process ends."""

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self._fd: int | None = None

    def __enter__(self) -> ServiceLock:
        fd = os.open(self.state.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.state.service_pid()
            who = f"(pid {pid}) " if pid else ""
            raise AgentError(
                f"another 'hybridworker run' {who}is already using the state folder {self.state.path}; "
                "stop it first, or give this one another --state-dir",
                exit_code=EXIT_BUSY,
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def prepare_run_as(
    state: StateDir, run_as: RunAs | None, python: str | None, log: logging.Logger, *, others: bool = False
) -> tuple[str, str | None]:
    """Open the way to the sandboxes for the run-as user (and only that far).

    Returns the interpreter for Python runbooks and, if that user cannot run any, why. Without --python that
    is the agent's own, or else the first `python3` on PATH the user can run (the agent's may sit in a
    folder closed to it, such as /root).
    """
    shared = run_as is not None
    if state.path.stat().st_uid == os.geteuid():
        os.chmod(state.path, 0o711 if shared else 0o700)
    sandboxes = sandboxes_dir(state.path)
    prepare_sandboxes(sandboxes, shared=shared)
    if run_as is None:
        return python or sys.executable, None
    if not can_access(run_as, sandboxes, "-x"):
        closed = closed_folder(run_as, sandboxes) or sandboxes
        raise AgentError(
            f"jobs run as {run_as.name}, who cannot reach {sandboxes}: the folder {closed} is closed to that user. "
            f"Let it through (chmod o+x {closed}), or choose another --state-dir or --run-as",
            exit_code=EXIT_USAGE,
        )
    candidates = [python] if python else [sys.executable, *_pythons_on_path()]
    for candidate in candidates:
        if can_access(run_as, Path(candidate), "-x"):
            if candidate != candidates[0]:
                log.info("Python runbooks run with %s: %s cannot run %s", candidate, run_as.name, candidates[0])
            return candidate, None
    problem = f"the Python interpreter {candidates[0]} cannot be run by user {run_as.name}"
    log.warning("%s: Python runbooks will fail; pass --python with one that user can run", problem)
    return candidates[0], problem


def _pythons_on_path() -> list[str]:
    folders = (os.environ.get("PATH") or os.defpath).split(os.pathsep)
    found = [os.path.join(folder, "python3") for folder in folders if folder]
    return [path for path in dict.fromkeys(found) if os.access(path, os.X_OK)]


def run(
    state: StateDir,
    console: Console,
    *,
    verbose: bool = False,
    capacity: int | None = None,
    python: str | None = None,
    stop_grace: float | None = None,
    shutdown_grace: float | None = None,
    run_as: str | None = None,
    allow_run_as: list[str] | None = None,
    max_output_mb: int | None = None,
    keep_sandboxes_days: float | None = None,
) -> int:
    if not state.exists():
        raise NotRegistered(NOT_REGISTERED.format(path=state.path))
    runs_as = resolve_run_as(run_as)
    allowed = allowed_users(allow_run_as)
    with ServiceLock(state):
        registration = state.registration()
        credential = state.credential()
        if registration is None or credential is None:
            raise NotRegistered(NOT_REGISTERED.format(path=state.path))
        console.hide(credential)
        started_umask = os.umask(SERVICE_UMASK)
        try:
            log = setup_service_logging(state.log_path, console.redact, verbose=verbose)
            os.chmod(state.log_path, 0o600)
            python, python_problem = prepare_run_as(state, runs_as, python, log, others=bool(allowed))
            for name in sorted(allowed):
                if not user_exists(name):
                    log.warning("--allow-run-as %s: there is no such user on this machine (yet)", name)
            capacity = capacity or min(cpu_count(), MAX_CAPACITY)
            jobs = JobSettings(
                capacity=capacity,
                python=python,
                stop_grace=DEFAULT_STOP_GRACE if stop_grace is None else stop_grace,
                shutdown_grace=DEFAULT_SHUTDOWN_GRACE if shutdown_grace is None else shutdown_grace,
                max_output_mb=max_output_mb or DEFAULT_MAX_OUTPUT_MB,
                keep_sandboxes_days=DEFAULT_KEEP_DAYS if keep_sandboxes_days is None else keep_sandboxes_days,
                run_as=runs_as,
                allowed_run_as=allowed,
                python_problem=python_problem,
                umask=started_umask,
            )
            return _serve(state, console, registration, credential, log, jobs)
        finally:
            os.umask(started_umask)


def _serve(
    state: StateDir,
    console: Console,
    registration: Registration,
    credential: str,
    log: logging.Logger,
    jobs: JobSettings,
) -> int:
    client = AgentClient(parse_endpoint(registration.endpoint), ca_bundle=state.ca_bundle())
    service = Service(
        state=state,
        registration=registration,
        credential=credential,
        client=client,
        log=log,
        redact=console.redact,
        tasks=[HeartbeatTask(), JobsTask(jobs)],
        capacity=jobs.capacity,
    )
    previous = {sig: signal.signal(sig, service.stop_on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    state.write_pid()
    try:
        return service.run()
    finally:
        state.clear_pid()
        client.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
