"""workers.streams: lines into stream records, the journal that numbers them, and batches."""

import json

import pytest

from workers.streams import Journal, LineSplitter, classify, cut, cut_again


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
