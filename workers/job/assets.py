"""A job's relay to its account's assets: what `automationassets`, the PowerShell module and `hybridworker asset`
speak to while the job runs.

For each job the agent listens on 127.0.0.1 (a port of its own) before the runbook starts, and stops listening
once the runbook's process group is gone. The runbook gets the address and a token made for this job alone
(HYBRIDWORKER_ASSETS_URL and HYBRIDWORKER_ASSETS_TOKEN, in its environment only: not on a command line, not in a
file). A request must carry `Authorization: Bearer <token>`; it is passed on to the agent API under the job's
lease with the worker's own credential, which never reaches the runbook:

    GET  /variables/NAME      PUT /variables/NAME {"value": ...}
    GET  /credentials/NAME    GET /connections/NAME    GET /certificates/NAME
    POST /children {"runbook", "parameters", "run_on"}    GET /children/ID?wait=SECONDS

The server's status and answer come back as they are (its errors keep their code and detail), less the list of
values the server marks secret: those go to the job's masker (workers.job.masking) before the runbook is
answered, so whatever it prints with them afterwards is masked. The token is useless to any other job (each has
its own, compared in constant time) and once the job ended (the relay is closed, and the server refuses the
lease anyway). Each connection carries one request (`Connection: close`): the clients are simple, and so is this.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from workers.client import JobsClient, Unreachable
from workers.job.masking import Masker

# A variable's value is at most 1,048,576 characters of JSON: a request body twice that leaves room for escapes.
MAX_BODY = 2 * 1024 * 1024
# A body up to this large is read and dropped before the 413; a larger one is not worth reading.
MAX_DISCARDED = 32 * 1024 * 1024
MAX_HEADER_LINES = 100
# The longest a runbook may have the server wait for a child job in one request.
MAX_CHILD_WAIT = 60
# On top of a request's own wait, for the server's answer to travel.
ANSWER_SECONDS = 20.0
KINDS = ("variables", "credentials", "connections", "certificates")
SECRET_FIELDS = {"credentials": "password", "certificates": "pkcs12_base64"}
USAGE = (
    "the relay takes GET or PUT /variables/NAME, GET /credentials/NAME, /connections/NAME, /certificates/NAME, "
    "POST /children and GET /children/ID?wait=SECONDS"
)
_REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+) HTTP/1\.[01]$")


class RelayError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def answer(self) -> tuple[int, dict[str, Any]]:
        return self.status, {"code": self.code, "detail": self.detail}


class AssetRelay:
    def __init__(
        self,
        *,
        job_id: str,
        lease: str,
        client: JobsClient,
        credential: Callable[[], str],
        masker: Masker,
        worker_name: str,
        log: logging.Logger,
    ) -> None:
        self.job_id = job_id
        self.lease = lease
        self.client = client
        self.credential = credential
        self.masker = masker
        self.worker_name = worker_name
        self.log = log
        self.token = secrets.token_urlsafe(32)
        self._server: asyncio.AbstractServer | None = None
        self._port: int | None = None
        self._handlers: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        assert self._port is not None, "the relay is not open"
        return f"http://127.0.0.1:{self._port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, host="127.0.0.1", port=0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end the requests still open (a child's wait): nothing more goes through."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> AssetRelay:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            try:
                status, answer = await self._answer(reader)
            except RelayError as exc:
                status, answer = exc.answer()
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, UnicodeDecodeError):
                status, answer = 400, {"code": "bad_request", "detail": "the request is not well-formed HTTP/1.1"}
            except Exception:
                self.log.exception("job %s: the asset relay failed on a request", self.job_id)
                status, answer = (
                    500,
                    {"code": "relay_failed", "detail": f"the agent on worker {self.worker_name} failed"},
                )
            body = json.dumps(answer).encode("utf-8")
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
            head = (
                f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        match = _REQUEST_LINE.match((await reader.readline()).decode("latin-1").rstrip("\r\n"))
        if match is None:
            raise RelayError(400, "bad_request", "the request is not well-formed HTTP/1.1")
        method, target = match.groups()
        headers = await _read_headers(reader)
        # Nothing about the relay, not even which paths exist, is told to a request without the job's token.
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            await _discard(reader, _content_length(headers))
            raise RelayError(401, "unauthorized", "this request does not carry the job's asset token")
        body = await _read_body(reader, headers)
        operation, wait = _route(method, target)
        if method in ("PUT", "POST") and not isinstance(body, dict):
            raise RelayError(400, "invalid_body", f"{method} {urlsplit(target).path} takes a JSON object")
        return await self._forward(method, operation, body if method in ("PUT", "POST") else None, wait)

    async def _forward(self, method: str, operation: str, body: Any, wait: int) -> tuple[int, Any]:
        try:
            status, answer = await self.client.job_assets(
                credential=self.credential(),
                job_id=self.job_id,
                lease=self.lease,
                method=method,
                operation=operation,
                body=body,
                timeout=wait + ANSWER_SECONDS,
            )
        except Unreachable as exc:
            self.log.warning("job %s: an asset request could not reach the server: %s", self.job_id, exc.reason)
            raise RelayError(
                502, "server_unreachable", f"worker {self.worker_name} cannot reach the server: {exc.reason}"
            ) from None
        if not isinstance(answer, dict):
            raise RelayError(502, "bad_response", f"the server answered HTTP {status} without a JSON object")
        hidden = answer.pop("secret", None)
        hidden = list(hidden) if isinstance(hidden, list) else []
        # What is secret by its kind, whatever the server listed: a password, a certificate with its key.
        kind = operation.split("/", 1)[0]
        if status == 200 and kind in SECRET_FIELDS:
            hidden.append(answer.get(SECRET_FIELDS[kind]))
        # Before the runbook has the values: a line it prints with one afterwards is masked.
        for value in hidden:
            if value is not None:
                self.masker.add(value)
        return status, answer


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return headers
        name, colon, value = line.partition(":")
        if not colon:
            raise RelayError(400, "bad_request", "a header line has no colon")
        headers[name.strip().lower()] = value.strip()
    raise RelayError(431, "headers_too_large", f"more than {MAX_HEADER_LINES} header lines")


def _content_length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        raise RelayError(411, "length_required", "send the body with a Content-Length, not chunked")
    try:
        return max(0, int(headers.get("content-length") or 0))
    except ValueError:
        raise RelayError(400, "bad_request", "Content-Length is not a number") from None


async def _discard(reader: asyncio.StreamReader, length: int) -> None:
    """Read a body that is refused before answering: a socket closed on unread data is reset, and the client
    would see a broken connection instead of the answer."""
    if length > MAX_DISCARDED:
        return
    while length > 0:
        length -= len(await reader.readexactly(min(length, 64 * 1024)))


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> Any:
    length = _content_length(headers)
    if length > MAX_BODY:
        await _discard(reader, length)
        raise RelayError(413, "too_large", f"a request body may hold at most {MAX_BODY:,} bytes")
    if length == 0:
        return None
    raw = await reader.readexactly(length)
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        raise RelayError(400, "invalid_json", "the request body is not JSON (UTF-8)") from None


def _route(method: str, target: str) -> tuple[str, int]:
    """The operation under the server's `jobs/<id>/` for a request, and how long the server may wait on it."""
    parts = urlsplit(target)
    segments = parts.path.strip("/").split("/")
    if len(segments) == 2 and segments[0] in KINDS:
        allowed = ("GET", "PUT") if segments[0] == "variables" else ("GET",)
        _allow(method, allowed, parts.path)
        name = unquote(segments[1])
        if not name.strip() or name in (".", ".."):
            raise RelayError(400, "invalid_name", f"{name!r} is not an asset name")
        # Quoted again whole: a name holding "/" or "?" stays one path segment on its way to the server.
        return f"{segments[0]}/{quote(name, safe='')}", 0
    if segments == ["children"]:
        _allow(method, ("POST",), parts.path)
        return "children", 0
    if len(segments) == 2 and segments[0] == "children":
        _allow(method, ("GET",), parts.path)
        try:
            child = str(uuid.UUID(segments[1]))
        except ValueError:
            raise RelayError(404, "not_found", f"{segments[1]!r} is not a job id") from None
        values = parse_qs(parts.query).get("wait") or ["0"]
        try:
            wait = int(values[-1])
        except ValueError:
            raise RelayError(400, "invalid_wait", "wait must be a whole number of seconds") from None
        if not 0 <= wait <= MAX_CHILD_WAIT:
            raise RelayError(400, "invalid_wait", f"wait must be 0 to {MAX_CHILD_WAIT} seconds")
        return f"children/{child}?wait={wait}", wait
    raise RelayError(404, "not_found", f"no such operation: {method} {parts.path}; {USAGE}")


def _allow(method: str, allowed: tuple[str, ...], path: str) -> None:
    if method not in allowed:
        raise RelayError(405, "method_not_allowed", f"{path} takes {' or '.join(allowed)}, not {method}")
