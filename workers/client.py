"""The agent API as Python calls: register, heartbeat, leave, deregister, and a probe for `diagnose`."""

from __future__ import annotations

import email.utils
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from workers import __version__
from workers.errors import AgentError
from workers.network import certificate_problem, describe_transport_error, proxy_for, ssl_context, without_password

ENDPOINT_SHAPE = "http(s)://HOST/agentsvc/accounts/<account id> (the URL field of the account's Keys blade)"
_ACCOUNT_PATH = re.compile(r"^(?P<prefix>.*)/accounts/(?P<account>[0-9A-Fa-f-]{32,36})$")


@dataclass(frozen=True)
class Endpoint:
    url: str
    account_id: str

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def parse_endpoint(url: str) -> Endpoint:
    """Check the URL from the Keys blade and take the account id out of it."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    match = _ACCOUNT_PATH.match(path)
    problem = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "it must start with http:// or https:// and name a host"
    elif parts.query or parts.fragment or parts.username:
        problem = "it must not carry a query, a fragment or a user name"
    elif match is None:
        problem = "its path must end with /accounts/<account id>"
    if problem is None:
        try:
            account_id = str(uuid.UUID(match["account"]))
        except ValueError:
            problem = "the account id in it is not a UUID"
    if problem is not None:
        raise AgentError(f"{url!r} is not an agent service URL: {problem}. Expected {ENDPOINT_SHAPE}.")
    return Endpoint(url=f"{parts.scheme}://{parts.netloc}{path}", account_id=account_id)


class Unreachable(AgentError):
    """No HTTP answer at all: DNS, connection, proxy, TLS or timeout."""

    def __init__(self, url: str, reason: str, *, certificate: str | None = None) -> None:
        self.url = url
        self.reason = reason
        self.certificate = certificate
        message = f"cannot reach {url}: {reason}"
        if certificate:
            message += (
                ". If the server's certificate comes from a private CA, pass --ca-bundle FILE with that CA's "
                "certificate (PEM); if a proxy intercepts TLS, ask your network administrator"
            )
        super().__init__(message)


class ApiError(AgentError):
    """The server answered with an error: {"code", "detail", ...}, where detail is written for people.

    `body` is the whole answer, for errors that carry more (a heartbeat's `stale_lease` lists the lost jobs).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.body = body or {}


@dataclass(frozen=True)
class Probe:
    """What one unauthenticated request told about the endpoint (for `diagnose`)."""

    status: int
    is_agent_api: bool
    server_date: float | None
    sent_at: float
    received_at: float
    peer_certificate: dict[str, Any] | None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return ApiError(
            response.status_code,
            str(body.get("code") or "error"),
            body["detail"],
            retry_after=_retry_after(response),
            body=body,
        )
    if response.is_redirect:
        where = response.headers.get("Location", "another address")
        detail = f"the server redirects to {where}; use that address as the endpoint URL"
    else:
        detail = (
            f"HTTP {response.status_code} {response.reason_phrase} from {response.request.url} (not the agent API?)"
        )
    return ApiError(response.status_code, "http_error", detail, retry_after=_retry_after(response))


def _http_options(endpoint: Endpoint, ca_bundle: Path | None, timeout: float) -> dict[str, Any]:
    """What both clients share: the proxy (with the loopback rule), the trusted CAs, timeouts and headers."""
    try:
        context = ssl_context(ca_bundle)
    except ValueError as exc:
        raise AgentError(str(exc)) from None
    # trust_env=False: the proxy was chosen by proxy_for (with the loopback rule), and the CAs too.
    return {
        "proxy": proxy_for(endpoint.url),
        "verify": context,
        "trust_env": False,
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        "headers": {"User-Agent": f"hybridworker/{__version__}", "Accept": "application/json"},
        "follow_redirects": False,
    }


def _answer(response: httpx.Response, url: str, expected: tuple[str, ...]) -> dict[str, Any]:
    if not response.is_success:
        raise _api_error(response)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or any(key not in answer for key in expected):
        raise ApiError(response.status_code, "bad_response", f"unexpected answer from {url} (not the agent API?)")
    return answer


class AgentClient:
    def __init__(self, endpoint: Endpoint, *, ca_bundle: Path | None = None, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        options = _http_options(endpoint, ca_bundle, timeout)
        self.proxy = options["proxy"]
        self._http = httpx.Client(**options)

    @property
    def route(self) -> str:
        """How requests travel, fit to print: "directly" or "through proxy http://proxy:3128"."""
        return f"through proxy {without_password(self.proxy)}" if self.proxy else "directly"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def url(self, operation: str) -> str:
        return f"{self.endpoint.url}/v1/{operation}"

    def _post(
        self, operation: str, token: str, body: dict[str, Any], expected: tuple[str, ...], timeout: float | None = None
    ) -> dict[str, Any]:
        url = self.url(operation)
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        try:
            response = self._http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, **extra)
        except httpx.HTTPError as exc:
            raise Unreachable(url, describe_transport_error(exc), certificate=certificate_problem(exc)) from None
        return _answer(response, url, expected)

    def register(self, *, key: str, group: str, machine_id: str, name: str, facts: dict[str, Any]) -> dict[str, Any]:
        body = {"group": group, "machine_id": machine_id, "name": name, "facts": facts}
        expected = ("worker_id", "name", "group", "account_id", "credential", "heartbeat_interval", "long_poll_timeout")
        return self._post("register", key, body, expected)

    def heartbeat(
        self, *, credential: str, facts: dict[str, Any], jobs: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        """`jobs`: [{"id", "lease"}] the service holds; the server answers 409 `stale_lease` when it took one back.

        Without `jobs` (as `diagnose` sends it) the server checks no lease.
        """
        body: dict[str, Any] = {"facts": facts}
        if jobs is not None:
            body["jobs"] = jobs
        return self._post("heartbeat", credential, body, ("worker_id", "heartbeat_interval"))

    def leave(self, *, credential: str, timeout: float) -> dict[str, Any]:
        """The service is stopping: the server shows the worker offline at once and takes back what it still holds."""
        return self._post("leave", credential, {}, ("released",), timeout=timeout)

    def deregister_machine(self, *, key: str, machine_id: str) -> dict[str, Any]:
        return self._post("deregister", key, {"machine_id": machine_id}, ("removed", "group"))

    def probe(self) -> Probe:
        """One unauthenticated GET: reachability, the TLS certificate and the server's Date header.

        A GET on an agent operation answers 405 without counting as a failed sign-in.
        """
        url = self.url("heartbeat")
        sent_at = time.time()
        try:
            with self._http.stream("GET", url) as response:
                certificate = None
                stream = response.extensions.get("network_stream")
                tls = stream.get_extra_info("ssl_object") if stream is not None else None
                # httpcore hands out the C-level SSL object here: ask it by duck typing.
                if tls is not None and hasattr(tls, "getpeercert"):
                    certificate = tls.getpeercert()
                response.read()
        except httpx.HTTPError as exc:
            raise Unreachable(url, describe_transport_error(exc), certificate=certificate_problem(exc)) from None
        received_at = time.time()
        server_date = None
        if response.headers.get("Date"):
            try:
                server_date = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
            except (TypeError, ValueError):
                server_date = None
        try:
            body = response.json()
        except ValueError:
            body = None
        is_agent_api = isinstance(body, dict) and "code" in body and response.status_code != 404
        return Probe(response.status_code, is_agent_api, server_date, sent_at, received_at, certificate)


class JobsClient:
    """The job operations of the agent API, for the jobs task's event loop (asyncio).

    The jobs task keeps three: one for the long-poll, which holds its connection while it waits, one for the
    reports of running jobs, so a report never queues behind a waiting poll, and one for the runbooks' asset
    requests (a child's wait holds its connection too).
    """

    def __init__(self, endpoint: Endpoint, *, ca_bundle: Path | None = None, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self._http = httpx.AsyncClient(**_http_options(endpoint, ca_bundle, timeout))

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, operation: str) -> str:
        return f"{self.endpoint.url}/v1/{operation}"

    async def _post(
        self, operation: str, token: str, body: dict[str, Any], expected: tuple[str, ...], timeout: float | None = None
    ) -> dict[str, Any]:
        url = self.url(operation)
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        try:
            response = await self._http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, **extra)
        except httpx.HTTPError as exc:
            raise Unreachable(url, describe_transport_error(exc), certificate=certificate_problem(exc)) from None
        return _answer(response, url, expected)

    async def next_jobs(self, *, credential: str, wait: float, stopping: list[str] | None = None) -> dict[str, Any]:
        """Wait up to `wait` seconds for jobs to run or stop requests: {"jobs": [...], "stop": [ids]}.
        `stopping`: the jobs this agent is already stopping, whose stop requests need not end the wait."""
        body: dict[str, Any] = {"wait": wait}
        if stopping:
            body["stopping"] = stopping
        # The server answers after `wait` at the latest: give the answer time to travel on top.
        return await self._post("jobs/next", credential, body, ("jobs", "stop"), timeout=wait + 20.0)

    async def job_records(
        self, *, credential: str, job_id: str, lease: str, records: list[dict[str, Any]]
    ) -> dict[str, Any]:
        body = {"lease": lease, "records": records}
        return await self._post(f"jobs/{job_id}/records", credential, body, ("status", "stop"))

    async def finish_job(
        self,
        *,
        credential: str,
        job_id: str,
        lease: str,
        status: str,
        exit_code: int | None,
        reason: str,
        records: list[dict[str, Any]],
        claim: int = 0,
    ) -> dict[str, Any]:
        """Report the end; `claim` asks for up to that many next jobs in the same exchange (answer's `jobs`)."""
        body = {"lease": lease, "status": status, "exit_code": exit_code, "reason": reason, "records": records}
        if claim > 0:
            body["claim"] = claim
        return await self._post(f"jobs/{job_id}/finish", credential, body, ("status",))

    async def job_assets(
        self,
        *,
        credential: str,
        job_id: str,
        lease: str,
        method: str,
        operation: str,
        body: Any = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """A runbook's asset request as the job's relay passes it on (workers.job.assets): `operation` is the
        path under `jobs/<id>/`. Returns the server's status and JSON answer (None when not JSON), errors
        included: the relay hands them to the runbook as they are."""
        url = self.url(f"jobs/{job_id}/{operation}")
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        if body is not None:
            extra["json"] = body
        headers = {"Authorization": f"Bearer {credential}", "X-Job-Lease": lease}
        try:
            response = await self._http.request(method, url, headers=headers, **extra)
        except httpx.HTTPError as exc:
            raise Unreachable(url, describe_transport_error(exc), certificate=certificate_problem(exc)) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        return response.status_code, answer
