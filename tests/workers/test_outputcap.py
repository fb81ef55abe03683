"""workers.outputcap: a job's output within its cap."""

import json

from workers.outputcap import OutputCap
from workers.streams import Journal


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
