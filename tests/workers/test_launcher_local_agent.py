"""`make run` registers its local agent without the account key on any command line.

A command line is readable by every local user (`ps`, /proc/<pid>/cmdline). The launcher's own
`start_local_agent` runs here against a real server, through a `hybridworker` in a folder of the
test's that writes down its own /proc command line and environment, then runs the real agent.
(tests/test_launcher.py runs the whole of `make run`; here only its agent part, so one process
can be seen from the inside.)
"""

import stat
import sys
from pathlib import Path

from automation.models import HybridWorker
from portal.launcher import LOCAL_GROUP, Launcher
from tests.workers.conftest import folder_for_agents


def recording_agent(bindir: Path, record: Path) -> None:
    real = Path(sys.executable).parent / "hybridworker"
    script = bindir / "hybridworker"
    script.write_text(
        "#!/bin/sh\n"
        f"{{ tr '\\0' ' ' < /proc/$$/cmdline; echo; tr '\\0' ' ' < /proc/$$/environ; echo; }} >> '{record}'\n"
        f"exec '{real}' \"$@\"\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_the_local_agent_is_registered_without_the_key_in_its_command_line(server, people, keys, tmp_path, monkeypatch):
    var = folder_for_agents(tmp_path) / "var"
    (var / "log").mkdir(parents=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "seen"
    recording_agent(bindir, record)
    monkeypatch.setenv("VAR_DIR", str(var))
    launcher = Launcher()
    demo = {"endpoint": server.endpoint(people.account), "key": keys["primary"]}
    try:
        launcher.start_local_agent(bindir, demo)
    finally:
        launcher.stop_all()

    worker = HybridWorker.objects.select_related("group").get(group__account=people.account)
    assert worker.group.name == LOCAL_GROUP
    seen = record.read_text()
    assert f"{bindir / 'hybridworker'} register --state-dir {var / 'agent'}" in seen
    assert keys["primary"] not in seen
