"""Windows, and the one planner of which rows answer them: rollup pieces, or raw records.

A window is a half-open :class:`TimeRange`. :func:`plan` decides how it is read: ranges of whole
minutes from the rollups (:mod:`edgewatch.rollup`), as few rows as cover them
(:func:`rollup_pieces`), using only tables that carry the measures asked for; other ranges, or
any range when asked, from ``requests`` with each call counted once (:mod:`edgewatch.calls`).
:func:`select` turns a plan into one query. The API, the Grafana endpoints and the alert rules
all read windows through here.

Every value reaches SQL as a server-side parameter; SQL text is only ever assembled from
constant fragments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from edgewatch.calls import CALL_ROWS, Range, callee_only, counted_once, from_epoch, range_params
from edgewatch.edge import EDGE_KEY, KEYS
from edgewatch.rollup import (
    EDGE_10MIN,
    EDGE_HOUR,
    EDGE_MINUTE,
    MEASURE,
    TABLES,
    TAIL_TABLE,
    Measure,
    RollupTable,
    aggregate_columns,
    finished_columns,
)
from edgewatch.snapshot import Snapshot

ROLLUP_RETENTION = timedelta(days=90)
STORED_FROM = datetime(2000, 1, 1, tzinfo=UTC)
STORED_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
"""The store holds calls of [STORED_FROM, STORED_UNTIL): the ingester dead-letters other
timestamps (migrations/0001_ingest.sql), which its 32-bit DateTime keys cannot hold. Times that
queries are asked about must lie there too: far outside, Python's datetime overflows (year
10000 when a range is rounded up) and the engine refuses a negative epoch (1969 and before)."""
HOUR_GRAIN = 3600


def _ceil(moment: datetime, seconds: int) -> datetime:
    return from_epoch(math.ceil(moment.timestamp() / seconds) * seconds)


@dataclass(frozen=True)
class TimeRange:
    """The half-open range [start, end), timezone-aware."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, seconds: int, grain: int | None = None) -> TimeRange:
        """``seconds`` long, ending at ``end`` rounded up to a multiple of ``grain`` seconds.

        ``grain`` defaults to the rollup's: an hour for windows of a day or more in whole hours,
        a minute for other windows of whole minutes (the current, partial hour or minute is
        included, so a window covers between ``seconds - grain`` and ``seconds`` of the
        past), none for shorter ones (an exact, raw range).
        """
        if grain is None:
            grain = HOUR_GRAIN if seconds >= 86400 and seconds % 3600 == 0 else 60 if seconds % 60 == 0 else 0
        stop = _ceil(end, grain) if grain else end
        return cls(stop - timedelta(seconds=seconds), stop)

    @property
    def whole_minutes(self) -> bool:
        return self.start.timestamp() % 60 == 0 and self.end.timestamp() % 60 == 0

    def elapsed(self, now: datetime) -> float:
        """Seconds of the range that have passed at ``now`` (the divisor of rates)."""
        return max(0.0, (min(self.end, now) - self.start).total_seconds())


API_MEASURES = tuple(m.name for m in EDGE_10MIN.measures)
"""What the API's edge numbers read: every measure of the 10-minute rollup."""

TABLE_COST = 3
"""What reading one more table costs, in rows per edge: a weight, not derived from a measurement.
Timed on bench/api.py's load (2,000,000 requests, 290 edges, chDB, shared 2-core machine), each
further table in the query cost about 5 ms, while tens of rows per edge more stayed within the noise."""

ROLLUP_SETTINGS = "SETTINGS optimize_move_to_prewhere = 0"
"""For the rollup queries: their filters are on the leading key columns, which the primary
key index already narrows to a few granules, so PREWHERE has nothing to save, while planning
it cost about 0.8 ms per query (chDB 4.4, system.events); the 1-hour edges query
took 13.3 ms against 14.2 ms with it (medians of 150 interleaved runs, shared 2-core machine)."""


@dataclass(frozen=True)
class Piece:
    """The rows of ``table`` covering [start, end), epoch seconds. For edge_10min, the rows
    starting at start, start + 10 min, ... (each covers 10 minutes)."""

    table: RollupTable
    start: int
    end: int


@dataclass(frozen=True)
class WindowPlan:
    """How :func:`select` reads ``span``: the rollup rows of ``pieces`` plus the callee-only calls
    of ``tail`` that the rollups do not hold yet (the span after the settled point), from
    ``requests``; or, when ``raw``, the records of ``requests`` over the whole span, each call
    counted once. ``grain``: seconds per time bucket (0: the span is one bucket). ``measures``:
    the measure columns the rows carry. ``snapshot``: the id of the snapshot of the unsettled
    tail (:mod:`edgewatch.snapshot`) that holds ``tail``'s callee-only calls, read instead of
    ``requests``."""

    span: TimeRange
    grain: int
    measures: tuple[Measure, ...]
    pieces: tuple[Piece, ...]
    raw: bool
    tail: TimeRange | None = None
    snapshot: int | None = None


def plan(span: TimeRange, measures: tuple[str, ...] = API_MEASURES, grain: int | None = None,
         raw: bool = False, settled: datetime | None = None, snapshot: Snapshot | None = None) -> WindowPlan:
    """How to read ``span`` for ``measures`` (names of :data:`edgewatch.rollup.MEASURES`).

    Spans of whole minutes with a ``grain`` of whole minutes (or none) read the rollups that carry
    every measure asked for, and, after ``settled`` (:func:`edgewatch.settle.settled_until`, read
    just before; None: the rollups hold every callee-only call), the callee-only calls not yet
    settled, from ``requests``, so that traffic from outside the mesh counts at once, not after
    settling. Others, and every span when ``raw``, read ``requests``.
    """
    chosen = tuple(MEASURE[name] for name in measures)
    if raw or not span.whole_minutes or (grain or 60) % 60:
        return WindowPlan(span, grain or 0, chosen, (), True)
    tables = tuple(t for t in TABLES if t.carries(measures))
    pieces = rollup_pieces(int(span.start.timestamp()), int(span.end.timestamp()), grain, tables)
    tail = None
    if settled is not None and settled < span.end:
        tail = TimeRange(max(span.start, settled), span.end)
    held = snapshot.id if snapshot is not None and tail is not None and snapshot.covers(tail.start, tail.end) else None
    return WindowPlan(span, grain or 0, chosen, tuple(pieces), False, tail, held)


def rollup_pieces(start: int, end: int, grain: int | None = None, tables: tuple[RollupTable, ...] = TABLES
                  ) -> list[Piece]:
    """[start, end) in epoch seconds (whole minutes) cut into rows of ``tables`` (coarsest first;
    edge_minute must be among them).

    With a ``grain`` (time series steps, seconds), the coarsest rows that lie whole inside
    buckets of ``grain`` (10-minute rows only on multiples of 10 minutes). Without, the whole
    range is one bucket: the cheapest cover, counting rows per edge plus :data:`TABLE_COST` per
    table, of either 10-minute rows from ``start`` and minutes for the rest, or whole hours
    with such covers of the partial hours at either end.
    """
    if grain is not None:
        return _aligned(start, end, [t for t in tables if grain % t.seconds == 0])
    ten = EDGE_10MIN in tables
    options = [_fine_cover(start, end, ten)]
    first_hour, last_hour = -(-start // 3600) * 3600, end // 3600 * 3600
    if EDGE_HOUR in tables and first_hour < last_hour:
        options.append([*_fine_cover(start, first_hour, ten), Piece(EDGE_HOUR, first_hour, last_hour),
                        *_fine_cover(last_hour, end, ten)])
    return min(options, key=_cost)


def _aligned(a: int, b: int, levels: list[RollupTable]) -> list[Piece]:
    if a >= b:
        return []
    table = levels[0]
    first, last = -(-a // table.seconds) * table.seconds, b // table.seconds * table.seconds
    if len(levels) == 1:
        return [Piece(table, a, b)]
    if first >= last:
        return _aligned(a, b, levels[1:])
    return [*_aligned(a, first, levels[1:]), Piece(table, first, last), *_aligned(last, b, levels[1:])]


def _fine_cover(a: int, b: int, ten: bool) -> list[Piece]:
    """[a, b) as 10-minute rows starting at ``a`` (when ``ten``), then minutes for the rest."""
    tens = a + (b - a) // 600 * 600 if ten else a
    return [piece for piece in (Piece(EDGE_10MIN, a, tens), Piece(EDGE_MINUTE, tens, b)) if piece.start < piece.end]


def _cost(pieces: list[Piece]) -> int:
    return sum((p.end - p.start) // p.table.seconds for p in pieces) + TABLE_COST * len({p.table for p in pieces})


def rows(window: WindowPlan, where: str = "1", params: dict[str, Any] | None = None, prefix: str = ""
         ) -> tuple[str, dict[str, Any]]:
    """SQL (a SELECT) of the rows of ``window`` matching ``where`` (a condition on the key columns,
    with its ``params``), and all parameters: columns ``t`` (epoch seconds rounded down to a
    multiple of the grain; 0 without one), the key columns, ``edge`` and the plan's measures,
    several rows per edge and bucket. ``prefix`` names the parameters apart when one query
    reads several windows."""
    params = dict(params or {})
    grain = f"{{{prefix}grain:UInt32}}"
    params[f"{prefix}grain"] = window.grain
    if window.raw:
        params.update(range_params(window.span.start, window.span.end, prefix))
        bucket = f"intDiv(toUInt32(timestamp), {grain}) * {grain}" if window.grain else "0"
        return (f"""SELECT t, {KEYS}, {EDGE_KEY} AS edge, {finished_columns(window.measures)} FROM (
                    SELECT {bucket} AS t, {KEYS}, {aggregate_columns(window.measures)}
                    FROM {CALL_ROWS % counted_once(where, prefix)} GROUP BY t, {KEYS})""", params)
    columns = ", ".join(m.name for m in window.measures)
    selects = [f"SELECT {_bucket(table, grain, window.grain)} AS t, {KEYS}, edge, {columns} FROM {source}"
               for table, source in _sources(window, where, params, prefix).items()]
    if window.tail is not None:
        selects.append(_tail(window, window.tail, where, params, prefix))
    if not selects:  # an empty span
        selects = [f"SELECT 0 AS t, {KEYS}, edge, {columns} FROM {EDGE_MINUTE.name} WHERE 0"]
    return "\nUNION ALL\n".join(selects), params


def nested_rows(windows: Sequence[WindowPlan], where: str = "1", params: dict[str, Any] | None = None
                ) -> tuple[str, dict[str, Any]]:
    """SQL (a SELECT) of the rows of several windows matching ``where``, as :func:`rows` gives
    them after a column ``w``: the index in ``windows`` of the window a row counts for. Each window
    is planned on its own (parameters prefixed ``w{i}_``), but windows whose unsettled tails are the
    same (windows ending together that all reach back past the settled point, as a burn rate's do)
    read that tail once, its rows counting for each of them (parameters ``t{k}_``): every tail is
    three scans of ``requests``, which cost a rule of four windows more than its rollup rows."""
    params = dict(params or {})
    parts = []
    shared: dict[tuple[TimeRange, int, tuple[Measure, ...]], list[int]] = {}
    for i, window in enumerate(windows):
        if window.tail is not None:
            shared.setdefault((window.tail, window.grain, window.measures), []).append(i)
        sql, params = rows(replace(window, tail=None), where, params, prefix=f"w{i}_")
        parts.append(f"SELECT {i} AS w, * FROM ({sql})")
    for k, members in enumerate(shared.values()):
        sql, params = rows(replace(windows[members[0]], pieces=()), where, params, prefix=f"t{k}_")  # its tail alone
        parts.append(f"SELECT arrayJoin({members}) AS w, * FROM ({sql})")  # the window indexes: ours, not input
    return "\nUNION ALL\n".join(parts), params


def _tail(window: WindowPlan, tail: TimeRange, where: str, params: dict[str, Any], prefix: str) -> str:
    """The rows of the callee-only calls of ``tail`` (after the settled point), aggregated like
    the rollups. The settled point is a parameter read just before, not a subquery: scalar
    subqueries in this query cost more than a query of their own (chDB 4.4: its analysis and
    pipeline took 50 ms against 20 ms with the point as a parameter, on a loaded 2-core machine).
    With the plan's snapshot, its rows of the tail's minutes (whole minutes: the settled point and
    the spans are)."""
    grain = f"{{{prefix}grain:UInt32}}"
    if window.snapshot is not None:
        a, b, snapshot = f"{prefix}tail_a", f"{prefix}tail_b", f"{prefix}snapshot"
        params.update({a: int(tail.start.timestamp()), b: int(tail.end.timestamp()), snapshot: window.snapshot})
        columns = ", ".join(m.name for m in window.measures)
        minute = EDGE_MINUTE.time_column
        return (f"SELECT {_bucket(EDGE_MINUTE, grain, window.grain)} AS t, {KEYS}, edge, {columns} FROM {TAIL_TABLE} "
                f"WHERE snapshot = {{{snapshot}:UInt64}} AND {_between(minute, a, b)} AND {where}")
    params.update(range_params(tail.start, tail.end, f"{prefix}tail_"))
    unsettled = Range.of(f"{prefix}tail_")
    bucket = f"intDiv(toUInt32(timestamp), {grain}) * {grain}" if window.grain else "0"
    calls = f"{unsettled.condition()} AND {where} AND {callee_only(where, within=unsettled)}"
    # One level, the measures' one-step aggregates, the columns they need: a few rows, so
    # planning is what it costs (half of the layered form's, bench/api.py's load).
    measures = ", ".join(f"{m.in_one_step} AS {m.name}" for m in window.measures)
    return (f"""SELECT {bucket} AS t, {KEYS}, {EDGE_KEY} AS edge, {measures}
                FROM (SELECT {KEYS}, timestamp, response_code AS code, toString(response_flags) AS flags,
                             duration_ms FROM requests WHERE {calls})
                GROUP BY t, {KEYS}""")


def select(window: WindowPlan, select: str, group_by: str, where: str = "1", params: dict[str, Any] | None = None,
           having: str = "", settings: bool = True, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """``SELECT {select} ... GROUP BY {group_by} [HAVING {having}]`` over the rows of ``window``
    matching ``where`` (a condition on the key columns, with its ``params``), and all parameters.

    ``select``, ``group_by`` and ``having`` may use the columns of :func:`rows`.
    ``settings=False`` leaves out the SETTINGS clause, for use as a subquery; ``prefix`` as in
    :func:`rows`.
    """
    tail = f" HAVING {having}" if having else ""
    options = f" {ROLLUP_SETTINGS}" if settings and not window.raw else ""
    if not window.raw:
        params = dict(params or {})
        sources = _sources(window, where, params, prefix)
        # one table and no tail (an hour of a settled past: edge_10min): no subquery, which costs a little
        if len(sources) == 1 and window.tail is None:
            ((table, source),) = sources.items()
            params[f"{prefix}grain"] = window.grain
            t = _bucket(table, f"{{{prefix}grain:UInt32}}", window.grain)
            return f"WITH {t} AS t SELECT {select} FROM {source} GROUP BY {group_by}{tail}{options}", params
    inner, params = rows(window, where, params, prefix)
    return f"SELECT {select} FROM ({inner}) GROUP BY {group_by}{tail}{options}", params


def _bucket(table: RollupTable, grain: str, seconds: int) -> str:
    return f"intDiv(toUInt32({table.time_column}), {grain}) * {grain}" if seconds else "0"


def _sources(window: WindowPlan, where: str, params: dict[str, Any], prefix: str) -> dict[RollupTable, str]:
    """``table WHERE ...`` of every table the plan's pieces read; adds the pieces' parameters."""
    ranges: dict[RollupTable, list[str]] = {}
    for i, piece in enumerate(window.pieces):
        a, b, phase = f"{prefix}r{i}a", f"{prefix}r{i}b", f"{prefix}r{i}p"
        column = piece.table.time_column
        params.update({a: piece.start, b: piece.end})
        condition = _between(column, a, b)
        if piece.table is EDGE_10MIN:  # the rows starting every 10 minutes from a; the key's leading expression
            params[phase] = piece.start // 60 % 10
            condition = f"toMinute(start) % 10 = {{{phase}:UInt8}} AND {condition}"
        ranges.setdefault(piece.table, []).append(f"({condition})")
    return {table: f"{table.name} WHERE ({' OR '.join(conditions)}) AND {where}"
            for table, conditions in ranges.items()}


def _between(column: str, a: str, b: str) -> str:
    """SQL: ``column`` (a DateTime) in [a, b), given as the epoch-seconds parameters named ``a`` and ``b``."""
    return f"{column} >= toDateTime({{{a}:UInt32}}, 'UTC') AND {column} < toDateTime({{{b}:UInt32}}, 'UTC')"
