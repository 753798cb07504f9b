"""edgewatch/produce.py's batch_lines: how lines are grouped into Kafka messages (pure)."""

from __future__ import annotations

from edgewatch.produce import batch_lines


def test_messages_hold_at_most_max_lines_and_say_how_many() -> None:
    lines = [b"%d\n" % i for i in range(7)]
    got = list(batch_lines(lines, max_lines=3))
    assert got == [(b"0\n1\n2", 3), (b"3\n4\n5", 3), (b"6", 1)]


def test_messages_stay_under_max_bytes_and_a_long_line_travels_alone() -> None:
    got = list(batch_lines([b"aaaa", b"bbbb", b"c" * 20, b"dd"], max_lines=100, max_bytes=10))
    assert got == [(b"aaaa\nbbbb", 2), (b"c" * 20, 1), (b"dd", 1)]


def test_blank_lines_and_line_ends_are_dropped() -> None:
    got = list(batch_lines([b"a\r\n", b"\n", b"  \r\n", b"b"], max_lines=100))
    assert got == [(b"a\nb", 2)]
