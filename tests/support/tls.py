"""A throwaway certificate authority (trustme) and a daphne serving TLS with a certificate from it."""

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.support.daphne import start_daphne_at
from tests.support.processes import Process


@dataclass(frozen=True)
class PrivateCA:
    """PEM files on disk: the CA certificate (what an agent gets as --ca-bundle) and one server certificate."""

    ca_cert: Path
    server_key: Path
    server_cert: Path

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_cert))


def make_private_ca(directory: Path, *hosts: str) -> PrivateCA:
    """A new CA and a certificate it issued for `hosts` (default: 127.0.0.1 and localhost)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*(hosts or ("127.0.0.1", "localhost")))
    files = PrivateCA(directory / "ca.pem", directory / "server.key", directory / "server.pem")
    ca.cert_pem.write_to_path(str(files.ca_cert))
    leaf.private_key_pem.write_to_path(str(files.server_key))
    # The chain, leaf first: daphne (Twisted) reads the first certificate of certKey.
    with open(files.server_cert, "wb") as handle:
        for blob in leaf.cert_chain_pems:
            handle.write(blob.bytes())
    return files


def start_tls_daphne(
    env: dict[str, str], log_dir: Path, ca: PrivateCA, *, port: int | None = None
) -> tuple[Process, str]:
    """daphne serving https://127.0.0.1:PORT with the CA's server certificate (whatever host it names)."""
    trust = ca.trust()
    trust.check_hostname = False  # only to see it answer: tests may serve a certificate for another host
    return start_daphne_at(env, log_dir, port=port, tls=(ca.server_key, ca.server_cert), trust=trust)
