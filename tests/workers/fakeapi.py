"""A stand-in for the agent API, served from the test's process, for faults the real server cannot show on cue.

It speaks the agent API's job protocol (heartbeat, jobs/next, records, finish, leave, and the job-side asset
operations: jobs/<id>/variables/<name> and the like, jobs/<id>/children) closely enough for a real
`hybridworker run` process, keeps every request it got, and checks what the real server relies on:
records of a job arrive in order, without gaps (a batch sent again may repeat records, which are then
compared with what is stored). A test scripts the rest: jobs to hand out, a body size limit (413), leases
taken back (409 `stale_lease` to the heartbeat, 409 to reports).
"""

import contextlib
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from workers.state import Registration, StateDir

ACCOUNT = "0b7b5e2e-6a43-4a8e-9d7e-4c6c1f0a2b31"
CREDENTIAL = "hrw_fake-worker-credential-0123456789"


@dataclass
class Request:
    operation: str
    job_id: str | None
    body: dict[str, Any]
    size: int
    at: float
    authorization: str
    method: str = "POST"
    # The X-Job-Lease header of a job-side asset request, and the path under jobs/<id>/ it asked for (unquoted).
    lease: str | None = None
    path: str = ""


@dataclass
class FakeJob:
    id: str
    lease: str
    payload: dict[str, Any]
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    # The records of earlier attempts (the real server numbers each attempt's records after the last's).
    attempts: list[dict[int, dict[str, Any]]] = field(default_factory=list)
    finish: dict[str, Any] | None = None
    taken_back_at: float | None = None
    stop: bool = False
    # The job that started this one (POST jobs/<id>/children).
    parent: str | None = None

    @property
    def taken_back(self) -> bool:
        return self.taken_back_at is not None

    def texts(self, stream: str | None = None) -> list[str]:
        return [r["text"] for _, r in sorted(self.records.items()) if stream is None or r["stream"] == stream]


class FakeAgentApi:
    def __init__(self, *, heartbeat_interval: int = 5) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.max_body: int | None = None
        self.requests: list[Request] = []
        self.jobs: dict[str, FakeJob] = {}
        self.problems: list[str] = []
        # Job-side assets, "variables/NAME" (the name unquoted): the server's answer, its "secret" list included.
        self.assets: dict[str, dict[str, Any]] = {}
        # Runbooks a job may start as children: name -> (runbook type, content).
        self.runbooks: dict[str, tuple[str, str]] = {}
        self._queue: list[str] = []
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- the test's side ---------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/agentsvc/accounts/{ACCOUNT}"

    def __enter__(self) -> "FakeAgentApi":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop answering: connections are refused from now on."""
        self._server.shutdown()
        self._server.server_close()

    def register(self, state_dir: Path, name: str = "fake01") -> StateDir:
        """Write the state folder `hybridworker register` would leave (this server never registers anyone)."""
        state = StateDir(state_dir)
        state.machine_id_or_create()
        registration = Registration(
            endpoint=self.endpoint,
            account_id=ACCOUNT,
            group="fakes",
            name=name,
            worker_id=str(uuid.uuid4()),
            heartbeat_interval=self.heartbeat_interval,
            long_poll_timeout=1,
            registered_at=time.time(),
        )
        state.save_registration(registration, credential=CREDENTIAL, ca_bundle_pem=None)
        return state

    def queue(
        self, runbook_type: str, content: str, *, parameters=None, timeout_seconds=None, parent: str | None = None
    ) -> FakeJob:
        job_id, lease = str(uuid.uuid4()), str(uuid.uuid4())
        payload = {
            "id": job_id,
            "lease": lease,
            "runbook": "fake",
            "version": 1,
            "runbook_type": runbook_type,
            "content": content,
            "sha256": hashlib.sha256(content.encode()).hexdigest(),
            "parameters": parameters or {},
            "declared": [],
            "timeout_seconds": timeout_seconds,
        }
        with self._lock:
            job = self.jobs[job_id] = FakeJob(job_id, lease, payload, parent=parent)
            self._queue.append(job_id)
            self._lock.notify_all()
        return job

    def take_back(self, job: FakeJob) -> None:
        """As the server's sweep does to a worker silent past its lease."""
        with self._lock:
            job.taken_back_at = time.monotonic()

    def run_again(self, job: FakeJob) -> None:
        """As the server does with a running job of a lost worker that has retries left: a new attempt, a new lease."""
        with self._lock:
            job.attempts.append(job.records)
            job.records, job.taken_back_at = {}, None
            job.lease = job.payload["lease"] = str(uuid.uuid4())
            job.payload["attempt"] = len(job.attempts) + 1
            self._queue.append(job.id)
            self._lock.notify_all()

    def of(self, operation: str, job: FakeJob | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.operation == operation and (job is None or r.job_id == job.id)]

    # ---- the server's side -------------------------------------------------------------------

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._job_side("GET")

            def do_PUT(self) -> None:
                self._job_side("PUT")

            def do_POST(self) -> None:
                if "/children" in self.path:
                    return self._job_side("POST")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = self.path.split("/v1/", 1)[1].split("/")
                # heartbeat, leave, jobs/next, jobs/<id>/records, jobs/<id>/finish
                operation, job_id = (parts[-1], None) if len(parts) < 3 else (f"jobs/{parts[2]}", parts[1])
                body = json.loads(raw or b"{}")
                request = Request(operation, job_id, body, len(raw), time.monotonic(), self.headers["Authorization"])
                with api._lock:
                    api.requests.append(request)
                limited = operation in ("jobs/records", "jobs/finish")
                if limited and api.max_body is not None and len(raw) > api.max_body:
                    return self._send(413, {"code": "too_large", "detail": f"over the {api.max_body} byte limit"})
                status, answer = getattr(api, "_" + operation.replace("jobs/", ""))(request)
                self._send(status, answer)

            def _job_side(self, method: str) -> None:
                """jobs/<id>/<kind>/<name> and jobs/<id>/children[/<child>]: the job's assets, under its lease."""
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                url = urlsplit(self.path)
                _, job_id, *rest = url.path.split("/v1/", 1)[1].split("/")
                request = Request(
                    "jobs/assets",
                    job_id,
                    json.loads(raw) if raw else {},
                    len(raw),
                    time.monotonic(),
                    self.headers["Authorization"],
                    method=method,
                    lease=self.headers.get("X-Job-Lease"),
                    path="/".join(unquote(part) for part in rest),
                )
                with api._lock:
                    api.requests.append(request)
                self._send(*api._job_side(request, rest, parse_qs(url.query)))

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):
                    self.wfile.write(data)

        return Handler

    def _heartbeat(self, request: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            lost = [
                item["id"]
                for item in request.body.get("jobs") or []
                if item["id"] not in self.jobs or self.jobs[item["id"]].taken_back
            ]
        if lost:
            return 409, {"code": "stale_lease", "detail": "jobs were taken back", "lost": lost}
        answer = {"worker_id": str(uuid.uuid4()), "name": "fake01", "group": "fakes"}
        return 200, {**answer, "heartbeat_interval": self.heartbeat_interval, "server_time": time.time()}

    def _next(self, request: Request) -> tuple[int, dict[str, Any]]:
        deadline = time.monotonic() + min(float(request.body.get("wait") or 0), 1.0)
        with self._lock:
            while not self._queue and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            handed = [self.jobs[job_id].payload for job_id in self._queue]
            self._queue.clear()
            stops = [job.id for job in self.jobs.values() if job.stop and job.finish is None]
        return 200, {"jobs": handed, "stop": stops}

    def _store(self, request: Request) -> tuple[int, dict[str, Any]] | FakeJob:
        with self._lock:
            job = self.jobs.get(request.job_id or "")
            if job is None or job.taken_back or job.finish is not None or request.body.get("lease") != job.lease:
                return 409, {"code": "stale_lease", "detail": "this job is not held under that lease"}
            for record in request.body.get("records") or []:
                seq = record["seq"]
                if seq in job.records:
                    if job.records[seq]["text"] != record["text"]:
                        self.problems.append(f"job {job.id}: record {seq} sent again with another text")
                elif seq != len(job.records):
                    self.problems.append(f"job {job.id}: record {seq} arrived after {len(job.records)} records")
                else:
                    job.records[seq] = record
            return job

    def _records(self, request: Request) -> tuple[int, dict[str, Any]]:
        stored = self._store(request)
        if not isinstance(stored, FakeJob):
            return stored
        return 200, {"status": "Running", "stop": stored.stop}

    def _finish(self, request: Request) -> tuple[int, dict[str, Any]]:
        stored = self._store(request)
        if not isinstance(stored, FakeJob):
            return stored
        with self._lock:
            stored.finish = request.body
            self._lock.notify_all()
        return 200, {"status": request.body["status"], "stop": False}

    def _leave(self, request: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            released = sum(1 for job in self.jobs.values() if job.finish is None and not job.taken_back)
        return 200, {"released": released}

    def _job_side(self, request: Request, rest: list[str], query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            job = self.jobs.get(request.job_id or "")
            if job is None or job.taken_back or job.finish is not None or request.lease != job.lease:
                return 409, {"code": "lease_lost", "detail": "this job is not held under that lease"}
        if rest[0] == "children":
            return self._children(request, job, rest[1:], query)
        kind, name = rest[0], unquote(rest[1])
        with self._lock:
            answer = self.assets.get(f"{kind}/{name}")
            if answer is None:
                return 404, {"code": "asset_not_found", "detail": f"no {kind[:-1]} named {name} in this account"}
            if request.method == "PUT":
                answer["value"] = request.body["value"]
                return 200, {"name": name, "encrypted": answer.get("encrypted", False)}
            return 200, dict(answer)

    def _children(
        self, request: Request, parent: FakeJob, rest: list[str], query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        if request.method == "POST":
            name = request.body.get("runbook")
            if name not in self.runbooks:
                return 404, {"code": "runbook_not_found", "detail": f"no published runbook named {name}"}
            runbook_type, content = self.runbooks[name]
            child = self.queue(runbook_type, content, parameters=request.body.get("parameters"), parent=parent.id)
            return 201, {"id": child.id, "status": "Queued"}
        deadline = time.monotonic() + min(float((query.get("wait") or ["0"])[0]), 5.0)
        with self._lock:
            child = self.jobs.get(rest[0])
            if child is None or child.parent != parent.id:
                return 404, {"code": "not_found", "detail": "no such child job"}
            while child.finish is None and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            finish = child.finish or {}
            return 200, {
                "id": child.id,
                "status": finish.get("status", "Running"),
                "status_reason": finish.get("reason", ""),
                "output": child.texts("output"),
            }
