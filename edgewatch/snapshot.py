"""Snapshots of the unsettled tail: its callee-only calls matched once for many queries.

A window that reaches past the settled point adds the calls only the callee reported after it
(:mod:`edgewatch.windows`), and finding them means matching the two reports of every call of those
minutes in ``requests`` (:func:`edgewatch.calls.callee_only`): work that grows with the traffic,
done again by every query. One rule evaluation reads a dozen windows that all end at its moment,
so :func:`take` does that matching once, storing the tail's callee-only calls in ``edge_tail`` as
edge_minute's rows (the same SELECT as settling), under a fresh snapshot id; the windows planned
with that :class:`Snapshot` read its few rows instead. Each answer is then exact as of the moment
the snapshot was taken, and every rule of the evaluation sees the same tail. A caller's report
that arrives between the snapshot and a rule's query counts in the rollups while the snapshot
still counts the callee's report of that call: twice, for that one evaluation (as a matching of
its own would between its scans, and settling's moment, :func:`edgewatch.settle.settled_until`).

Snapshots are kept :data:`edgewatch.rollup.TAIL_KEEP_MINUTES` minutes (migration 0005), then dropped
whole by the engine. The API answers one window per query and matches its own tail.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from edgewatch.calls import from_epoch, range_params
from edgewatch.edge import KEYS
from edgewatch.rollup import EDGE_MINUTE, TAIL_TABLE, column_names
from edgewatch.settle import CALLEE_ONLY_ROWS

LOOKBACK = timedelta(days=1)
"""How far back before ``now`` a snapshot reaches at most, when settling lies further behind (a
database never settled, or settling catching up): the longest window of the shipped rules. A
window starting before a snapshot's start does not use it (:func:`edgewatch.windows.plan`)."""

TAKE = (f"INSERT INTO {TAIL_TABLE} ({EDGE_MINUTE.time_column}, {KEYS}, {column_names(EDGE_MINUTE.measures)}, "
        f"snapshot)\nSELECT *, {{snapshot:UInt64}} FROM (\n{CALLEE_ONLY_ROWS}\n)")
"""The callee-only calls of a range as settling stores them, under a snapshot id."""


@dataclass(frozen=True)
class Snapshot:
    """``edge_tail``'s rows under ``id``: every callee-only call of [``start``, ``end``), as of when
    it was taken (``start`` is the settled point, or :data:`LOOKBACK` before the moment)."""

    id: int
    start: datetime
    end: datetime

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


def take(client: Client, settled: datetime, now: datetime, until: datetime) -> Snapshot:
    """Store the callee-only calls of [max(settled, start of ``now``'s minute - LOOKBACK), ``until``)
    (``settled``: :func:`edgewatch.settle.settled_until`, read just before) as a new snapshot.
    Raises clickhouse_connect's errors."""
    start = max(settled, from_epoch(now.timestamp() // 60 * 60) - LOOKBACK)
    snapshot = Snapshot(secrets.randbits(63), start, until)
    if start < until:
        # On a cluster the rules read the snapshot at once, through any replica of its shard: the
        # insert returns once a majority of the shard's replicas hold it (all, with two).
        client.command(TAKE, parameters={"snapshot": snapshot.id, **range_params(start, until)},
                       settings={"insert_quorum": "auto"})
    return snapshot
