"""The per-edge rollup, declared once: its measures and its tables, and the SQL made from them.

Every number Edgewatch gives about an edge (requests, errors, latency percentiles...) is a
**measure**: how a group of calls aggregates into it (``aggregate``, over call rows: columns
``code``, ``flags`` and ``duration_ms``, see :data:`edgewatch.calls.CALL_ROWS`), the type it is
stored as, and how stored rows merge (``merge``: sum, sumMap or min, which is also how a window
reads it). The rollup **tables** hold the measures per edge and time bucket: ``edge_minute``
(fed by a view from the caller's reports in ``requests``, and by settling), ``edge_hour`` and
``edge_10min`` (fed by views from ``edge_minute``).

From this one declaration come: the DDL of migration 0002 (:func:`migration_sql`) and of
migration 0005's ``edge_tail``, the snapshots of the unsettled tail (:func:`tail_migration_sql`;
``python -m edgewatch.rollup --write`` writes both, tests/test_schema.py fails when a committed
file or the migrated engine's schema disagrees), the aggregate SELECT of the views, of settling,
of the snapshots and of the raw path (:func:`aggregate_columns`, :func:`finished_columns`), and
the columns the window planner (:mod:`edgewatch.windows`) reads.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from edgewatch.calls import CALL_ROWS, IS_ERROR, IS_TIMEOUT
from edgewatch.edge import EDGE_KEY, KEY_COLUMNS, KEYS
from edgewatch.latency import BUCKET, histogram

RETENTION_DAYS = 90
DEDUP_WINDOW = 10_000
"""``non_replicated_deduplication_window``: the token-deduplicated inserts (ingester batches,
settling chunks) reach the rollups through views and are deduplicated there too."""


@dataclass(frozen=True)
class Measure:
    """One stored number of an edge and time bucket.

    ``aggregate`` is SQL over call rows; with ``finish`` it yields an intermediate column
    ``{name}_parts`` that ``finish`` (a function of that column's name) turns into the stored
    value: fast to run over the view's large blocks. ``direct`` is the same value in one
    aggregate, quick to plan, for the few rows of the unsettled tail (empty: ``aggregate``).
    Stored as ``SimpleAggregateFunction(merge, type)``: the tables merge rows with ``merge`` as
    they merge parts, and a window reads ``merge(name)``.
    """

    name: str
    merge: str
    type: str
    aggregate: str
    comment: str
    finish: str = ""
    in_10min: bool = True
    direct: str = ""

    @property
    def stored_type(self) -> str:
        return f"SimpleAggregateFunction({self.merge}, {self.type})"

    @property
    def in_one_step(self) -> str:
        """SQL over call rows: the stored value in one aggregate."""
        return self.direct or self.aggregate

    @property
    def read(self) -> str:
        """SQL: the measure over a window's rows."""
        return f"{self.merge}({self.name})"


MEASURES = (
    Measure("requests", "sum", "UInt64", "count()", "calls"),
    Measure("errors", "sum", "UInt64", f"countIf({IS_ERROR})", "server errors: 5xx, or no response (code 0)"),
    Measure("client_errors", "sum", "UInt64", "countIf(code >= 400 AND code < 500)", "client errors: 4xx"),
    Measure("timeouts", "sum", "UInt64", f"countIf({IS_TIMEOUT})", "timeouts: Envoy's flag UT, or code 504"),
    Measure("status_codes", "sumMap", "Map(UInt16, UInt64)", "sumMap(map(code, toUInt64(1)))",
            "calls per response code"),
    Measure("response_flags", "sumMap", "Map(String, UInt64)", "sumMap(map(flags, toUInt64(1)))",
            "calls per response-flags value ('-': none)"),
    Measure("duration_sum_ms", "sum", "Float64", "sum(duration_ms)", "total duration, for means"),
    Measure("timeout_duration_min", "min", "Float64", f"min(if({IS_TIMEOUT}, duration_ms, inf))",
            "the shortest duration of a timed-out call: the edge's timeout, inferred (inf: none)"),
    Measure("latency", "sumMap", "Map(Int16, UInt64)", f"arraySort(groupArray({BUCKET}))",
            "latency histogram (edgewatch/latency.py): bucket -> calls", finish=histogram("{parts}"),
            direct=f"sumMap(map({BUCKET}, toUInt64(1)))"),
    Measure("latency_ok", "sumMap", "Map(Int16, UInt64)", f"arraySort(groupArrayIf({BUCKET}, NOT {IS_ERROR}))",
            "latency histogram of the calls that were no server error, for timeout headroom",
            finish=histogram("{parts}"), in_10min=False,
            direct=f"sumMapIf(map({BUCKET}, toUInt64(1)), NOT {IS_ERROR})"),
)
MEASURE = {m.name: m for m in MEASURES}


@dataclass(frozen=True)
class RollupTable:
    """A rollup table: the measures per edge and bucket of ``seconds``, rows starting every ``every``.

    ``from_minute`` is how its view makes its time column from ``edge_minute``'s ``minute``
    (empty for ``edge_minute`` itself, which its view fills from ``requests``).
    """

    name: str
    time_column: str
    seconds: int
    every: int
    partition: str
    order_prefix: tuple[str, ...]
    granularity: int
    measures: tuple[Measure, ...]
    from_minute: str
    comment: str

    @property
    def order_by(self) -> str:
        keys = ("source_namespace", "source_workload", "destination_namespace", "destination_service",
                "destination_kind")
        return ", ".join((*self.order_prefix, *keys))

    def carries(self, names: tuple[str, ...]) -> bool:
        return all(any(m.name == name for m in self.measures) for name in names)


EDGE_MINUTE = RollupTable(
    "edge_minute", "minute", 60, 60, "toDate(minute)", ("minute",), 1024, MEASURES, "",
    "per minute; windows read a few hundred rows per minute, hence small granules",
)
EDGE_10MIN = RollupTable(
    "edge_10min", "start", 600, 60, "toDate(start)", ("toMinute(start) % 10", "start"), 256,
    tuple(m for m in MEASURES if m.in_10min), "minute - toIntervalMinute(arrayJoin(range(10)))",
    "per 10 minutes, starting at every minute: the row of `start` covers\n"
    "-- [start, start + 10 min), so each minute feeds 10 rows and any window of whole minutes is a few\n"
    "-- rows per edge (an hour: 6). The rows of one minute-of-ten lie together (the ORDER BY starts with\n"
    "-- toMinute(start) % 10); small granules: an hour of 300 edges is 1,800 rows",
)
EDGE_HOUR = RollupTable(
    "edge_hour", "hour", 3600, 3600, "toYYYYMM(hour)", ("hour",), 1024, MEASURES, "toStartOfHour(minute)",
    "per hour",
)
TABLES = (EDGE_HOUR, EDGE_10MIN, EDGE_MINUTE)
"""Coarsest first."""
TABLE = {t.name: t for t in TABLES}


def aggregate_columns(measures: tuple[Measure, ...] = MEASURES) -> str:
    """SQL select list: each measure aggregated over call rows (intermediates named ``{name}_parts``)."""
    return ",\n    ".join(f"{m.aggregate} AS {m.name + '_parts' if m.finish else m.name}" for m in measures)


def finished_columns(measures: tuple[Measure, ...] = MEASURES, separator: str = ", ") -> str:
    """SQL select list over :func:`aggregate_columns`' result: the stored values, named as the columns."""
    return separator.join(m.finish.format(parts=m.name + "_parts") + f" AS {m.name}" if m.finish else m.name
                          for m in measures)


def column_names(measures: tuple[Measure, ...] = MEASURES) -> str:
    return ", ".join(m.name for m in measures)


def calls_rollup_select(condition: str, measures: tuple[Measure, ...] = MEASURES) -> str:
    """SQL: ``minute, keys, measures`` of the call rows of ``requests`` matching ``condition``, per
    minute and edge, exactly as ``edge_minute`` stores them (its view, and settling)."""
    finished = finished_columns(measures, separator=",\n    ")
    return (f"SELECT minute, {KEYS},\n    {finished}\nFROM (\n"
            f"    SELECT toStartOfMinute(timestamp) AS minute, {KEYS},\n    {aggregate_columns(measures)}\n"
            f"    FROM {CALL_ROWS % condition}\n    GROUP BY minute, {KEYS}\n)")


def view_select(table: RollupTable) -> str:
    """The SELECT of ``table``'s materialized view."""
    if not table.from_minute:
        return calls_rollup_select("reporter = 'source'", table.measures)
    time = f"{table.from_minute} AS {table.time_column}"
    if table.every == 60:  # a row per minute: the minute's rows as they are, no grouping
        return f"SELECT {time}, {KEYS}, {column_names(table.measures)}\nFROM edge_minute"
    reads = ",\n    ".join(f"{m.read} AS {m.name}" for m in table.measures)
    return (f"SELECT {time}, {KEYS},\n    {reads}\nFROM edge_minute\n"
            f"GROUP BY {table.time_column}, {KEYS}")


def _column_lines(table: RollupTable, leading: tuple[tuple[str, str], ...] = ()) -> str:
    """The column list of ``table``'s DDL, after the ``leading`` columns (name, type), aligned."""
    width = max(len(name) for name in (*KEY_COLUMNS, "edge", *(m.name for m in table.measures))) + 2
    lines = [f"    {name.ljust(width)}{type_}" for name, type_ in leading]
    lines.append(f"    {table.time_column.ljust(width)}DateTime('UTC')")
    lines += [f"    {name.ljust(width)}LowCardinality(String)" for name in KEY_COLUMNS]
    lines.append(f"    -- the five keys as one string (edgewatch/edge.py's EDGE_KEY): one key groups faster than five\n"
                 f"    {'edge'.ljust(width)}LowCardinality(String) MATERIALIZED {EDGE_KEY}")
    lines += [f"    -- {m.comment}\n    {m.name.ljust(width)}{m.stored_type}" for m in table.measures]
    return ",\n".join(lines)


def create_table(table: RollupTable) -> str:
    return (f"-- {table.name}: {table.comment}\n"
            f"CREATE TABLE IF NOT EXISTS {table.name}\n(\n{_column_lines(table)}\n)\n"
            f"ENGINE = AggregatingMergeTree\n"
            f"PARTITION BY {table.partition}\n"
            f"ORDER BY ({table.order_by})\n"
            f"TTL {table.time_column} + toIntervalDay({RETENTION_DAYS})\n"
            f"SETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}, index_granularity = {table.granularity};")


def create_view(table: RollupTable) -> str:
    return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {table.name}_mv TO {table.name} AS\n"
            f"{view_select(table)};")


HEADER = """\
-- 0002: the per-edge rollups. GENERATED from edgewatch/rollup.py by `python -m edgewatch.rollup --write`:
-- change the spec there, never this file (tests/test_schema.py compares the two, and the engine's schema).
--
-- One row per (bucket, caller, callee) holding counts, status and flag breakdowns and latency
-- histograms; kept {days} days. Only the caller's report of a call feeds edge_minute_mv
-- (reporter = 'source'): in a mesh both proxies log every call with the same request_id, and
-- counting both would double every edge. Calls that only the callee reported (traffic from outside
-- the mesh) are added to edge_minute by settling (edgewatch/settle.py); the views pass them on.
-- edge_hour and edge_10min are fed from edge_minute. docs/edges.md explains windows and costs.\
"""


def migration_sql() -> str:
    """The whole text of migrations/0002_edge_rollup.sql."""
    parts = [HEADER.format(days=RETENTION_DAYS)]
    for table in (EDGE_MINUTE, EDGE_HOUR, EDGE_10MIN):
        parts += [create_table(table), create_view(table)]
    return "\n\n".join(parts) + "\n"


MIGRATION_FILE = Path(__file__).resolve().parent.parent / "migrations" / "0002_edge_rollup.sql"

TAIL_TABLE = "edge_tail"
"""Snapshots of the unsettled tail (:mod:`edgewatch.snapshot`): edge_minute's rows of the
callee-only calls after the settled point, as of one moment, under a snapshot id."""
TAIL_KEEP_MINUTES = 30
TAIL_MIGRATION_FILE = MIGRATION_FILE.parent / "0005_edge_tail.sql"

TAIL_HEADER = """\
-- 0005: snapshots of the unsettled tail. GENERATED from edgewatch/rollup.py by `python -m edgewatch.rollup --write`:
-- change the spec there, never this file (tests/test_schema.py compares the two, and the engine's schema).
--
-- The calls that only the callee reported reach edge_minute when their minute is settled, 2-3 minutes
-- late; until then a window finds them in `requests` by matching the two reports of each call, which
-- costs as much as the traffic of those minutes (docs/edges.md, "Speed"). One rule evaluation reads a
-- dozen windows: edgewatch/snapshot.py matches the tail once per evaluation and stores the result
-- here, edge_minute's rows under a snapshot id, which every rule of the evaluation reads instead.
-- Kept {keep} minutes: whole parts are dropped once all their rows are that old.\
"""


def create_tail_table() -> str:
    """edge_minute's columns after a snapshot id and the time the snapshot was taken."""
    leading = (("snapshot", "UInt64"), ("taken_at", "DateTime('UTC') DEFAULT now()"))
    columns = _column_lines(EDGE_MINUTE, leading)
    return (f"CREATE TABLE IF NOT EXISTS {TAIL_TABLE}\n(\n{columns}\n)\n"
            "ENGINE = MergeTree\n"
            "PARTITION BY toStartOfTenMinutes(taken_at)\n"
            f"ORDER BY (snapshot, {EDGE_MINUTE.time_column})\n"
            f"TTL taken_at + toIntervalMinute({TAIL_KEEP_MINUTES})\n"
            "SETTINGS ttl_only_drop_parts = 1, merge_with_ttl_timeout = 600;")


def tail_migration_sql() -> str:
    """The whole text of migrations/0005_edge_tail.sql."""
    return TAIL_HEADER.format(keep=TAIL_KEEP_MINUTES) + "\n\n" + create_tail_table() + "\n"


GENERATED = {MIGRATION_FILE: migration_sql, TAIL_MIGRATION_FILE: tail_migration_sql}
"""Each generated migration file and the function that writes its text."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the migrations generated from the spec (0002, 0005).")
    parser.add_argument("--write", action="store_true", help="write the files (default: check them)")
    args = parser.parse_args(argv)
    stale = 0
    for path, generate in GENERATED.items():
        text = generate()
        if args.write:
            path.write_text(text)
            print(f"wrote {path}")
        elif path.read_text() != text:
            print(f"{path} differs from edgewatch/rollup.py: run `python -m edgewatch.rollup --write`", file=sys.stderr)
            stale += 1
        else:
            print(f"{path} matches the spec")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
