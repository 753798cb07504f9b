"""How conditions read windows: per-edge aggregates over windows that end at the evaluation time.

Conditions read through :func:`edge_sums` (one window) and :func:`nested_edge_sums` (several
windows ending together, for burn rates) only, and these ask the project's one window planner
(:mod:`edgewatch.windows`) which rows answer: the same planner the API and the Grafana endpoints
use, so a rule and a dashboard read a window alike.

A rule's window of W at time t (:func:`rule_window`) covers the minutes from the one holding
``t - W`` up to the one holding t, the current, partial minute included: between W and
W + 1 minute of data, so the newest records count at once.

The rollups hold the caller's report of each call (docs/edges.md). Everything reaches SQL as
a server-side parameter; the SQL text is assembled from the callers' constant fragments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from edgewatch import windows
from edgewatch.calls import from_epoch
from edgewatch.edge import KEYS
from edgewatch.mesh.config import EMPTY, MeshConfig
from edgewatch.snapshot import Snapshot
from edgewatch.windows import TimeRange

Query = tuple[str, dict[str, object]]
"""SQL and its server-side parameters."""


@dataclass(frozen=True)
class Scope:
    """What a condition's query covers: the edges matching ``edges`` (an SQL condition on the
    key columns, :data:`edgewatch.edge.KEY_COLUMNS`, with its ``params``) at ``now``; an edge
    with fewer than ``min_requests`` requests is not evaluated (each condition says over
    which window). ``mesh`` is what the mesh's config says about the edges."""

    now: datetime
    edges: str = "1"
    params: Mapping[str, object] = field(default_factory=dict)
    min_requests: int = 1
    mesh: MeshConfig = EMPTY
    """The mesh's own config (timeouts of VirtualServices), for conditions that use it."""
    settled: datetime | None = None
    """Where settling stands (:func:`edgewatch.settle.settled_until`): windows add the callee-only
    calls after it from the raw records; None: the rollups alone."""
    snapshot: Snapshot | None = None
    """The evaluation's snapshot of those calls (:func:`edgewatch.snapshot.take` at ``settled``),
    which windows read instead of matching the raw records again; None: each window matches them."""


def rule_window(now: datetime, seconds: float) -> TimeRange:
    """The minutes from the one holding ``now - seconds`` to the one holding ``now`` (whole minutes)."""
    minute = int(now.timestamp()) // 60 * 60
    return TimeRange(from_epoch(minute - int(seconds)), from_epoch(minute + 60))


def edge_sums(measures: str, reads: tuple[str, ...], seconds: float, scope: Scope, *, having: str = "",
              name: str = "window") -> Query:
    """SQL: one row per edge of ``scope`` that has rows in the window of ``seconds`` ending at
    ``scope.now``: the key columns, then ``measures`` (a select list of aggregates over the
    rollup's columns ``reads``, each ``AS`` a name that is no column), keeping the rows for which
    ``having`` (SQL over those names) holds. ``name`` prefixes the window's parameters: two
    windows in one query need two names."""
    plan = windows.plan(rule_window(scope.now, seconds), reads, settled=scope.settled, snapshot=scope.snapshot)
    sql, params = windows.select(plan, f"{KEYS}, {measures}", KEYS, scope.edges, dict(scope.params),
                                 having=having, settings=False, prefix=f"{name}_")
    return sql, params


def nested_edge_sums(columns: Mapping[str, str], spans: Sequence[float], scope: Scope, *, having: str = "") -> Query:
    """SQL: one row per edge of ``scope``: the key columns, then for each window ``i`` of
    ``spans`` (seconds, all ending at ``scope.now``) and each ``alias: column`` of ``columns``
    (summable rollup columns) the column's sum over that window as ``{alias}{i}``, window by
    window (``n0, e0, n1, e1`` ...); keeping the rows for which ``having`` (SQL over those
    names) holds. Each window is planned on its own (its parameters are prefixed ``w{i}_``); windows
    with the same unsettled tail read it once (:func:`edgewatch.windows.nested_rows`)."""
    reads = tuple(columns.values())
    plans = [windows.plan(rule_window(scope.now, span), reads, settled=scope.settled, snapshot=scope.snapshot)
             for span in spans]
    rows, params = windows.nested_rows(plans, scope.edges, dict(scope.params))
    sums = ", ".join(f"sumIf({column}, w = {i}) AS {alias}{i}"
                     for i in range(len(spans)) for alias, column in columns.items())
    sql = f"""SELECT {KEYS}, {sums}
        FROM ({rows})
        GROUP BY {KEYS}{f" HAVING {having}" if having else ""}"""
    return sql, params
