"""How conditions read the rollup: per-edge aggregates over windows that end at the evaluation time.

Conditions read the rollup tables through :func:`edge_sums` (one window) and
:func:`nested_edge_sums` (several windows ending together, for burn rates) only, so which
rows answer a window is decided here and nowhere else. Today's covers:

- a window of W at time t covers the minute buckets of ``edge_minute`` from the one holding
  ``t - W`` up to the one holding t (the current, partial minute included): between W and
  W + 1 minute of data, so the newest records count at once;
- nested windows read whole hours from ``edge_hour`` and the partial hours at either end of
  each window from ``edge_minute``, counting every minute of each window exactly once, so a
  1d window costs about as much as a 2h one.

The rollups hold the caller's report of each call (docs/edges.md). Everything reaches SQL as
a server-side parameter; the SQL text is assembled from the callers' constant fragments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from edgewatch.calls import epoch_ms
from edgewatch.edge import KEYS

Query = tuple[str, dict[str, object]]
"""SQL and its server-side parameters."""

_T = "fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC')"


@dataclass(frozen=True)
class Scope:
    """What a condition's query covers: the edges matching ``edges`` (an SQL condition on the
    key columns, :data:`edgewatch.edge.KEY_COLUMNS`, with its ``params``) at ``now``; an edge
    with fewer than ``min_requests`` requests is not evaluated (each condition says over
    which window)."""

    now: datetime
    edges: str = "1"
    params: Mapping[str, object] = field(default_factory=dict)
    min_requests: int = 1


def edge_sums(measures: str, seconds: float, scope: Scope, *, having: str = "", name: str = "window") -> Query:
    """SQL: one row per edge of ``scope`` that has rows in the ``seconds`` ending at
    ``scope.now``: the key columns, then ``measures`` (a select list of aggregates over the
    rollup's columns, each ``AS`` a name that is no column), keeping the rows for which
    ``having`` (SQL over those names) holds. The window's length is the UInt32 parameter
    ``name``: two windows in one query need two names."""
    sql = f"""SELECT {KEYS}, {measures}
        FROM edge_minute
        WHERE minute >= toStartOfMinute({_T} - toIntervalSecond({{{name}:UInt32}})) AND minute <= {_T}
          AND {scope.edges}
        GROUP BY {KEYS}{f" HAVING {having}" if having else ""}"""
    return sql, {**scope.params, "now_ms": epoch_ms(scope.now), name: int(seconds)}


def nested_edge_sums(columns: Mapping[str, str], spans: Sequence[float], scope: Scope, *, having: str = "") -> Query:
    """SQL: one row per edge of ``scope``: the key columns, then for each window ``i`` of
    ``spans`` (seconds, all ending at ``scope.now``) and each ``alias: column`` of ``columns``
    (summable rollup columns) the column's sum over that window as ``{alias}{i}``, window by
    window (``n0, e0, n1, e1`` ...); keeping the rows for which ``having`` (SQL over those
    names) holds. The windows' lengths are the parameters ``w0``, ``w1`` ..."""
    start = [f"toStartOfMinute(t - toIntervalSecond({{w{i}:UInt32}}))" for i in range(len(spans))]
    longest = start[max(range(len(spans)), key=lambda i: spans[i])]
    # A minute row counts in window i unless its whole hour is counted as an hourly row.
    counts = [f"bucket >= {s} AND (hourly OR toStartOfHour(bucket) < {s} OR bucket >= this_hour)" for s in start]
    sums = ", ".join(
        f"sumIf({column}, {c}) AS {alias}{i}" for i, c in enumerate(counts) for alias, column in columns.items()
    )
    partial_hours = " OR ".join(f"(minute >= {s} AND minute < toStartOfHour({s}) + toIntervalHour(1))" for s in start)
    read = ", ".join(columns.values())
    sql = f"""WITH {_T} AS t, toStartOfHour(t) AS this_hour
        SELECT {KEYS}, {sums}
        FROM (
            SELECT {KEYS}, minute AS bucket, 0 AS hourly, {read} FROM edge_minute
            WHERE minute <= t AND (minute >= this_hour OR {partial_hours}) AND {scope.edges}
            UNION ALL
            SELECT {KEYS}, hour AS bucket, 1 AS hourly, {read} FROM edge_hour
            WHERE hour >= toStartOfHour({longest}) AND hour < this_hour AND {scope.edges}
        )
        GROUP BY {KEYS}{f" HAVING {having}" if having else ""}"""
    params: dict[str, object] = {**scope.params, "now_ms": epoch_ms(scope.now)}
    params.update({f"w{i}": int(span) for i, span in enumerate(spans)})
    return sql, params
