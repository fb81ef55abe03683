"""workers.state: where the agent keeps its state."""

from pathlib import Path

from workers.state import default_state_dir


def test_the_default_state_folder_depends_on_who_runs_it(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert default_state_dir() == Path("/var/lib/hybridworker")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", "/home/u/.state")
    assert default_state_dir() == Path("/home/u/.state/hybridworker")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_dir() == Path.home() / ".local" / "state" / "hybridworker"
