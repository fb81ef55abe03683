"""workers.sandbox: a job's arguments, and which finished sandboxes are pruned."""

import os
import time

from workers.sandbox import named_arguments, prune_sandboxes


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
