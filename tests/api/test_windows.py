"""Windows and which rollup rows read them: pure."""

from datetime import UTC, datetime

import pytest

from edgewatch.windows import TimeRange, rollup_pieces

T = datetime(2026, 11, 26, 10, 13, 30, tzinfo=UTC)


def at(hh: int, mm: int, ss: int = 0, day: int = 26) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "grain", "start", "end"),
    [
        (30, None, at(10, 13, 0), T),  # under a minute: exact
        (300, None, at(10, 9), at(10, 14)),  # whole minutes: the current minute included
        (3600, None, at(9, 14), at(10, 14)),
        (86400, None, at(11, 0, day=25), at(11, 0)),  # a day in whole hours: hours
        (90000, None, at(10, 0, day=25), at(11, 0)),
        (3600, 600, at(9, 20), at(10, 20)),  # time series: steps aligned to the step
        (60, 10, at(10, 12, 30), T),
    ],
)
def test_window_ends(seconds: int, grain: int | None, start: datetime, end: datetime) -> None:
    span = TimeRange.ending(T, seconds, grain)
    assert (span.start, span.end) == (start, end)


def test_elapsed_counts_only_the_past() -> None:
    span = TimeRange.ending(T, 300)
    assert span.elapsed(T) == 270
    assert span.elapsed(at(11, 0)) == 300
    assert span.elapsed(at(9, 0)) == 0


def minutes(hh: int, mm: int) -> int:
    return hh * 3600 + mm * 60


@pytest.mark.parametrize(
    ("start", "end", "grain", "pieces"),
    [
        # a window (no grain): 10-minute rows from its start, whatever the alignment
        (minutes(9, 14), minutes(10, 14), None, [("edge_10min", minutes(9, 14), minutes(10, 14))]),
        (minutes(9, 17), minutes(10, 14), None, [
            ("edge_10min", minutes(9, 17), minutes(10, 7)),
            ("edge_minute", minutes(10, 7), minutes(10, 14)),
        ]),
        (minutes(9, 14), minutes(11, 14), None, [("edge_10min", minutes(9, 14), minutes(11, 14))]),
        (minutes(9, 3), minutes(9, 8), None, [("edge_minute", minutes(9, 3), minutes(9, 8))]),
        # ... or whole hours when they save rows
        (minutes(9, 0), minutes(11, 0), None, [("edge_hour", minutes(9, 0), minutes(11, 0))]),
        (minutes(8, 14) - 86400, minutes(10, 14), None, [
            ("edge_10min", minutes(8, 14) - 86400, minutes(8, 54) - 86400),
            ("edge_minute", minutes(8, 54) - 86400, minutes(9, 0) - 86400),
            ("edge_hour", minutes(9, 0) - 86400, minutes(10, 0)),
            ("edge_10min", minutes(10, 0), minutes(10, 10)),
            ("edge_minute", minutes(10, 10), minutes(10, 14)),
        ]),
        # time series: rows inside steps, 10-minute rows on multiples of 10 minutes
        (minutes(9, 14), minutes(10, 14), 60, [("edge_minute", minutes(9, 14), minutes(10, 14))]),
        (minutes(9, 15), minutes(10, 15), 300, [("edge_minute", minutes(9, 15), minutes(10, 15))]),
        (minutes(9, 0), minutes(10, 0), 1200, [("edge_10min", minutes(9, 0), minutes(10, 0))]),
        (minutes(9, 20), minutes(11, 20), 3600, [
            ("edge_10min", minutes(9, 20), minutes(10, 0)),
            ("edge_hour", minutes(10, 0), minutes(11, 0)),
            ("edge_10min", minutes(11, 0), minutes(11, 20)),
        ]),
    ],
)
def test_rollup_pieces_read_few_rows(
    start: int, end: int, grain: int | None, pieces: list[tuple[str, int, int]]
) -> None:
    found = rollup_pieces(start, end, grain)
    assert [(p.table.name, p.start, p.end) for p in found] == pieces
