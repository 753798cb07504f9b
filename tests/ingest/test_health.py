"""ingest/health.py: the writer lanes' state as readiness and gauges."""

from __future__ import annotations

from edgewatch.metrics import REGISTRY
from ingest.health import IngestHealth


def gauge(name: str) -> float:
    line = next(line for line in REGISTRY.render().splitlines() if line.startswith(name + " "))
    return float(line.split()[-1])


def test_a_lane_whose_last_insert_failed_makes_the_ingester_not_ready_until_one_succeeds() -> None:
    now = [100.0]
    health = IngestHealth(clock=lambda: now[0])
    assert health.problem() is None and gauge("edgewatch_ingest_ready") == 1
    health.insert_started()
    health.insert_started()
    assert gauge("edgewatch_ingest_inserts_in_flight") == 2
    health.insert_failed("lane-0", "Code: 241. Memory limit exceeded\nmore lines")
    now[0] += 7
    health.insert_started()
    health.insert_failed("lane-0", "connection refused")
    health.insert_succeeded("lane-1")  # another lane works: still not ready
    problem = health.problem()
    assert problem is not None and problem.startswith("ClickHouse refuses the ingester's inserts for 7 s (2 failed")
    assert problem.endswith(": connection refused")
    assert gauge("edgewatch_ingest_ready") == 0 and gauge("edgewatch_ingest_store_failing_seconds") == 7
    assert gauge("edgewatch_ingest_inserts_in_flight") == 0
    health.insert_started()
    health.insert_succeeded("lane-0")
    assert health.problem() is None
    assert gauge("edgewatch_ingest_ready") == 1 and gauge("edgewatch_ingest_store_failing_seconds") == 0
