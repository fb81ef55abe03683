"""`make run`: the whole embedded system in one foreground process.

Starts a private Redis (unless REDIS_URL or REDIS_URL_FILE is set), migrates, makes sure the demo account and
admin login exist, then runs daphne, a Celery worker and Celery beat. Ctrl-C (or SIGTERM)
stops every process it started. Each child runs in its own session, so the launcher alone
decides the order of shutdown, and each dies with the launcher if the launcher is killed.
"""

import contextlib
import ctypes
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from portal.env import env_int

BASE_DIR = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
LOCAL_GROUP = "local"


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def say(line: str) -> None:
    # Scripts read these lines: column 0, no colour, flushed at once.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Launcher:
    def __init__(self) -> None:
        self.env = os.environ.copy()
        self.env.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        self.var = Path(self.env.get("VAR_DIR", BASE_DIR / "var")).resolve()
        self.env["VAR_DIR"] = str(self.var)
        # Read as the settings read it: the same bounds, and the same message for a bad value.
        self.port = env_int("PORT", 8000, minimum=1, maximum=65535)
        self.logs = self.var / "log"
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False

    # -- processes ---------------------------------------------------------------------
    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.children.append((name, process))
        return process

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"manage.py {' '.join(args)} failed with status {result.returncode}")
        return result.stdout

    def stop_all(self) -> None:
        self.stopping = True
        # Reverse order: the web server and workers go before the Redis they talk to.
        for _, process in reversed(self.children):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # anything its children left behind
            if process.poll() is None:
                process.wait()

    def check_children(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
                sys.stderr.write("\n".join(tail) + "\n")
                raise SystemExit(f"{name} exited with status {process.returncode}; see {self.logs / (name + '.log')}")

    # -- steps ---------------------------------------------------------------------------
    def start_redis(self) -> None:
        if self.env.get("REDIS_URL") or self.env.get("REDIS_URL_FILE"):
            return
        from portal import embedded_redis

        socket_path = self.var / "redis.sock"
        process = embedded_redis.start(
            socket_path,
            data_dir=self.var,
            log_file=self.logs / "redis.log",
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.children.append(("redis", process))
        self.env["REDIS_URL"] = f"unix://{socket_path}"

    def wait_healthy(self, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_children()
            try:
                with urllib.request.urlopen(url + "healthz", timeout=3) as response:  # noqa: S310 - our own URL
                    if response.status == 200:
                        return
            except Exception as exc:
                last = str(getattr(exc, "read", lambda: b"")().decode(errors="replace") or exc)
            time.sleep(0.3)
        raise SystemExit(f"The portal did not become healthy within {timeout:.0f} s: {last}")

    def start_local_agent(self, bindir: Path, demo: dict) -> None:
        """One worker on this machine, in the demo account, so the portal has a worker at once."""
        state = self.var / "agent"
        agent = str(bindir / "hybridworker")
        register = [agent, "register", "--state-dir", str(state), "--group", LOCAL_GROUP]
        # The key goes on stdin: a command line is readable by every local user (ps), an environment by the owner.
        register += ["--endpoint", demo["endpoint"], "--token", "-"]
        result = subprocess.run(
            register, cwd=BASE_DIR, env=self.env, input=demo["key"] + "\n", capture_output=True, text=True
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"Registering the local agent failed with status {result.returncode}")
        self.spawn("agent", [agent, "run", "--state-dir", str(state)])

    def run(self) -> int:
        # The database, Redis dump and logs under var/ are for this user's eyes only.
        os.umask(0o077)
        self.var.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            # A root agent runs jobs as an unprivileged user, who must pass through var/ to the local agent's
            # sandboxes; passing through lists nothing, and every file here is private (umask 077).
            self.var.chmod(0o711)
        self.logs.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        bindir = Path(python).parent
        self.start_redis()
        self.manage("migrate", "--noinput")
        demo = json.loads(self.manage("ensuredemo").strip().splitlines()[-1])
        self.spawn(
            "daphne", [python, "-m", "portal.serve", "-b", "127.0.0.1", "-p", str(self.port), "portal.asgi:application"]
        )
        self.spawn(
            "celery-worker",
            [python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        )
        schedule = str(self.var / "celerybeat-schedule")
        self.spawn(
            "celery-beat",
            [python, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO", "--schedule", schedule],
        )
        url = f"http://127.0.0.1:{self.port}/"
        self.wait_healthy(url)
        self.start_local_agent(bindir, demo)
        say(f"Portal: {url}")
        if demo["password"]:
            say(f"Login: {demo['username']} / {demo['password']}")
        else:
            say(f"Login: {demo['username']} (its password was changed after it was generated; use the one you set)")
        command = bindir / "hybridworker"  # by its full path: `make run` puts no virtual environment on PATH
        # The key on a line of its own: the register line asks for it (`--token -`), so pasting the line
        # leaves no key in the shell's history or in `ps`.
        endpoint = shlex.quote(demo["endpoint"])
        say(f"{shlex.quote(str(command))} register --group {LOCAL_GROUP} --endpoint {endpoint} --token -")
        say(f"Primary access key (register asks for it): {demo['key']}")
        # Where other machines reach the portal (as the Keys blade and Add a worker say), else this one.
        public = os.environ.get("PORTAL_BASE_URL", "").strip().rstrip("/") or url.rstrip("/")
        say(f"Another machine: curl -fsSL {shlex.quote(public + '/agentsvc/install.sh')} | sh")
        say(f"Logs: {self.logs}  (Ctrl-C stops everything)")
        while not self.stopping:
            self.check_children()
            time.sleep(0.5)
        return 0


def main() -> int:
    launcher = Launcher()

    def stop(signum, frame):
        raise KeyboardInterrupt

    # Installed explicitly: a launcher started in the background by a script inherits an ignored SIGINT.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return launcher.run()
    except KeyboardInterrupt:
        say("Stopping…")
        return 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
            return 1
        return exc.code or 0
    finally:
        launcher.stop_all()


if __name__ == "__main__":
    sys.exit(main())
