"""The job-running parts of the agent, in process: streams, journal, arguments, the runbook helper, process groups."""

import ast
import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from tests.support.processes import BASE_DIR
from workers import cli
from workers.job.outcome import failure_reason
from workers.job.process import RunbookProtocol, end_group, group_alive
from workers.sandbox import HELPER_DIR, named_arguments, prune_sandboxes
from workers.streams import Journal, LineSplitter, classify, cut, cut_again

FORBIDDEN = ("django", "automation", "portal", "rest_framework", "channels", "celery")


def test_no_module_of_the_agent_imports_server_code_the_runbook_helper_included():
    paths = sorted((BASE_DIR / "workers").rglob("*.py"))
    assert BASE_DIR / "workers" / "runbook_helper" / "hybridworker_runbook.py" in paths
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path} imports {name}"


@pytest.mark.parametrize(
    "line, default, expected",
    [
        ("plain", "output", ("output", "plain")),
        ("plain", "error", ("error", "plain")),
        ("WARNING: low disk", "output", ("warning", "low disk")),
        ("WARNING:  two spaces", "error", ("warning", " two spaces")),
        ("VERBOSE:tight", "output", ("verbose", "tight")),
        ("ERROR: on stdout", "output", ("error", "on stdout")),
        ("PROGRESS: 40%", "output", ("progress", "40%")),
        ("warning: lower case is text", "output", ("output", "warning: lower case is text")),
        (" WARNING: indented is text", "output", ("output", " WARNING: indented is text")),
        ("WARNING:", "output", ("warning", "")),
    ],
)
def test_a_line_goes_to_the_stream_its_prefix_names(line, default, expected):
    assert classify(line, default) == expected


def test_lines_are_split_decoded_and_cleaned_across_reads():
    splitter = LineSplitter(max_chars=10)
    euro = "€".encode()
    assert splitter.feed(b"first\r\nsec") == ["first"]
    assert splitter.feed(b"ond " + euro[:1]) == []
    assert splitter.feed(euro[1:] + b"\nnul\x00here\n\xff\n") == ["second €", "nul\ufffdhere", "\ufffd"]
    assert splitter.feed(b"\r\n\n") == ["", ""]
    assert splitter.feed(b"no end") == []
    assert splitter.close() == ["no end"]
    assert splitter.close() == []


def test_a_line_longer_than_a_record_becomes_one_record_cut_and_marked_without_holding_the_rest():
    splitter = LineSplitter(max_chars=60)
    marked = splitter.feed(b"x" * 100 + b"\nshort\n")
    assert marked == ["x" * 31 + " … [cut: 69 more characters]", "short"]
    assert len(marked[0]) == 59, "the marker counts in the limit"
    # Exactly at the limit (a CRLF end not counted) is not cut.
    assert splitter.feed(b"y" * 60 + b"\r\n") == ["y" * 60]
    # A huge line fed in pieces: only the kept part stays in memory, the rest is counted.
    for _ in range(1000):
        assert splitter.feed(b"z" * 1000) == []
        assert splitter._kept_chars <= 60
    assert splitter.feed(b"z\r\n") == ["z" * 27 + " … [cut: 999974 more characters]"]
    assert splitter.feed("é".encode() * 70) == []
    (last,) = splitter.close()
    assert last == "é" * 32 + " … [cut: 38 more characters]" and len(last) == 60


def test_a_cut_record_cut_again_keeps_counting_what_was_left_out():
    first = cut("a" * 200, 100)
    assert first == "a" * 71 + " … [cut: 129 more characters]" and len(first) == 100
    again = cut_again(first, 50)
    assert again == "a" * 21 + " … [cut: 179 more characters]"
    assert cut_again("b" * 80, 50) == "b" * 22 + " … [cut: 58 more characters]"
    assert cut("fits", 4) == "fits"


def test_the_journal_numbers_records_keeps_them_on_disk_and_hands_them_out_in_order(tmp_path):
    journal = Journal(tmp_path / "job.log", memory_records=3)
    added = []
    journal.on_add = added.append
    for i in range(8):
        journal.add("error" if i % 2 else "output", f"line {i}")
    assert added == list(range(1, 9))
    assert journal.backlog == 8

    first = journal.batch(limit=2)
    assert [r.seq for r in first] == [0, 1]
    assert [r.seq for r in journal.batch(limit=2)] == [0, 1], "a retried batch is the same batch"
    journal.acknowledge(2)
    assert [r.seq for r in journal.batch(limit=5)] == [2], "only three fit in memory"
    journal.acknowledge(1)
    # Records past the memory limit come back from job.log, in order, with their own times.
    batch = journal.batch(limit=10)
    assert [(r.seq, r.text) for r in batch] == [(i, f"line {i}") for i in range(3, 6)]
    journal.acknowledge(3)
    journal.add("output", "late")
    assert [r.seq for r in journal.batch()] == [6, 7, 8]
    journal.acknowledge(3)
    assert journal.backlog == 0 and journal.batch() == []

    journal.close()
    lines = [json.loads(line) for line in (tmp_path / "job.log").read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(9))
    assert lines[1] == {"seq": 1, "stream": "error", "text": "line 1", "time": lines[1]["time"]}


def test_a_batch_is_limited_by_its_size_as_json_but_always_holds_one_record(tmp_path):
    journal = Journal(tmp_path / "job.log")
    for text in ("a" * 60, 'b"' * 30, "c" * 10):
        journal.add("output", text)
    sizes = [record.size for record in journal.batch()]
    lines = (tmp_path / "job.log").read_bytes().splitlines(keepends=True)
    assert sizes == [len(line) for line in lines]
    assert sizes[1] > sizes[0], "quotes are escaped in JSON"
    assert [len(r.text) for r in journal.batch(max_bytes=sizes[0] + sizes[1] - 1)] == [60]
    assert [len(r.text) for r in journal.batch(max_bytes=10)] == [60]
    assert len(journal.batch(max_bytes=sum(sizes))) == 3
    journal.close()


def test_the_failure_reason_quotes_the_last_error_lines(tmp_path):
    journal = Journal(tmp_path / "job.log")
    for i in range(9):
        journal.add("error", f"err {i}")
        journal.add("output", f"out {i}")
    assert failure_reason(3, journal.error_tail()) == "exit code 3: " + "\n".join(f"err {i}" for i in range(4, 9))
    journal.add("error", "x" * 5000)
    assert len(journal.error_tail()) == 1000
    assert failure_reason(-9, "") == "ended by signal SIGKILL"
    journal.close()


def test_parameters_become_named_arguments_in_the_declared_order():
    declared = [
        {"name": "b", "type": "bool"},
        {"name": "s", "type": "string"},
        {"name": "j", "type": "json"},
        {"name": "n", "type": "int"},
        {"name": "missing", "type": "string"},
    ]
    values = {"extra": 1.5, "n": -4, "j": {"a": [1, None]}, "s": "-starts with a dash", "b": True}
    assert named_arguments("python3", values, declared) == [
        "--b",
        "true",
        "--s",
        "-starts with a dash",
        "--j",
        '{"a":[1,null]}',
        "--n",
        "-4",
        "--extra",
        "1.5",
    ]
    assert named_arguments("powershell", {"b": False, "j": None}, declared) == ["-b", "false", "-j", "null"]
    assert named_arguments("bash", {"s": None}, declared) == []


def test_a_secret_parameter_never_reaches_the_command_line():
    """Any process on the machine can read a command line; secrets go to parameters.json only."""
    declared = [{"name": "user", "type": "string"}, {"name": "password", "type": "secret"}]

    arguments = named_arguments("bash", {"user": "svc", "password": "hunter2"}, declared)

    assert arguments == ["--user", "svc"]


def test_the_runbook_helper_prints_lines_the_agent_sorts_into_streams(tmp_path):
    parameters = tmp_path / "parameters.json"
    parameters.write_text('{"who": "world"}')
    code = (
        "import hybridworker_runbook as h\n"
        "h.write_output('hello ' + h.parameters()['who'])\n"
        "h.write_warning('a\\nb')\n"
        "h.write_verbose('v')\n"
        "h.write_progress(12.5)\n"
        "h.write_progress('phase 2')\n"
        "h.write_output([1, 2])\n"
        "h.write_error('oops')\n"
        "print(h.job_id(), h.sandbox())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(HELPER_DIR), "HYBRIDWORKER_PARAMETERS_FILE": str(parameters)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "hello world",
        "WARNING: a",
        "WARNING: b",
        "VERBOSE: v",
        "PROGRESS: 12.5%",
        "PROGRESS: phase 2",
        "[1, 2]",
        "None None",
    ]
    assert result.stderr == "oops\n"


def test_a_process_group_that_ignores_sigterm_is_killed_after_the_grace_period():
    async def scenario():
        loop = asyncio.get_running_loop()
        lines = []
        transport, protocol = await loop.subprocess_exec(
            lambda: RunbookProtocol(lambda fd, line: lines.append(line), loop),
            "/bin/bash",
            "-c",
            "trap '' TERM; sleep 300 & echo ready; wait",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        pgid = transport.get_pid()
        while not lines:
            await asyncio.sleep(0.05)
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


def test_only_the_oldest_finished_sandboxes_are_pruned(tmp_path):
    for i in range(5):
        folder = tmp_path / f"job{i}"
        folder.mkdir()
        if i != 0:
            (folder / "result.json").write_text("{}")
            os.utime(folder / "result.json", (1000 + i, 1000 + i))
    assert prune_sandboxes(tmp_path, keep=2, now=1010) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job0", "job3", "job4"]


def test_finished_sandboxes_past_their_days_are_pruned_however_few_but_never_unfinished_ones(tmp_path):
    now = time.time()
    ages = {"old": 31, "recent": 29, "running": 400}
    for name, days in ages.items():
        folder = tmp_path / name
        folder.mkdir()
        marker = folder / ("result.json" if name != "running" else "job.log")
        marker.write_text("{}")
        os.utime(marker, (now - days * 86400, now - days * 86400))
        os.utime(folder, (now - days * 86400, now - days * 86400))
    assert prune_sandboxes(tmp_path, now=now) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recent", "running"]
    assert prune_sandboxes(tmp_path, max_age_days=7, now=now) == 1
    assert prune_sandboxes(tmp_path, keep=0, now=now) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["running"]
    assert prune_sandboxes(tmp_path / "missing") == 0


def test_run_refuses_a_python_that_does_not_exist_and_a_capacity_of_zero(tmp_path, capsys):
    assert cli.main(["run", "--python", "/nonexistent/python3", "--state-dir", str(tmp_path)]) == 1
    assert "--python /nonexistent/python3: no such executable" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--capacity", "0", "--state-dir", str(tmp_path)])
    assert exit_info.value.code == 2
