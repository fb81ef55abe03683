"""workers.job.outcome: how a job's end is told."""

from workers.job.outcome import failure_reason
from workers.streams import Journal


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
