"""The agent's fault-handling parts, in process: the output cap, the lease hand-over, who jobs run as."""

import asyncio
import json
import os
import subprocess
import threading

import pytest

from workers import cli
from workers.errors import EXIT_USAGE, AgentError
from workers.identity import PrivateGroups, closed_folder, kill_group_members, resolve_run_as
from workers.leases import MAX_LISTED, HeldJobs
from workers.outputcap import OutputCap
from workers.streams import Journal

AS_ROOT = os.geteuid() == 0


def records_of(journal: Journal) -> list[dict]:
    journal.close()
    return [json.loads(line) for line in journal.path.read_text().splitlines()]


def test_output_under_its_cap_is_all_sent_in_order(tmp_path):
    journal = Journal(tmp_path / "job.log")
    cap = OutputCap(journal, 1000)
    for i in range(60):
        cap.add("output", f"line {i:05d}")  # 11 characters each with its line end: 660 in all
    assert journal.next_seq < 60, "past half the cap, records are held back"
    cap.close()
    records = records_of(journal)
    assert [r["text"] for r in records] == [f"line {i:05d}" for i in range(60)]
    assert [r["seq"] for r in records] == list(range(60))
    assert cap.left_out == 0


def test_past_its_cap_the_head_is_sent_the_middle_left_out_and_the_tail_kept_for_the_end(tmp_path):
    journal = Journal(tmp_path / "job.log")
    passed = []
    cap = OutputCap(journal, 1100, on_passed=lambda: passed.append(journal.next_seq))
    for i in range(1000):
        cap.add("error" if i % 10 == 0 else "output", f"line {i:05d}")
        if i == 120:
            sent_while_running = journal.next_seq
    assert passed, "the moment the cap is passed is told at once"
    assert sent_while_running == 51, "the head (half the cap: 50 records) and the warning"
    cap.close()
    records = records_of(journal)
    assert [r["seq"] for r in records] == list(range(len(records))), "contiguous"
    texts = [r["text"] for r in records]
    assert texts[:50] == [f"line {i:05d}" for i in range(50)]
    assert records[50]["stream"] == "warning"
    assert texts[50].startswith("output passed this job's cap of 1,100 characters: from here on only the last")
    summary = records[51]
    assert summary["stream"] == "warning"
    tail = texts[52:]
    assert tail == [f"line {i:05d}" for i in range(1000 - len(tail), 1000)], "the most recent records, in order"
    assert sum(len(text) + 1 for text in tail) <= 550
    assert summary["text"] == (
        f"output passed this job's cap of 1,100 characters: {950 - len(tail)} records (0.0 MiB) between "
        f"record 50 and the last 0.0 MiB ({len(tail)} records) were left out"
    )
    # The tail keeps the read times; the error stream (and a failure's reason) sees its last lines.
    assert records[-1]["time"] >= records[50]["time"]
    assert journal.error_tail().endswith("line 00990")


def test_the_tail_is_bounded_in_records_too(tmp_path):
    journal = Journal(tmp_path / "job.log")
    cap = OutputCap(journal, 10_000_000, tail_records=10)
    cap.head_limit = 5
    for _ in range(1000):
        cap.add("output", "")
    cap.close()
    records = records_of(journal)
    assert len(records) == 5 + 2 + 10
    assert "985 records" in records[6]["text"]


def test_held_jobs_are_listed_and_lost_ones_ended_on_the_jobs_loop():
    held = HeldJobs()
    held.hold("a", "lease-a")
    held.hold("b", "lease-b")
    assert held.snapshot() == [{"id": "a", "lease": "lease-a"}, {"id": "b", "lease": "lease-b"}]

    async def scenario():
        loop = asyncio.get_running_loop()
        ended = asyncio.Queue()
        held.attach(loop, lambda lost: ended.put_nowait((threading.current_thread(), lost)))
        # As the heartbeat thread does: a lease of another job under the same id is not this one.
        outcome = await asyncio.to_thread(held.lose, [("a", "lease-a"), ("b", "older-lease"), ("c", "x")])
        thread, lost = await asyncio.wait_for(ended.get(), 5)
        return outcome, thread, lost

    outcome, thread, lost = asyncio.run(scenario())
    assert outcome == lost == [("a", "lease-a")]
    assert thread is threading.main_thread(), "ended on the loop's thread, not the heartbeat's"
    assert held.snapshot() == [{"id": "b", "lease": "lease-b"}], "the next heartbeat goes without it"
    held.release("b", "other")
    assert held.snapshot() == [{"id": "b", "lease": "lease-b"}]
    held.release("b", "lease-b")
    assert held.snapshot() == []
    held.detach()
    held.hold("d", "lease-d")
    assert held.lose([("d", "lease-d")]) == [("d", "lease-d")], "a closed loop is no reason to fail"


def test_run_as_needs_root_to_name_another_user(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("workers.identity.os.geteuid", lambda: 4321)
    with pytest.raises(AgentError) as refused:
        resolve_run_as("root")
    assert refused.value.exit_code == EXIT_USAGE == 2
    assert "only an agent running as root can run jobs as another user" in str(refused.value)
    assert resolve_run_as(None) is None

    (tmp_path / "state").mkdir()
    assert cli.main(["run", "--run-as", "root", "--state-dir", str(tmp_path / "state")]) == 2
    assert "--run-as root: only an agent running as root" in capsys.readouterr().err
    assert cli.main(["run", "--run-as", "no-such-user-here", "--state-dir", str(tmp_path / "state")]) == 2
    assert "there is no such user" in capsys.readouterr().err


@pytest.mark.skipif(not AS_ROOT, reason="only a root agent runs jobs as another user")
def test_a_root_agent_runs_jobs_as_nobody_unless_told_otherwise(tmp_path):
    nobody = resolve_run_as(None)
    assert nobody is not None and nobody.name in ("hybridworker", "nobody")
    assert resolve_run_as("root") is None, "--run-as root is an explicit choice: no switch"
    private = tmp_path / "private" / "deeper"
    private.mkdir(parents=True)
    private.parent.chmod(0o700)
    assert closed_folder(nobody, private) in (private.parent, *private.parents)


@pytest.mark.skipif(not AS_ROOT, reason="private groups are a root agent's")
def test_private_groups_are_locked_machine_wide_and_their_processes_killed_on_release():
    # The machine's own lock folder: agents running meanwhile (other tests) must not be given the same gids.
    first, second = PrivateGroups(), PrivateGroups()
    gid = first.acquire()
    assert second.acquire() != gid, "another agent on the machine skips a gid in use"
    sleeper = subprocess.Popen(["sleep", "60"], user=65534, group=gid, start_new_session=True)
    try:
        assert first.release(gid) == 1
        assert sleeper.wait(timeout=10) == -9
    finally:
        sleeper.kill()
    assert kill_group_members(gid) == 0
    second.release_all()


def test_a_heartbeat_lists_no_more_held_jobs_than_the_server_takes_the_oldest_first():
    held = HeldJobs()
    for n in range(MAX_LISTED + 6):
        held.hold(f"job-{n}", f"lease-{n}")

    listed = held.snapshot()

    assert MAX_LISTED == 1024
    assert [item["id"] for item in listed] == [f"job-{n}" for n in range(MAX_LISTED)]
    for n in range(6):
        held.release(f"job-{n}", f"lease-{n}")
    assert [item["id"] for item in held.snapshot()][-1] == f"job-{MAX_LISTED + 5}"
