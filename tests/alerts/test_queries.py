"""Rule queries against the real ClickHouse engine, on records at explicit times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from alerts.model import Edge
from alerts.queries import edge_details, observe
from alerts.rules import parse_rule
from edgewatch.services import SERVING_LOOKBACK, service_map
from tests.alerts.records import GATEWAY, STAFF_EXTERNAL, TRACKER, WEBAPP, recent_minute, record, store, traffic

pytestmark = pytest.mark.clickhouse

NOW = recent_minute() + timedelta(seconds=30)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def rule(**fields: Any) -> Any:
    return parse_rule({"name": "r", "min_requests": 10, **fields})


def observed(client: Client, **fields: Any) -> dict[Edge, tuple[float, float, int]]:
    found = observe(client, rule(**fields), NOW)
    return {o.edge: (round(o.value, 4), round(o.threshold, 4), o.requests) for o in found}


def test_error_rate_per_edge_with_window_min_requests_and_selector(ch: Client) -> None:
    store(ch, traffic(WEBAPP, ago(60), ago(0), every=1.0))  # 60 calls, healthy
    store(ch, traffic(WEBAPP, ago(30), ago(0), every=5.0, code=503))  # 6 failing
    store(ch, traffic(TRACKER, ago(600), ago(300), every=1.0, code=500))  # failed, but long ago
    store(ch, traffic(GATEWAY, ago(60), ago(0), every=10.0, code=0))  # 6 calls: below min_requests
    assert observed(ch, error_rate={"above": 0.05, "window": "1m"}) == {WEBAPP: (0.0909, 0.05, 66)}
    assert observed(ch, error_rate={"above": 0.05, "window": "10m"}).keys() == {WEBAPP, TRACKER}
    assert observed(ch, error_rate={"above": 0.1, "window": "1m"}) == {}
    assert observed(ch, selector={"source": "api-*"}, min_requests=1, error_rate={"above": 0.05}) == {
        GATEWAY: (1.0, 0.05, 6)
    }
    assert observed(ch, selector={"destination_kind": "external"}, error_rate={"above": 0.05}) == {}


def test_namespace_selector_matches_either_end_of_an_edge(ch: Client) -> None:
    web_to_staff = Edge("webapp", "web", "staff-service", "staff", "service")
    fleet_to_data = Edge("tracker", "fleet", "positions", "data", "service")
    store(ch, traffic(web_to_staff, ago(30), ago(0), every=1.0, code=503))
    store(ch, traffic(fleet_to_data, ago(30), ago(0), every=1.0, code=503))

    def matched(namespace: str) -> set[Edge]:
        return set(observed(ch, selector={"namespace": namespace}, error_rate={"above": 0.05}))

    assert matched("staff") == {web_to_staff}  # the destination's namespace
    assert matched("web") == {web_to_staff}  # the source's namespace
    assert matched("*a*") == {web_to_staff, fleet_to_data}
    assert matched("other") == set()


def test_window_covers_the_minute_buckets_overlapping_it(ch: Client) -> None:
    store(ch, traffic(WEBAPP, ago(90), ago(75), every=1.0, code=503))  # minute 11:59
    store(ch, traffic(WEBAPP, ago(150), ago(140), every=1.0, code=503))  # minute 11:58
    assert observed(ch, error_rate={"above": 0.5, "window": "1m"}) == {WEBAPP: (1.0, 0.5, 15)}


def test_timeout_rate_counts_ut_flag_and_504(ch: Client) -> None:
    store(ch, traffic(STAFF_EXTERNAL, ago(60), ago(0), every=2.0))
    store(ch, traffic(STAFF_EXTERNAL, ago(20), ago(0), every=4.0, code=504, flags="UT", duration_ms=1000.0))
    store(ch, traffic(STAFF_EXTERNAL, ago(20), ago(0), every=4.0, code=504))
    store(ch, [record(ago(1), STAFF_EXTERNAL, code=503, flags="UF")])
    assert observed(ch, timeout_rate={"above": 0.1}) == {STAFF_EXTERNAL: (0.2439, 0.1, 41)}


def test_latency_percentile(ch: Client) -> None:
    store(ch, traffic(WEBAPP, ago(100), ago(0), every=1.0, duration_ms=20.0))
    store(ch, traffic(WEBAPP, ago(100), ago(0), every=20.0, duration_ms=3000.0))  # 5 of 105: p99 slow
    assert WEBAPP in observed(ch, latency={"percentile": "p99", "above_ms": 1000, "window": "5m"})
    assert observed(ch, latency={"percentile": "p50", "above_ms": 1000, "window": "5m"}) == {}


def test_timeout_headroom_infers_the_timeout_from_earlier_timeouts(ch: Client) -> None:
    store(ch, traffic(STAFF_EXTERNAL, ago(3 * 3600), ago(3 * 3600 - 10), code=504, flags="UT", duration_ms=1000.0))
    store(ch, traffic(STAFF_EXTERNAL, ago(120), ago(0), every=1.0, duration_ms=900.0))  # 90% of the timeout
    store(ch, traffic(WEBAPP, ago(120), ago(0), every=1.0, duration_ms=900.0))  # no timeout known
    found = observed(ch, timeout_headroom={"fraction": 0.8, "window": "5m"})
    assert found.keys() == {STAFF_EXTERNAL}
    value, threshold, requests = found[STAFF_EXTERNAL]
    assert threshold == 800.0 and requests == 120 and value == pytest.approx(900.0, rel=0.01)
    assert observed(ch, timeout_headroom={"fraction": 0.8, "timeout_lookback": "1h"}) == {}
    explicit = observed(ch, timeout_headroom={"timeout_ms": 1000})
    assert explicit.keys() == {STAFF_EXTERNAL, WEBAPP}


def test_slo_burn_rate_needs_both_windows(ch: Client) -> None:
    windows = [{"long": "1h", "short": "5m", "burn_rate": 14.4}]
    # 2% errors over the last 5 minutes only: the short window burns 20x, the hour does not.
    store(ch, traffic(WEBAPP, ago(3600), ago(0), every=2.0))
    store(ch, traffic(WEBAPP, ago(300), ago(0), every=100.0, code=503))
    assert observed(ch, slo_burn_rate={"objective": 0.999, "windows": windows}) == {}
    # The same rate for the whole hour: both burn.
    store(ch, traffic(WEBAPP, ago(3600), ago(300), every=100.0, code=503))
    found = observed(ch, slo_burn_rate={"objective": 0.999, "windows": windows})
    value, threshold, _ = found[WEBAPP]
    assert threshold == 14.4 and value == pytest.approx(20.0, rel=0.15)


def test_service_map_from_inbound_reports_and_destination_workload(ch: Client) -> None:
    store(ch, [record(ago(5), Edge("unknown", "", "fleetman-staff-service", "default"), reporter="destination",
                      destination_workload="staff-service")])  # fmt: skip
    store(ch, [record(ago(5), TRACKER, destination_workload="position-tracker-v2")])
    services = service_map(ch, NOW - SERVING_LOOKBACK)
    assert {(s.namespace, s.service, s.workload) for s in services.serving} == {
        ("default", "fleetman-staff-service", "staff-service"),
        ("default", "position-tracker", "position-tracker-v2"),
    }
    assert services.workloads("fleetman-staff-service", "default") == {"staff-service"}
    assert services.workloads("vehicle-telemetry", "default") == {"vehicle-telemetry"}  # none seen: its name


def test_edge_details_counts_codes_flags_and_samples(ch: Client) -> None:
    store(ch, traffic(STAFF_EXTERNAL, ago(50), ago(0), every=5.0))
    failing = traffic(STAFF_EXTERNAL, ago(30), ago(0), every=10.0, code=504, flags="UT", duration_ms=1000.0)
    store(ch, failing)
    details = edge_details(ch, STAFF_EXTERNAL, NOW, 60, slow=False)
    assert (details.requests, details.errors, details.timeouts) == (13, 3, 3)
    assert details.status_codes == [(200, 10), (504, 3)]
    assert details.response_flags == [("UT", 3)]
    assert details.sample_request_ids == [r["request_id"] for r in reversed(failing)]
    slow = edge_details(ch, STAFF_EXTERNAL, NOW, 60, slow=True, samples=1)
    assert slow.sample_request_ids == [failing[0]["request_id"]]


def test_burn_windows_count_every_minute_once_across_hourly_and_minute_rollups(ch: Client) -> None:
    calls = [
        record(NOW.replace(second=10) - timedelta(minutes=m), WEBAPP, code=503 if m % 4 == 0 else 200)
        for m in range(200)
    ]
    store(ch, calls)

    def in_window(seconds: int) -> list[dict[str, Any]]:
        start = (NOW - timedelta(seconds=seconds)).replace(second=0)
        return [c for c in calls if datetime.fromisoformat(c["timestamp"]) >= start]

    long, short = in_window(7200), in_window(3600)
    rate = min(sum(c["response_code"] == 503 for c in w) / len(w) for w in (long, short))
    windows = [{"long": "2h", "short": "1h", "burn_rate": 2}]
    found = observed(ch, min_requests=1, slo_burn_rate={"objective": 0.9, "windows": windows})
    assert found == {WEBAPP: (round(rate / 0.1, 4), 2.0, len(short))}
