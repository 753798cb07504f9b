"""Settling callee-only calls into the rollup: once, after the lag, surviving a crash.

Records go through the engine's own decoder (rows of ``ingest_lines``, what the ingester
inserts) without Kafka: these tests are about time, not transport.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from edgewatch.settle import LAG, settle, settled_until
from tests.api.records import both_reports, call, ingest_lines

pytestmark = pytest.mark.clickhouse


@pytest.fixture
def minute() -> datetime:
    """A closed minute half an hour ago."""
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)


def store(client: Client, records: list[dict[str, Any]]) -> None:
    client.raw_insert("ingest_lines", None, ingest_lines(records), fmt="TSVRaw")


def rollup(client: Client) -> dict[tuple[str, str], int]:
    totals = {}
    # edge_10min has a row starting at every minute: each minute-of-ten tiles the time once
    for table, where in [("edge_minute", "1"), ("edge_hour", "1"),
                         *((f"edge_10min{phase}", f"toMinute(start) % 10 = {phase}") for phase in range(10))]:
        rows = client.query(f"""SELECT source_workload, destination_service, sum(requests)
                                FROM {table.rstrip("0123456789")} WHERE {where} GROUP BY 1, 2""")
        totals[table] = {(str(src), str(dst)): int(n) for src, dst, n in rows.result_rows}
    assert all(total == totals["edge_minute"] for total in totals.values()), totals  # the coarser rollups follow
    return totals["edge_minute"]


def outside(at: datetime, destination: str = "frontend") -> dict[str, Any]:
    return call(at, "unknown", destination, reporter="destination", source_namespace="",
                destination_workload=destination)


def test_callee_only_calls_are_settled_once_after_the_lag(ch: Client, minute: datetime) -> None:
    store(ch, both_reports(call(minute + timedelta(seconds=10), "frontend", "cart"), "cart-v1"))
    store(ch, [outside(minute + timedelta(seconds=20))])
    assert rollup(ch) == {("frontend", "cart"): 1}
    closed = minute + timedelta(minutes=1)
    assert settle(ch, closed + LAG - timedelta(seconds=1)) == []  # not old enough yet
    chunks = settle(ch, closed + LAG)
    assert [(c.start, c.end) for c in chunks] == [(minute, closed)]
    assert rollup(ch) == {("frontend", "cart"): 1, ("unknown", "frontend"): 1}
    assert settle(ch, closed + LAG) == []
    store(ch, [outside(closed + timedelta(seconds=5))])  # the next minute
    later = settle(ch, closed + timedelta(minutes=1) + LAG)
    assert [(c.start, c.end) for c in later] == [(closed, closed + timedelta(minutes=1))]
    assert rollup(ch) == {("frontend", "cart"): 1, ("unknown", "frontend"): 2}


def test_a_caller_report_that_arrives_after_the_callee_report_still_counts_once(ch: Client, minute: datetime) -> None:
    caller, callee = both_reports(call(minute + timedelta(seconds=59.97), "frontend", "cart"), "cart-v1")
    callee["timestamp"] = (minute + timedelta(minutes=1, seconds=0.02)).isoformat()  # next minute: clock skew
    store(ch, [callee])
    store(ch, [caller])
    settle(ch, minute + timedelta(minutes=3) + LAG)
    assert rollup(ch) == {("frontend", "cart"): 1}


def test_a_chunk_left_started_by_a_crash_is_redone_without_counting_twice(ch: Client, minute: datetime) -> None:
    store(ch, [outside(minute + timedelta(seconds=s)) for s in (1, 2, 3)])
    [chunk] = settle(ch, minute + timedelta(minutes=1) + LAG)
    assert rollup(ch) == {("unknown", "frontend"): 3}
    # as if the process died after the insert, before logging the chunk done
    ch.command("TRUNCATE TABLE edge_settle_log")
    ch.insert("edge_settle_log", [[chunk.start, chunk.end, 0]], column_names=["chunk_start", "chunk_end", "done"])
    assert settle(ch, minute + timedelta(minutes=1) + LAG) == [chunk]
    assert rollup(ch) == {("unknown", "frontend"): 3}
    assert ch.command("SELECT count() FROM edge_settle_log WHERE done = 1") == 1


def test_a_long_backlog_is_worked_off_in_chunks_of_an_hour(ch: Client, minute: datetime) -> None:
    start = minute - timedelta(hours=3)
    store(ch, [outside(start + timedelta(minutes=m)) for m in range(0, 180, 7)])
    first = settle(ch, minute + LAG, max_chunks=2)
    assert [c.end - c.start for c in first] == [timedelta(hours=1)] * 2
    rest = settle(ch, minute + LAG)
    assert rest[-1].end == minute
    assert rollup(ch) == {("unknown", "frontend"): len(range(0, 180, 7))}


def test_nothing_to_settle_on_an_empty_database(ch: Client, minute: datetime) -> None:
    assert settle(ch, minute) == []
    assert ch.command("SELECT count() FROM edge_settle_log") == 0


def test_a_mesh_without_callee_reports_is_settled_up_to_the_lag(ch: Client, minute: datetime) -> None:
    # Else the settled point stays at the epoch and every window reads all its raw records as the tail.
    store(ch, [call(minute + timedelta(seconds=s), "frontend", "cart") for s in (1, 2, 3)])
    chunks = settle(ch, minute + timedelta(minutes=1) + LAG)
    assert [(c.start, c.end) for c in chunks] == [(minute, minute + timedelta(minutes=1))]
    assert settled_until(ch) == minute + timedelta(minutes=1)
    assert rollup(ch) == {("frontend", "cart"): 3}
