"""daphne on a port of the test's choosing (plain or TLS), so a test can stop it and start it again there."""

import ssl
import sys
import time
from pathlib import Path

import httpx

from tests.support.postgres import free_port
from tests.support.processes import PROBE_SECONDS, STARTUP_SECONDS, Process


def start_daphne_at(
    env: dict[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
    trust: ssl.SSLContext | None = None,
) -> tuple[Process, str]:
    """Start daphne on 127.0.0.1:`port` (a free one if None); `tls` = (private key PEM, certificate PEM).

    Returns the process and the base URL, once the portal answers.
    """
    port = port or free_port()
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    if tls:
        key, cert = tls
        bind = ["-e", f"ssl:port={port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"]
    else:
        bind = ["-b", "127.0.0.1", "-p", str(port)]
    env = {**env, "PORT": str(port), "PORTAL_BASE_URL": url}
    process = Process(
        "daphne",
        [sys.executable, "-m", "portal.serve", *bind, "portal.asgi:application"],
        env,
        log_dir / f"daphne-{port}-{time.monotonic_ns()}.log",
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"daphne exited early:\n{process.output()}")
        try:
            httpx.get(url + "/login/", timeout=PROBE_SECONDS, verify=trust or True)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"daphne did not answer within {STARTUP_SECONDS} s:\n{process.output()}")
