"""Issue #13 on data shaped as a real cluster writes it: Istio's access-log lines in Fluent Bit's records
(tests/ingest/istio_lines.py), through the real Kafka broker, ingester and engine.

- Front-door traffic (reported by the callee only) counts at once, not after settling: edges, graph,
  time series, the Grafana endpoint and a rule on ingress errors; a burn rate's windows share one
  read of the unsettled tail, counted in each.
- Services named apart from their workloads (`fleetman-staff-service` served by `app: staff-service`):
  the graph draws one path through the Service, `/services/{name}/dependencies` finds its workload, and
  the link is learned from the pair of reports when the Host header names no Service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from alerts.conditions.window import Scope, nested_edge_sums, rule_window
from alerts.notify.senders import ConsoleSender
from alerts.queries import observe
from alerts.rules import load_rules, parse_rule
from alerts.service import AlertService
from api.app import create_app
from edgewatch import snapshot, windows
from edgewatch.services import SERVING_LOOKBACK, service_map
from edgewatch.settings import Settings
from edgewatch.settle import LAG, settle, settled_until
from edgewatch.windows import STORED_UNTIL
from tests.ingest.istio_lines import (
    API_GATEWAY_POD,
    DRIVER_MONITORING,
    STAFF_SERVICE_POD,
    envoy_time,
    external,
    fluent_bit,
    inbound,
    outbound,
    pod,
)

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

WEBAPP_POD = pod("webapp", "7d4f9b8c6", "k2j4h")
POSITION_TRACKER_POD = pod("position-tracker", "8b6c4d9f7", "t5r3e")


def browser_call(at: datetime, code: int = 200) -> str:
    """A browser's request to webapp, from outside the mesh (no gateway): only webapp's proxy logs it."""
    return fluent_bit(inbound(
        start_time=envoy_time(at), request_id=str(uuid.uuid4()), path="/", authority="fleetman.example.com",
        response_code=code, response_flags="-", x_forwarded_for="203.0.113.7", user_agent="Mozilla/5.0",
        upstream_cluster="inbound|80||", downstream_remote_address="203.0.113.7:61204",
        requested_server_name=None, duration=3,
    ), WEBAPP_POD)


def by_pair(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["source"], e["destination"]): e for e in body["edges"]}


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def ingest_lines(make_settings: Callable[..., Settings], publish: Callable[..., None],
                 ingest: Callable[[Settings], Any], lines: list[str]) -> Settings:
    settings = make_settings()
    publish(settings, ["\n".join(lines[i:i + 200]).encode() for i in range(0, len(lines), 200)])
    ingest(settings)
    return settings


def test_front_door_traffic_counts_at_once(
    ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
    ingest: Callable[[Settings], Any], now: datetime,
) -> None:
    # Four minutes of browser traffic up to now, one request every second, 5% of them 503.
    start = now - timedelta(minutes=4)
    calls = [start + timedelta(seconds=i) for i in range(240)]
    lines = [browser_call(at, 503 if i % 20 == 0 else 200) for i, at in enumerate(calls)]
    settings = ingest_lines(make_settings, publish, ingest, lines)
    assert ch.command("SELECT count() FROM requests WHERE reporter = 'destination'") == 240

    api = TestClient(create_app(settings, ch, clock=lambda: now + timedelta(seconds=1)))
    edges = by_pair(api.get("/api/v1/edges", params={"window": "10m"}).json())
    front = edges[("unknown", "webapp")]  # the Host header is public: the workload stands in for the Service
    assert (front["requests"], front["errors"]) == (240, 12)  # every call, once, before any settling

    graph = api.get("/api/v1/graph", params={"window": "10m"}).json()
    assert [e["requests"] for e in graph["edges"] if e["from"] == "unknown:unknown"] == [240]
    series = api.get("/api/v1/edges/timeseries", params={"window": "10m", "step": "1m", "source": "unknown"}).json()
    assert sum(p["requests"] for p in series["points"]) == 240
    grafana = api.post("/grafana/query", json={
        "range": {"from": (now - timedelta(minutes=10)).isoformat(), "to": (now + timedelta(seconds=1)).isoformat()},
        "intervalMs": 60_000, "targets": [{"target": "requests:unknown->webapp", "refId": "A"}],
    }).json()
    assert sum(value for value, _ in grafana[0]["datapoints"] if value) == 240

    rule = parse_rule({"name": "front-door-errors", "min_requests": 10, "error_rate": {"above": 0.02, "window": "2m"}})
    (found,) = observe(ch, rule, now)  # at once: the rule reads the unsettled tail too
    assert (found.edge.source, found.edge.destination) == ("unknown", "webapp")

    settle(ch, now + LAG + timedelta(minutes=1))  # settled now: the rollups hold them, the tail no more
    settled = by_pair(api.get("/api/v1/edges", params={"window": "10m"}).json())
    assert (settled[("unknown", "webapp")]["requests"], settled[("unknown", "webapp")]["errors"]) == (240, 12)


def test_a_burn_rate_reads_the_unsettled_tail_once_for_its_windows_and_counts_it_in_each(
    ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
    ingest: Callable[[Settings], Any], now: datetime,
) -> None:
    # 40 minutes of browser traffic up to now, a request every 5 s, every 10th a 503; settled up to
    # about 3 minutes ago, so the 1h, 30m and 5m windows share one unsettled tail and the 1m window,
    # which starts after the settled point, has one of its own.
    calls = [now - timedelta(minutes=40) + timedelta(seconds=5 * i) for i in range(480)]
    codes = [503 if i % 10 == 0 else 200 for i in range(len(calls))]
    lines = [browser_call(at, code) for at, code in zip(calls, codes, strict=True)]
    ingest_lines(make_settings, publish, ingest, lines)
    settle(ch, now - timedelta(minutes=3) + LAG)
    settled = settled_until(ch)
    spans = [3600, 1800, 300, 60]
    assert rule_window(now, 300).start < settled <= rule_window(now, 60).start

    sql, params = nested_edge_sums({"n": "requests", "e": "errors"}, spans, Scope(now, settled=settled))
    assert sorted(name for name in params if name.endswith("tail_a_ms")) == ["t0_tail_a_ms", "t1_tail_a_ms"]
    (row,) = ch.query(sql, parameters=params).result_rows
    assert row[0] == "unknown"  # the caller
    sums = row[5:]
    for i, span in enumerate(spans):
        window = rule_window(now, span)
        inside = [code for at, code in zip(calls, codes, strict=True) if window.start <= at < window.end]
        assert (sums[2 * i], sums[2 * i + 1]) == (len(inside), inside.count(503)), span


def call_through_the_staff_service(at: datetime, request_id: str, code: int = 200) -> list[str]:
    """api-gateway -> fleetman-staff-service (both proxies' lines), and staff-service's call out."""
    callee_at = at + timedelta(milliseconds=1)
    return [
        fluent_bit(outbound(start_time=envoy_time(at), request_id=request_id, response_code=code), API_GATEWAY_POD),
        fluent_bit(inbound(start_time=envoy_time(callee_at), request_id=request_id, response_code=code),
                   STAFF_SERVICE_POD),
        fluent_bit(external(start_time=envoy_time(callee_at), request_id=request_id + "-out"), STAFF_SERVICE_POD),
    ]


def test_a_service_named_apart_from_its_workload_is_one_path(
    ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
    ingest: Callable[[Settings], Any], now: datetime,
) -> None:
    lines = [line for i in range(30) for line in
             call_through_the_staff_service(now - timedelta(seconds=90 - i), str(uuid.uuid4()))]
    settings = ingest_lines(make_settings, publish, ingest, lines)
    api = TestClient(create_app(settings, ch, clock=lambda: now))

    graph = api.get("/api/v1/graph", params={"window": "5m"}).json()
    edges = {(e["from"], e["to"]): e["requests"] for e in graph["edges"]}
    serves = {(s["from"], s["to"]) for s in graph["serves"]}
    service, workload = "service:default/fleetman-staff-service", "workload:default/staff-service"
    assert edges[("workload:default/api-gateway", service)] == 30  # counted once: the caller's report
    assert (service, workload) in serves  # learned from the inbound line's Host header
    assert edges[(workload, f"external:{DRIVER_MONITORING}")] == 30
    assert not any(source == "unknown:unknown" for source, _ in edges)  # the callee's reports are no edge of their own

    body = api.get("/api/v1/services/fleetman-staff-service/dependencies", params={"window": "5m"}).json()
    assert body["workloads"] == ["staff-service"]
    assert [(e["source"], e["destination"]) for e in body["edges"]] == [("staff-service", DRIVER_MONITORING)]


def test_the_pair_of_reports_links_a_service_whose_host_header_names_none(
    ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
    ingest: Callable[[Settings], Any], now: datetime,
) -> None:
    """The caller addressed the Service by its cluster IP: the callee's line names no Service."""
    start = now - timedelta(minutes=5)
    lines = []
    for i in range(20):
        at, request_id = start + timedelta(seconds=i), str(uuid.uuid4())
        lines.append(fluent_bit(outbound(
            start_time=envoy_time(at), request_id=request_id, authority="10.96.44.3:8080",
            upstream_cluster="outbound|8080||fleetman-position-tracker.default.svc.cluster.local"), API_GATEWAY_POD))
        lines.append(fluent_bit(inbound(
            start_time=envoy_time(at + timedelta(milliseconds=1)), request_id=request_id,
            authority="10.96.44.3:8080"), POSITION_TRACKER_POD))
    ingest_lines(make_settings, publish, ingest, lines)
    assert service_map(ch, now - SERVING_LOOKBACK).known("fleetman-position-tracker", "default") == frozenset()

    settle(ch, now + LAG + timedelta(minutes=1))
    services = service_map(ch, now - SERVING_LOOKBACK)
    assert services.known("fleetman-position-tracker", "default") == {"position-tracker"}
    assert services.known("10.96.44.3") == frozenset()  # an address names no Service


def test_one_snapshot_of_the_unsettled_tail_answers_every_rule_as_matching_it_per_query_does(
    ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
    ingest: Callable[[Settings], Any], now: datetime,
) -> None:
    # Ten minutes up to now: browser calls to webapp (only webapp's proxy logs them), every 10th
    # a 503, and calls through the staff service, which both proxies log. One such call's caller
    # report lies just before the settled point and its callee's just after: the pair still matches.
    start = now - timedelta(minutes=10)
    browser = [(start + timedelta(seconds=3 * i), 503 if i % 10 == 0 else 200) for i in range(200)]
    lines = [browser_call(at, code) for at, code in browser]
    lines += [line for i in range(60) for line in
              call_through_the_staff_service(start + timedelta(seconds=10 * i), str(uuid.uuid4()))]
    ingest_lines(make_settings, publish, ingest, lines)
    settle(ch, now - timedelta(minutes=3) + LAG)
    settled = settled_until(ch)
    lines = call_through_the_staff_service(settled - timedelta(milliseconds=1), "across-the-settled-point")
    ingest_lines(make_settings, publish, ingest, lines)

    tail = snapshot.take(ch, settled, now, STORED_UNTIL)
    assert tail.start == settled
    rows = ch.query("SELECT source_workload, destination_service, minute, requests, errors, status_codes, latency "
                    "FROM edge_tail WHERE snapshot = {s:UInt64} ORDER BY minute", parameters={"s": tail.id}).result_rows
    assert {(source, destination) for source, destination, *_ in rows} == {("unknown", "webapp")}  # pairs matched
    assert sum(row[3] for row in rows) == sum(1 for at, _ in browser if at >= settled)

    # The planner reads the snapshot instead of matching the raw records, only where it covers the tail.
    window = rule_window(now, 300)
    sql, _ = windows.rows(windows.plan(window, ("requests",), settled=settled, snapshot=tail))
    assert "edge_tail" in sql and "FROM requests" not in sql
    earlier = settled - timedelta(minutes=1)  # a tail starting before the snapshot's start
    sql, _ = windows.rows(windows.plan(window, ("requests",), settled=earlier, snapshot=tail))
    assert "edge_tail" not in sql and "FROM requests" in sql

    # Every shipped rule, and one on the front door, finds the same with the snapshot as without.
    front_door = {"name": "front-door", "min_requests": 5, "error_rate": {"above": 0.05, "window": "2m"}}
    rules = [*load_rules(), parse_rule(front_door)]
    found: dict[str, set[tuple[str, str]]] = {}
    for rule in rules:
        matched_once = observe(ch, rule, now, settled=settled, snapshot=tail)
        assert matched_once == observe(ch, rule, now, settled=settled), rule.name
        found[rule.name] = {(o.edge.source, o.edge.destination) for o in matched_once}
    assert ("unknown", "webapp") in found["front-door"] and ("unknown", "webapp") in found["edge-errors"]
    spans = [3600, 600, 300, 60]
    front = Scope(now, "source_workload = 'unknown'", settled=settled, snapshot=tail)
    sql, params = nested_edge_sums({"n": "requests", "e": "errors"}, spans, front)
    (row,) = ch.query(sql, parameters=params).result_rows
    for i, span in enumerate(spans):
        inside = [code for at, code in browser if rule_window(now, span).start <= at < rule_window(now, span).end]
        assert (row[5 + 2 * i], row[6 + 2 * i]) == (len(inside), inside.count(503)), span

    # Settling those minutes stores what the snapshot held: the same rows, measure by measure.
    settle(ch, now + LAG + timedelta(minutes=1))
    settled_rows = ch.query(
        "SELECT source_workload, destination_service, minute, sum(requests), sum(errors), sumMap(status_codes), "
        "sumMap(latency) FROM edge_minute WHERE minute >= {a:DateTime('UTC')} AND source_workload = 'unknown' "
        "GROUP BY source_workload, destination_service, minute ORDER BY minute", parameters={"a": settled}).result_rows
    assert [tuple(row) for row in settled_rows] == [tuple(row) for row in rows]


def test_an_evaluation_takes_one_snapshot_and_its_rules_see_the_front_door_at_once(
    ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
    ingest: Callable[[Settings], Any], now: datetime,
) -> None:
    lines = [browser_call(now - timedelta(seconds=120 - i), 503) for i in range(120)]  # nothing settled
    settings = ingest_lines(make_settings, publish, ingest, lines)
    rule = parse_rule({"name": "front-door", "min_requests": 5, "error_rate": {"above": 0.05, "window": "2m"}})
    evaluation = AlertService(settings, ch, rules=[rule], sender=ConsoleSender()).evaluate_once(now)
    assert [(a.edge.source, a.edge.destination) for a in evaluation.alerts] == [("unknown", "webapp")]
    assert ch.query("SELECT uniqExact(snapshot), sum(requests) FROM edge_tail").result_rows == [(1, 120)]
