"""Reports as Edgewatch records and as Istio/Envoy access-log lines, field by field."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from simulator.formats import encoder
from simulator.generate import generate
from simulator.scenarios import load_scenario
from simulator.traces import Report

START = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
SCENARIO = load_scenario("driver-monitoring-outage")
REPORTS = list(generate(SCENARIO, START, START + timedelta(seconds=60), 300, seed=5))
ENVOY = encoder("envoy", SCENARIO.base)
NATIVE = encoder("native", SCENARIO.base)


def first(match) -> Report:
    return next(r for r in REPORTS if match(r))


def test_native_records_carry_every_field_of_the_report():
    report = first(lambda r: r.reporter == "source" and r.destination_kind == "service")
    record = orjson.loads(NATIVE(report))
    assert record["timestamp"] == report.timestamp_ms
    assert record["request_protocol"] == "http"
    for field in set(Report._fields) - {"timestamp_ms", "destination_host", "destination_port"}:
        assert record[field] == getattr(report, field), field


def test_outbound_lines_name_the_callee_by_cluster_and_come_from_the_callers_pod():
    report = first(lambda r: r.reporter == "source" and r.destination_service == "staff-service")
    line = orjson.loads(ENVOY(report))
    assert line["upstream_cluster"] == "outbound|8080||staff-service.default.svc.cluster.local"
    assert line["kubernetes"]["namespace_name"] == "default"
    assert line["kubernetes"]["labels"]["service.istio.io/canonical-name"] == "api-gateway"
    assert line["start_time"] == datetime.fromtimestamp(report.timestamp_ms / 1000, UTC).isoformat()[:23] + "Z"
    assert (line["response_code"], line["response_flags"], line["duration"]) == (
        report.response_code,
        report.response_flags,
        int(report.duration_ms),
    )
    assert line["request_id"] == report.request_id and line["trace_id"] == report.trace_id
    assert "source_workload" not in line


def test_external_hosts_are_outbound_clusters_on_443():
    line = orjson.loads(ENVOY(first(lambda r: r.destination_kind == "external")))
    assert line["upstream_cluster"] == "outbound|443||2oujlno5e4.execute-api.us-east-1.amazonaws.com"
    assert line["authority"] == "2oujlno5e4.execute-api.us-east-1.amazonaws.com"


def test_inbound_lines_come_from_the_callees_pod_and_name_in_mesh_callers():
    inbound = orjson.loads(ENVOY(first(lambda r: r.reporter == "destination" and r.destination_service == "queue")))
    assert inbound["upstream_cluster"] == "inbound|8161||"
    assert inbound["kubernetes"]["labels"]["app"] == "queue"
    assert (inbound["source_workload"], inbound["source_namespace"]) == ("position-tracker", "default")
    from_outside = orjson.loads(ENVOY(first(lambda r: r.source_workload == "unknown")))
    assert from_outside["upstream_cluster"] == "inbound|80||"
    assert "source_workload" not in from_outside and from_outside["x_forwarded_for"]


@pytest.mark.parametrize(
    ("flags", "details", "service_time"),
    [
        ("-", "via_upstream", True),
        ("UT", "upstream_response_timeout", False),
        ("DC", "downstream_remote_disconnect", False),
    ],
)
def test_envoy_says_why_a_call_ended(flags, details, service_time):
    ended = first(lambda r: r.response_flags == flags) if flags != "DC" else REPORTS[0]._replace(response_flags="DC")
    line = orjson.loads(ENVOY(ended))
    assert line["response_code_details"] == details
    assert (line["upstream_service_time"] is not None) == service_time


def test_lines_have_no_tabs_or_newlines():
    for report in REPORTS[:5000]:
        for encode in (ENVOY, NATIVE):
            line = encode(report)
            assert b"\t" not in line and b"\n" not in line


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format"):
        encoder("csv", SCENARIO.base)  # type: ignore[arg-type]
