"""`hybridworker diagnose`: the seed's Troubleshooting list, checked instead of read.

Each check prints `PASS|FAIL|WARN|SKIP  <check>: <detail>`, and a fix when it did not pass.
"""

from __future__ import annotations

import os
import shlex
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from workers.client import AgentClient, ApiError, Endpoint, Probe, Unreachable, parse_endpoint
from workers.console import Console
from workers.errors import EXIT_FAILED, EXIT_OK, AgentError
from workers.facts import collect_facts, cpu_count
from workers.network import is_loopback
from workers.state import Registration, StateDir
from workers.status import ago
from workers.systemd import unit_name

PASS, FAIL, WARN, SKIP = "PASS", "FAIL", "WARN", "SKIP"
MAX_CLOCK_SKEW = 60.0
MIN_CPUS = 2
# Firmware and the kernel keep part of the installed memory, so a 4 GB machine reports a bit less.
MIN_MEMORY_BYTES = int(4 * 1024**3 * 0.9)
MIN_DISK_BYTES = 500 * 1024**2
CERTIFICATE_WARN_DAYS = 14
UNDERSIZED = (
    "A worker below the minimum (2 cores, 4 GB memory, 500 MB free disk) gets over-utilised by runbooks and other "
    "processes, so jobs are delayed or time out. Add processors or memory (or disk), or move the worker to a "
    "machine that meets the minimum; if it does, watch CPU and memory use while jobs run."
)


@dataclass(frozen=True)
class Check:
    name: str
    outcome: str
    detail: str
    fix: str | None = None


def _name_of(parts: tuple) -> str:
    fields = dict(item for rdn in parts for item in rdn)
    return fields.get("commonName") or fields.get("organizationName") or "an unnamed issuer"


class Diagnosis:
    def __init__(self, state: StateDir, *, endpoint_url: str | None = None, ca_bundle: Path | None = None) -> None:
        self.state = state
        self.endpoint_url = endpoint_url
        self.ca_bundle = ca_bundle
        self.checks: list[Check] = []

    def add(self, name: str, outcome: str, detail: str, fix: str | None = None) -> None:
        self.checks.append(Check(name, outcome, detail, fix))

    def run(self) -> list[Check]:
        registration = self.check_registration()
        self.check_server(registration)
        self.check_resources()
        self.check_state_folder()
        self.check_service(registration)
        return self.checks

    # ---- registration and the server ------------------------------------------------------

    def check_registration(self) -> Registration | None:
        try:
            registration = self.state.registration() if self.state.exists() else None
        except AgentError as exc:
            self.add("registered", FAIL, str(exc), "register again: hybridworker register ...")
            return None
        if registration is not None:
            self.add(
                "registered",
                PASS,
                f"worker {registration.name!r} in group {registration.group!r} (account {registration.account_id})",
            )
        elif self.endpoint_url:
            self.add("registered", SKIP, f"not registered yet in {self.state.path}; checking the --endpoint given")
        else:
            self.add(
                "registered",
                FAIL,
                f"not registered (state folder {self.state.path})",
                f"hybridworker register --group NAME --endpoint URL --token -{self.state.option} (URL and key: "
                "the account's Keys blade), or pass --endpoint URL to check the server before registering",
            )
        return registration

    def check_server(self, registration: Registration | None) -> None:
        names = ("endpoint reachable", "TLS certificate", "credential accepted", "clock")
        url = self.endpoint_url or (registration.endpoint if registration else None)
        if url is None:
            for name in names:
                self.add(name, SKIP, "no endpoint: not registered and no --endpoint given")
            return
        try:
            endpoint = parse_endpoint(url)
            client = AgentClient(endpoint, ca_bundle=self.ca_bundle or self.state.ca_bundle())
        except AgentError as exc:
            self.add(names[0], FAIL, str(exc), "pass the URL from the account's Keys blade")
            for name in names[1:]:
                self.add(name, SKIP, "no usable endpoint")
            return
        with client:
            probe = self.check_reachable(client, endpoint)
            if probe is None:
                return
            server_time = None
            if registration is None:
                self.add(names[2], SKIP, "not registered")
            elif registration.endpoint != endpoint.url:
                self.add(names[2], SKIP, f"registered with another endpoint ({registration.endpoint})")
            else:
                server_time = self.check_credential(client, registration)
            self.check_clock(probe, server_time)

    def check_reachable(self, client: AgentClient, endpoint: Endpoint) -> Probe | None:
        where = f"{endpoint.host}:{endpoint.port}"
        try:
            probe = client.probe()
        except Unreachable as exc:
            if exc.certificate:
                self.add("endpoint reachable", PASS, f"{where} answered {client.route} (TLS refused: see below)")
                self.add(
                    "TLS certificate",
                    FAIL,
                    f"the certificate of {endpoint.host} was not accepted: {exc.certificate}",
                    "if the server uses a private CA, pass --ca-bundle FILE (its CA certificate, PEM) to register; "
                    "if a proxy or firewall intercepts TLS, ask your network administrator to let this machine reach "
                    f"{where} untouched",
                )
            else:
                self.add(
                    "endpoint reachable",
                    FAIL,
                    f"cannot reach {endpoint.url} {client.route}: {exc.reason}",
                    f"make sure this machine has outbound access to {where} (firewall), and set HTTPS_PROXY / "
                    "NO_PROXY if it must go through a proxy",
                )
                self.add("TLS certificate", SKIP, "the endpoint is not reachable")
            why = "needs a trusted TLS connection" if exc.certificate else "the endpoint is not reachable"
            self.add("credential accepted", SKIP, why)
            self.add("clock", SKIP, why)
            return None
        if probe.is_agent_api:
            self.add("endpoint reachable", PASS, f"{endpoint.url} answered {client.route} (HTTP {probe.status})")
        else:
            self.add(
                "endpoint reachable",
                FAIL,
                f"{where} answered {client.route}, but not as the agent API (HTTP {probe.status})",
                "copy the URL from the account's Keys blade; if a proxy answered, check HTTPS_PROXY / NO_PROXY",
            )
        self.check_certificate(endpoint, probe)
        return probe

    def check_certificate(self, endpoint: Endpoint, probe: Probe) -> None:
        if endpoint.scheme == "http":
            risk = "" if is_loopback(endpoint.host) else "; the key and credential cross the network unencrypted"
            self.add("TLS certificate", SKIP, f"plain HTTP, no TLS{risk}")
            return
        cert = probe.peer_certificate or {}
        issuer = _name_of(cert.get("issuer", ()))
        expires = cert.get("notAfter")
        if not expires:
            self.add("TLS certificate", PASS, f"verified for {endpoint.host}")
            return
        expires_at = ssl.cert_time_to_seconds(expires)
        days = (expires_at - time.time()) / 86400
        detail = f"valid for {endpoint.host}, issued by {issuer}, expires {expires}"
        if days < CERTIFICATE_WARN_DAYS:
            self.add("TLS certificate", WARN, f"{detail} (in {days:.0f} days)", "renew the server's certificate")
        else:
            self.add("TLS certificate", PASS, detail)

    def check_credential(self, client: AgentClient, registration: Registration) -> float | None:
        credential = self.state.credential()
        register_again = (
            f"register again: hybridworker register --group {shlex.quote(registration.group)} "
            f"--endpoint {registration.endpoint} --token -{self.state.option}"
        )
        if not credential:
            self.add("credential accepted", FAIL, f"no credential in {self.state.path}", register_again)
            return None
        sent_at = time.time()
        try:
            # No facts: the server keeps those the service reported (its capacity among them).
            answer = client.heartbeat(credential=credential, facts={})
        except ApiError as exc:
            fix = register_again if exc.status == 401 else None
            self.add("credential accepted", FAIL, f"HTTP {exc.status}: {exc.detail}", fix)
            return None
        except Unreachable as exc:
            self.add("credential accepted", FAIL, str(exc))
            return None
        self.add(
            "credential accepted",
            PASS,
            f"a heartbeat was accepted for worker {answer.get('name')!r} in group {answer.get('group')!r}",
        )
        server_time = answer.get("server_time")
        if not isinstance(server_time, (int, float)):
            return None
        # Compare with the middle of the exchange: the server read its clock somewhere in between.
        return float(server_time) - (sent_at + time.time()) / 2

    def check_clock(self, probe: Probe, skew: float | None) -> None:
        source = "the heartbeat's server_time"
        if skew is None and probe.server_date is not None:
            # The Date header has whole seconds only.
            skew = probe.server_date - (probe.sent_at + probe.received_at) / 2
            source = "the server's Date header"
        if skew is None:
            self.add("clock", SKIP, "the server told no time (a registered worker's heartbeat answer carries it)")
            return
        if abs(skew) <= MAX_CLOCK_SKEW:
            self.add("clock", PASS, f"within {abs(skew):.1f} s of the server's (from {source})")
            return
        direction = "behind" if skew > 0 else "ahead of"
        self.add(
            "clock",
            FAIL,
            f"this machine's clock is {abs(skew):.0f} s {direction} the server's (more than {MAX_CLOCK_SKEW:.0f} s)",
            "synchronise the clock with NTP: timedatectl set-ntp true (or configure chrony / ntpd)",
        )

    # ---- this machine ------------------------------------------------------------------------

    def check_resources(self) -> None:
        facts = collect_facts(self.state.path)
        cpus = facts.get("cpu_count") or cpu_count()
        memory = facts.get("memory_bytes")
        disk = facts.get("disk_free_bytes")
        if cpus >= MIN_CPUS:
            self.add("CPU cores", PASS, f"{cpus} (minimum {MIN_CPUS})")
        else:
            self.add("CPU cores", WARN, f"{cpus}, below the minimum of {MIN_CPUS}", UNDERSIZED)
        if memory is None:
            self.add("memory", SKIP, "cannot read the memory size")
        elif memory >= MIN_MEMORY_BYTES:
            self.add("memory", PASS, f"{memory / 1024**3:.1f} GiB (minimum 4 GB)")
        else:
            self.add("memory", WARN, f"{memory / 1024**3:.1f} GiB, below the minimum of 4 GB", UNDERSIZED)
        if disk is None:
            self.add("disk space", SKIP, f"cannot read the free space of {self.state.path}")
        elif disk >= MIN_DISK_BYTES:
            self.add("disk space", PASS, f"{disk / 1024**2:,.0f} MB free for {self.state.path} (minimum 500 MB)")
        else:
            self.add(
                "disk space",
                WARN,
                f"{disk / 1024**2:,.0f} MB free for {self.state.path}, below the minimum of 500 MB",
                UNDERSIZED,
            )

    def check_state_folder(self) -> None:
        path = self.state.path
        fix = "run as the user that owns it (root for /var/lib/hybridworker), or choose another --state-dir"
        if not path.exists():
            parent = path.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            if os.access(parent, os.W_OK | os.X_OK):
                self.add("state folder writable", PASS, f"{path} does not exist yet; it can be created")
            else:
                self.add("state folder writable", FAIL, f"{path} does not exist and cannot be created", fix)
            return
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".diagnose-"):
                pass
        except OSError as exc:
            self.add("state folder writable", FAIL, f"cannot write in {path}: {exc.strerror}", fix)
            return
        self.add("state folder writable", PASS, str(path))

    def check_service(self, registration: Registration | None) -> None:
        if registration is None:
            self.add("service running", SKIP, "not registered")
            return
        pid = self.state.service_pid()
        heartbeat = self.state.last_heartbeat()
        last = f"; last heartbeat {ago(time.time() - heartbeat.at)}" if heartbeat else "; no heartbeat yet"
        if pid is not None:
            self.add("service running", PASS, f"hybridworker run is running (pid {pid}){last}")
        else:
            unit = shlex.quote(unit_name(self.state))
            self.add(
                "service running",
                FAIL,
                f"no 'hybridworker run' is running for {self.state.path}{last}",
                f"start it: systemctl start {unit} (after 'hybridworker install-service'), or run "
                f"'hybridworker run --state-dir {shlex.quote(str(self.state.path))}'",
            )


def diagnose(
    state: StateDir, console: Console, *, endpoint_url: str | None = None, ca_bundle: Path | None = None
) -> int:
    checks = Diagnosis(state, endpoint_url=endpoint_url, ca_bundle=ca_bundle).run()
    for check in checks:
        console.say(f"{check.outcome:<4}  {check.name}: {check.detail}")
        if check.fix and check.outcome != PASS:
            console.say(f"      fix: {check.fix}")
    counts = {outcome: sum(c.outcome == outcome for c in checks) for outcome in (PASS, WARN, FAIL, SKIP)}
    console.say(f"\n{counts[PASS]} passed, {counts[WARN]} warnings, {counts[FAIL]} failed, {counts[SKIP]} skipped")
    return EXIT_FAILED if counts[FAIL] else EXIT_OK
