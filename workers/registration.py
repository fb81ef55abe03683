"""`register` and `remove`: Add-HybridRunbookWorker and Remove-HybridRunbookWorker."""

from __future__ import annotations

import time
from pathlib import Path

from workers.client import AgentClient, ApiError, Endpoint, parse_endpoint
from workers.console import Console
from workers.errors import EXIT_OK, AgentError
from workers.facts import collect_facts, default_worker_name
from workers.network import is_loopback, ssl_context
from workers.state import Registration, StateDir


def _read_ca_bundle(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        ssl_context(path)
        return path.read_bytes()
    except ValueError as exc:
        raise AgentError(str(exc)) from None


def _previous(state: StateDir) -> Registration | None:
    try:
        return state.registration() if state.exists() else None
    except AgentError:
        return None  # a damaged file is about to be rewritten anyway


def _kept_ca_bundle(state: StateDir, previous: Registration | None, endpoint: Endpoint) -> Path | None:
    """The private CA of an earlier registration, when registering again with the same server."""
    if previous is None:
        return None
    before = parse_endpoint(previous.endpoint)
    same_server = (before.scheme, before.host, before.port) == (endpoint.scheme, endpoint.host, endpoint.port)
    return state.ca_bundle() if same_server else None


def _gib(value: int | None) -> str:
    return f"{value / 1024**3:.1f} GiB" if value else "unknown"


def register(
    state: StateDir,
    console: Console,
    *,
    endpoint_url: str,
    token: str,
    group: str,
    name: str | None = None,
    ca_bundle: Path | None = None,
) -> int:
    console.hide(token)
    endpoint = parse_endpoint(endpoint_url)
    previous = _previous(state)
    ca_source = str(ca_bundle.absolute()) if ca_bundle else None
    if ca_bundle is None:
        ca_bundle = _kept_ca_bundle(state, previous, endpoint)
        if ca_bundle is not None:
            console.step(f"Using the CA bundle kept in the state folder for {endpoint.host}")
            ca_source = previous.ca_bundle_source if previous else None
    ca_pem = _read_ca_bundle(ca_bundle)
    if endpoint.scheme == "http" and not is_loopback(endpoint.host):
        console.warn(
            "the endpoint uses plain HTTP: the access key and this worker's credential cross the network "
            "unencrypted. Use the https:// URL."
        )
    console.step(f"Using state folder {state.path}")
    state.ensure()
    machine_id, created = state.machine_id_or_create()
    console.step(f"{'Generated a new' if created else 'Read the'} machine id {machine_id}")
    name = name or default_worker_name()
    console.step("Collecting host facts")
    facts = collect_facts(state.path)
    console.step(
        f"Host {facts.get('hostname', '?')}: {facts.get('os', 'unknown OS')}, {facts.get('cpu_count', '?')} CPUs, "
        f"{_gib(facts.get('memory_bytes'))} memory"
    )
    with AgentClient(endpoint, ca_bundle=ca_bundle) as client:
        console.step(f"Contacting {client.url('register')} {client.route}")
        answer = client.register(key=token, group=group, machine_id=machine_id, name=name, facts=facts)
    credential = str(answer["credential"])
    console.hide(credential)
    registration = Registration(
        endpoint=endpoint.url,
        account_id=str(answer["account_id"]),
        group=str(answer["group"]),
        name=str(answer["name"]),
        worker_id=str(answer["worker_id"]),
        heartbeat_interval=int(answer["heartbeat_interval"]),
        long_poll_timeout=int(answer["long_poll_timeout"]),
        registered_at=time.time(),
        ca_bundle_source=ca_source,
    )
    state.save_registration(registration, credential=credential, ca_bundle_pem=ca_pem)
    console.step(f"Saved the registration and this worker's credential (mode 0600) in {state.path}")
    verb = "Renewed the registration of" if answer.get("renewed") else "Registered"
    console.say(
        f"{verb} worker {registration.name!r} in hybrid worker group {registration.group!r} "
        f"(worker id {registration.worker_id})."
    )
    pid = state.service_pid()
    if pid is not None:
        console.say(f"The service (pid {pid}) picks up the new credential by itself.")
    else:
        console.say("Start the service with 'hybridworker run', or install it with 'hybridworker install-service'.")
    return EXIT_OK


def remove(state: StateDir, console: Console, *, endpoint_url: str, token: str, ca_bundle: Path | None = None) -> int:
    console.hide(token)
    endpoint = parse_endpoint(endpoint_url)
    console.step(f"Using state folder {state.path}")
    machine_id = state.machine_id() if state.exists() else None
    if machine_id is None:
        raise AgentError(
            f"there is no hybridworker state in {state.path} (no machine id), so nothing to remove here. "
            "Pass --state-dir if this worker keeps its state elsewhere."
        )
    console.step(f"Read the machine id {machine_id}")
    local = state.registration()
    ca_bundle = ca_bundle or state.ca_bundle()
    with AgentClient(endpoint, ca_bundle=ca_bundle) as client:
        console.step(f"Contacting {client.url('deregister')} {client.route}")
        try:
            answer = client.deregister_machine(key=token, machine_id=machine_id)
        except ApiError as exc:
            if exc.code != "not_registered":
                raise
            answer = None
    if answer is None and local is not None and local.account_id != endpoint.account_id:
        raise AgentError(
            f"this machine is not registered in Automation account {endpoint.account_id}; its local registration "
            f"is for account {local.account_id} ({local.endpoint}) and was kept. Use that account's URL and key."
        )
    state.clear_registration()
    console.step(f"Removed the registration and the credential from {state.path} (the machine id stays)")
    if answer is None:
        console.say(
            "This machine was not registered in this Automation account; "
            + ("removed its local registration." if local else "there was no local registration either.")
        )
    else:
        console.say(f"Removed worker {answer['removed']!r} from hybrid worker group {answer['group']!r}.")
    pid = state.service_pid()
    if pid is not None:
        console.say(f"The service (pid {pid}) stops by itself at its next heartbeat (exit status 3).")
    return EXIT_OK
