"""workers.job.process: a runbook's process group, ended."""

import asyncio
import subprocess
import time

from tests.support.waiting import DEADLINE
from workers.job.process import RunbookProtocol, end_group, group_alive


def test_a_process_group_that_ignores_sigterm_is_killed_after_the_grace_period():
    async def scenario():
        loop = asyncio.get_running_loop()
        said = asyncio.Event()  # the runbook's first line: its sleep is in the group by then
        transport, protocol = await loop.subprocess_exec(
            lambda: RunbookProtocol(lambda fd, line: said.set(), loop),
            "/bin/bash",
            "-c",
            "trap '' TERM; sleep 300 & echo ready; wait",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        pgid = transport.get_pid()
        await asyncio.wait_for(said.wait(), DEADLINE)
        assert group_alive(pgid)
        started = time.monotonic()
        await end_group(pgid, 0.5, protocol.exited)
        elapsed = time.monotonic() - started
        transport.close()
        return pgid, elapsed, transport.get_returncode()

    pgid, elapsed, returncode = asyncio.run(scenario())
    assert not group_alive(pgid)
    assert elapsed >= 0.5, "SIGTERM was ignored: only SIGKILL, after the grace period, ends it"
    assert returncode == -9
