"""workers.facts: what the agent tells about its machine."""

from workers.facts import default_worker_name


def test_the_default_name_fits_the_servers_naming_rule(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "web01.corp.example")
    assert default_worker_name() == "web01.corp.example"
    monkeypatch.setattr("socket.gethostname", lambda: "bad/host name!")
    assert default_worker_name() == "bad-host name-"
