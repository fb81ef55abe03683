"""workers.heartbeat, in process: what the heartbeat task logs (the task itself runs in the agent tests)."""

import logging

from workers.heartbeat import Transitions


def test_a_condition_is_logged_when_it_starts_and_ends_not_per_retry(caplog):
    log = logging.getLogger("test.transitions")
    link = Transitions(log)
    with caplog.at_level(logging.INFO, logger="test.transitions"):
        for _ in range(5):
            link.failed("unreachable", "server unreachable: connection refused")
        link.recovered()
        link.recovered()
    assert [r.getMessage() for r in caplog.records] == [
        "server unreachable: connection refused",
        "server reachable again",
    ]
