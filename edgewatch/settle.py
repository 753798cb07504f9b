"""Settling: adding the calls only the callee reported to the rollups, once, after a lag.

``edge_minute_mv`` feeds the rollups with the caller's reports as they arrive. A callee's
report counts only if no caller's report of the same call exists, which is known only once
the caller's report had time to arrive: so :func:`settle` adds them for closed minutes
older than ``lag`` (2 minutes by default), in chunks of at most an hour, with an
``INSERT ... SELECT`` of the callee-only reports (:func:`edgewatch.calls.callee_only`)
aggregated like the view does (one declaration: :mod:`edgewatch.rollup`); the views pass them on
to the coarser rollups. Each chunk also teaches which workloads serve which Service from the
pairs of reports of its calls (:func:`edgewatch.services.learn_from_pairs`).

Exactly once: ``edge_settle_log`` records each chunk as started before its insert and as
done after it. The next call resumes after the last done chunk; a chunk left started (a
crash in between) is redone with the same ``insert_deduplication_token``, which the engine
drops if the first insert was stored. Run one settler per database (``edgewatch up`` or
the ingester service call it every ``INTERVAL``). docs/edges.md gives the costs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from edgewatch.calls import IN_RANGE, callee_only, from_epoch, range_params
from edgewatch.edge import KEYS
from edgewatch.metrics import REGISTRY
from edgewatch.rollup import EDGE_MINUTE, calls_rollup_select, column_names
from edgewatch.services import learn_from_pairs

log = logging.getLogger(__name__)

LAG = timedelta(minutes=2)
"""How long after a minute closes its callee-only calls are settled: the time a caller's
report may take to arrive after the callee's."""
INTERVAL = timedelta(minutes=1)
"""How often to call :func:`settle`."""
MAX_CHUNK = timedelta(hours=1)

BEHIND = REGISTRY.gauge(
    "edgewatch_settle_behind_seconds",
    "How far the settled point lies behind now: readers add the callee-only calls after it from requests.")

SETTLED_UNTIL = "SELECT toUInt32(max(chunk_end)) FROM edge_settle_log WHERE done = 1"


def settled_until(client: Client) -> datetime:
    """The rollups hold every callee-only call before this, none after it (the epoch on a database
    never settled). Chunks are settled in order, so this is the end of the last done one. A chunk
    whose insert landed but is not logged done yet (a moment each minute, or a crash in between,
    redone within a minute) is in the rollups and after this point: a reader adding the calls
    after this point counts that minute's callee-only calls twice meanwhile, which it accepts.
    Raises clickhouse_connect's errors."""
    return from_epoch(int(client.query(SETTLED_UNTIL).result_rows[0][0] or 0))

CALLEE_ONLY_ROWS = calls_rollup_select(f"{IN_RANGE} AND {callee_only()}", EDGE_MINUTE.measures)
"""SQL: the callee-only calls of a range (:func:`edgewatch.calls.range_params`) as edge_minute's
rows, aggregated exactly as edge_minute_mv aggregates the caller's; also what a snapshot of the
unsettled tail stores (:mod:`edgewatch.snapshot`)."""
_INSERT = f"INSERT INTO {EDGE_MINUTE.name} (minute, {KEYS}, {column_names(EDGE_MINUTE.measures)})\n{CALLEE_ONLY_ROWS}"


@dataclass(frozen=True)
class Chunk:
    """A settled (or settling) range of whole minutes, [start, end)."""

    start: datetime
    end: datetime

    @property
    def token(self) -> str:
        return f"edgewatch-settle-{int(self.start.timestamp())}-{int(self.end.timestamp())}"


def settle(client: Client, now: datetime, lag: timedelta = LAG, max_chunks: int = 24) -> list[Chunk]:
    """Add the callee-only calls of every unsettled minute that closed before ``now - lag``.

    Blocks for the inserts (one per chunk of at most an hour, at most ``max_chunks`` per call,
    so a long backlog is worked off over several calls). Starts, on a database never settled,
    at the oldest report, the caller's too: with no callee's report at all (a mesh whose callees
    do not report, bench/soak.py's records) the settled point still follows ``now - lag``, else
    it stayed at the epoch and every reader counted the whole window's raw records to find the
    callee-only calls (in the soak at 50,000 records/s: a set of every request id since the
    start per query, the API's queries taking GBs and seconds). Returns the chunks settled by this call, a redone one
    included. Raises clickhouse_connect's errors; a failed call is simply made again.
    """
    settled: list[Chunk] = []
    last, done = _last_logged(client)
    if last is not None and not done:
        _settle_chunk(client, last, redo=True)
        settled.append(last)
    start = last.end if last is not None else _oldest_minute(client)
    target = from_epoch((now - lag).timestamp() // 60 * 60)
    while start is not None and start < target and len(settled) < max_chunks:
        chunk = Chunk(start, min(start + MAX_CHUNK, target))
        _settle_chunk(client, chunk)
        settled.append(chunk)
        start = chunk.end
    return settled


def _settle_chunk(client: Client, chunk: Chunk, redo: bool = False) -> None:
    if not redo:
        _log(client, chunk, done=False)
    client.command(
        _INSERT,
        parameters=range_params(chunk.start, chunk.end),
        settings={"insert_deduplication_token": chunk.token},
    )
    learn_from_pairs(client, chunk.start, chunk.end, f"{chunk.token}-services")
    _log(client, chunk, done=True)


def _log(client: Client, chunk: Chunk, done: bool) -> None:
    client.insert(
        "edge_settle_log",
        [[chunk.start, chunk.end, int(done)]],
        column_names=["chunk_start", "chunk_end", "done"],
    )


def _last_logged(client: Client) -> tuple[Chunk | None, bool]:
    rows = client.query(
        """SELECT toUInt32(chunk_start), toUInt32(chunk_end), done FROM edge_settle_log
           ORDER BY chunk_start DESC, done DESC LIMIT 1"""
    ).result_rows
    if not rows:
        return None, True
    start, end, done = rows[0]
    return Chunk(from_epoch(start), from_epoch(end)), bool(done)


def _oldest_minute(client: Client) -> datetime | None:
    count, oldest = client.query(
        "SELECT count(), toUInt32(toStartOfMinute(min(timestamp))) FROM requests"
    ).result_rows[0]
    return from_epoch(oldest) if count else None


def settle_forever(client: Client, stop: threading.Event, interval: timedelta = INTERVAL) -> None:
    """Call :func:`settle` every ``interval`` (and once at once) until ``stop`` is set.

    A failed call is logged and made again at the next interval; this never raises.
    """
    while True:
        try:
            now = datetime.now(UTC)
            settle(client, now)
            BEHIND.set((now - settled_until(client)).total_seconds())
        except Exception:  # noqa: BLE001 - the next interval retries from the log
            log.exception("settling callee-only calls failed; retrying in %s", interval)
        if stop.wait(interval.total_seconds()):
            return


def start_settler(client: Client, stop: threading.Event) -> threading.Thread:
    """:func:`settle_forever` in a daemon thread of its own (give it its own client)."""
    thread = threading.Thread(target=settle_forever, args=(client, stop), name="edgewatch-settle", daemon=True)
    thread.start()
    return thread
