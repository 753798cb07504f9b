"""Edge numbers through the API, from records that went through Kafka and the real ingester."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from edgewatch.edges import edge_stats
from edgewatch.settle import LAG, settle
from edgewatch.windows import TimeRange
from tests.api.mesh import Mesh

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

def edges_by_pair(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["source"], e["destination"]): e for e in body["edges"]}


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_rollup_counts_each_call_once(mesh: Mesh) -> None:
    body = mesh.api.get("/api/v1/edges", params={"window": "5m"}).json()
    edges = edges_by_pair(body)
    reviews = edges[("productpage", "reviews")]
    assert reviews["requests"] == 210  # 200 + 10, each reported by both proxies
    assert (reviews["errors"], reviews["timeouts"], reviews["client_errors"]) == (20, 5, 0)
    assert reviews["status_codes"] == {"200": 190, "503": 15, "504": 5}
    assert reviews["response_flags"] == {"-": 205, "UT": 5}
    assert reviews["error_rate"] == pytest.approx(20 / 210, abs=1e-6)
    assert reviews["health"] == "degraded"  # 9.5% server errors: above 0.1%, under 10%
    elapsed = (mesh.now - mesh.now.replace(second=0) + timedelta(minutes=4)).total_seconds()
    assert reviews["rps"] == pytest.approx(210 / elapsed, rel=1e-4)
    durations = [i + 1.0 for i in range(200)] + [50.0] * 10
    for key, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):  # the histogram's 2% (docs/edges.md)
        assert reviews[key] == pytest.approx(exact_quantile(durations, q), rel=0.02)
    assert edges[("reviews-v1", "details")]["health"] == "degraded"  # 15% client errors
    stripe = edges[("productpage", "api.stripe.com")]
    assert (stripe["destination_kind"], stripe["requests"], stripe["errors"]) == ("external", 20, 2)
    assert stripe["response_flags"] == {"-": 18, "UF": 2}
    assert stripe["health"] == "failing"  # 10% without response
    assert body["edges"][0]["health"] == "failing"  # worst first
    assert edges[("unknown", "productpage")]["requests"] == 55  # callee-only calls count at once, unsettled


def test_settled_callee_only_calls_join_the_rollup_once(mesh: Mesh) -> None:
    settle(mesh.client, mesh.now + LAG + timedelta(minutes=1))
    settle(mesh.client, mesh.now + LAG + timedelta(minutes=1))  # nothing left: no double count
    edges = edges_by_pair(mesh.api.get("/api/v1/edges", params={"window": "5m"}).json())
    assert edges[("unknown", "productpage")]["requests"] == 55
    assert edges[("productpage", "reviews")]["requests"] == 210
    day = edges_by_pair(mesh.api.get("/api/v1/edges", params={"window": "24h"}).json())  # whole hours: edge_hour
    assert day[("unknown", "productpage")]["requests"] == 55
    assert day[("productpage", "reviews")]["requests"] == 210


def test_short_windows_read_raw_records_and_count_each_call_once(mesh: Mesh) -> None:
    body = mesh.api.get("/api/v1/edges", params={"window": "30s"}).json()
    assert body["end"] == mesh.now.isoformat().replace("+00:00", "Z")
    edges = edges_by_pair(body)
    assert edges[("productpage", "reviews")]["requests"] == 10
    assert edges[("unknown", "productpage")]["requests"] == 5  # no caller's report: counted
    assert set(edges) == {("productpage", "reviews"), ("unknown", "productpage")}


def test_filters(mesh: Mesh) -> None:
    external = mesh.api.get("/api/v1/edges", params={"window": "5m", "kind": "external"}).json()
    assert [(e["source"], e["destination"]) for e in external["edges"]] == [("productpage", "api.stripe.com")]
    mine = mesh.api.get("/api/v1/edges", params={"window": "5m", "source": "reviews-v1"}).json()
    assert {e["destination"] for e in mine["edges"]} == {"ratings", "details"}
    before = (mesh.now - timedelta(minutes=6)).isoformat()
    assert mesh.api.get("/api/v1/edges", params={"window": "1m", "end": before}).json()["edges"] == []


def test_graph_has_workloads_services_external_hosts_and_unknown_callers(mesh: Mesh) -> None:
    body = mesh.api.get("/api/v1/graph", params={"window": "5m"}).json()
    nodes = {n["id"]: n for n in body["nodes"]}
    assert nodes["external:api.stripe.com"]["kind"] == "external"
    assert nodes["external:api.stripe.com"]["health"] == "failing"
    assert nodes["workload:default/productpage"]["kind"] == "workload"
    assert nodes["service:default/reviews"]["kind"] == "service"
    assert nodes["service:default/reviews"]["requests_in"] == 210
    assert nodes["workload:default/reviews-v1"]["kind"] == "workload"
    links = {(s["from"], s["to"]) for s in body["serves"]}
    assert ("service:default/reviews", "workload:default/reviews-v1") in links
    pairs = {(e["from"], e["to"]): e for e in body["edges"]}
    assert pairs[("workload:default/reviews-v1", "service:default/ratings")]["requests"] == 100
    settle(mesh.client, mesh.now + LAG + timedelta(minutes=1))
    settled = mesh.api.get("/api/v1/graph", params={"window": "5m"}).json()
    unknown = {n["id"]: n for n in settled["nodes"]}["unknown:unknown"]
    assert (unknown["kind"], unknown["requests_out"]) == ("unknown", 55)


def test_timeseries_per_step(mesh: Mesh) -> None:
    params = {"source": "productpage", "destination": "reviews", "window": "6m", "step": "1m"}
    body = mesh.api.get("/api/v1/edges/timeseries", params=params).json()
    points = body["points"]
    assert body["step_seconds"] == 60 and len(points) == 6
    assert [p["t"] for p in points] == sorted(p["t"] for p in points)
    assert sum(p["requests"] for p in points) == 210
    assert sum(p["errors"] for p in points) == 20 and sum(p["timeouts"] for p in points) == 5
    assert points[0]["requests"] == 0 and points[0]["p99_ms"] is None  # the minute before any traffic
    fine = mesh.api.get("/api/v1/edges/timeseries", params={**params, "window": "30s", "step": "10s"}).json()
    assert sum(p["requests"] for p in fine["points"]) == 10 and len(fine["points"]) == 3
    # steps of 10 minutes read the 10-minute rows that start on multiples of 10 minutes, once each
    tens = mesh.api.get("/api/v1/edges/timeseries", params={**params, "window": "1h", "step": "10m"}).json()
    assert len(tens["points"]) == 6 and sum(p["requests"] for p in tens["points"]) == 210
    assert sum(p["errors"] for p in tens["points"]) == 20


def test_service_dependencies_and_dependents(mesh: Mesh) -> None:
    deps = mesh.api.get("/api/v1/services/reviews/dependencies", params={"window": "5m"}).json()
    assert deps["workloads"] == ["reviews-v1"]
    assert {e["destination"] for e in deps["edges"]} == {"ratings", "details"}
    callers = mesh.api.get("/api/v1/services/reviews/dependents", params={"window": "5m"}).json()
    assert [(e["source"], e["requests"]) for e in callers["edges"]] == [("productpage", 210)]


def test_drill_down_lists_each_call_once_newest_first(mesh: Mesh) -> None:
    params = {"source": "productpage", "destination": "reviews", "window": "10m", "limit": 1000}
    calls = mesh.api.get("/api/v1/requests", params=params).json()["requests"]
    assert len(calls) == 210 and {c["reporter"] for c in calls} == {"source"}
    times = [datetime.fromisoformat(c["time"]) for c in calls]
    assert times == sorted(times, reverse=True)
    failed = mesh.api.get("/api/v1/requests", params={**params, "status": "5xx"}).json()["requests"]
    assert sorted(c["response_code"] for c in failed) == [503] * 15 + [504] * 5
    timeouts = mesh.api.get("/api/v1/requests", params={**params, "status": "timeout"}).json()["requests"]
    assert {(c["response_code"], c["response_flags"]) for c in timeouts} == {(504, "UT")} and len(timeouts) == 5
    assert all(c["request_id"] and c["trace_id"] for c in timeouts)
    outside = mesh.api.get("/api/v1/requests", params={"destination": "productpage", "limit": 1000}).json()
    assert len(outside["requests"]) == 55 and {c["reporter"] for c in outside["requests"]} == {"destination"}
    no_response = mesh.api.get("/api/v1/requests", params={"status": "0"}).json()["requests"]
    assert [(c["destination"], c["response_flags"]) for c in no_response] == [("api.stripe.com", "UF")] * 2


def test_grafana_query_serves_time_series_and_the_edge_table(mesh: Mesh) -> None:
    body = {
        "range": {"from": (mesh.now - timedelta(minutes=6)).isoformat(), "to": mesh.now.isoformat()},
        "intervalMs": 15_000,
        "maxDataPoints": 500,
        "targets": [{"target": "requests:productpage->reviews", "refId": "A"},
                    {"target": "edges", "refId": "B", "type": "table"}],
    }
    series, table = mesh.api.post("/grafana/query", json=body).json()
    assert series["refId"] == "A" and sum(value for value, _ in series["datapoints"]) == 210
    assert all(ms % 60_000 == 0 for _, ms in series["datapoints"])  # whole minutes of the rollup
    columns = [c["text"] for c in table["columns"]]
    rows = {(row[0], row[2]): dict(zip(columns, row, strict=True)) for row in table["rows"]}
    assert rows[("productpage", "api.stripe.com")]["requests"] == 20


@pytest.mark.parametrize("settled", [False, True], ids=["unsettled tail", "settled"])
def test_the_rollup_agrees_with_a_scan_of_raw_records_at_any_moment(mesh: Mesh, settled: bool) -> None:
    if settled:
        settle(mesh.client, mesh.now + LAG + timedelta(minutes=1))
    for seconds in (300, 600, 3600, 5400, 86400):  # minutes, 10-minute rows of any start, hours
        span = TimeRange.ending(mesh.now, seconds)
        rollup = {(e.source, e.destination): e for e in edge_stats(mesh.client, span, mesh.now)}
        raw = {(e.source, e.destination): e for e in edge_stats(mesh.client, span, mesh.now, raw=True)}
        assert rollup.keys() == raw.keys()
        for pair, edge in rollup.items():  # latency histograms merge exactly: percentiles too are the same
            assert edge == raw[pair], (seconds, pair)
