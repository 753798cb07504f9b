"""Reports as Edgewatch records and as Istio/Envoy access-log lines, field by field: the lines a
real fleetman cluster writes (Services named apart from their workloads, the pod's metadata as
Fluent Bit adds it)."""

import re
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
FLUENTBIT = encoder("fluentbit", SCENARIO.base)
NATIVE = encoder("native", SCENARIO.base)
CANARY = load_scenario("canary-regression")


def first(match) -> Report:
    return next(r for r in REPORTS if match(r))


def test_native_records_carry_every_field_of_the_report():
    report = first(lambda r: r.reporter == "source" and r.destination_kind == "service")
    record = orjson.loads(NATIVE(report))
    assert record["timestamp"] == report.timestamp_ms
    assert record["request_protocol"] == "http"
    for field in set(Report._fields) - {"timestamp_ms", "destination_host", "destination_port"}:
        assert record[field] == getattr(report, field), field


def test_native_records_name_the_service_as_destination_and_workloads_as_source_and_server():
    served = [r for r in REPORTS if r.destination_service == "fleetman-staff-service"]
    assert {(r.source_workload, r.destination_workload) for r in served if r.reporter == "destination"} == {
        ("api-gateway", "staff-service")
    }
    record = orjson.loads(NATIVE(first(lambda r: r.reporter == "source" and r.source_workload == "staff-service")))
    assert (record["destination_service"], record["destination_kind"]) == (
        "2oujlno5e4.execute-api.us-east-1.amazonaws.com",
        "external",
    )


def test_outbound_lines_name_the_callee_by_cluster_and_come_from_the_callers_pod():
    report = first(lambda r: r.reporter == "source" and r.destination_service == "fleetman-staff-service")
    line = orjson.loads(ENVOY(report))
    assert line["upstream_cluster"] == "outbound|8080||fleetman-staff-service.default.svc.cluster.local"
    assert line["authority"] == "fleetman-staff-service:8080"  # the Host header of the caller's HTTP client
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


def test_inbound_lines_come_from_the_callees_pod_and_name_their_caller_only_by_address():
    report = first(lambda r: r.reporter == "destination" and r.destination_service == "fleetman-queue")
    inbound = orjson.loads(ENVOY(report))
    assert inbound["upstream_cluster"] == "inbound|8161||"
    assert inbound["authority"] == "fleetman-queue:8161"  # the Host header the caller sent
    assert inbound["requested_server_name"] == "outbound_.8161_._.fleetman-queue.default.svc.cluster.local"
    assert inbound["kubernetes"]["labels"]["app"] == "queue"
    # Istio's default format does not name the caller; its proxy's connection does.
    assert "source_workload" not in inbound and "source_namespace" not in inbound
    outbound = orjson.loads(ENVOY(first(lambda r: r.request_id == report.request_id and r.reporter == "source")))
    assert outbound["kubernetes"]["labels"]["app"] == "position-tracker"
    assert inbound["downstream_remote_address"] == outbound["upstream_local_address"]
    from_outside = orjson.loads(ENVOY(first(lambda r: r.source_workload == "unknown")))
    assert from_outside["upstream_cluster"] == "inbound|80||"
    assert from_outside["authority"] == "fleetman.example.com"  # a public name, not a Service
    assert "source_workload" not in from_outside and from_outside["x_forwarded_for"]
    assert from_outside["requested_server_name"] is None


def test_the_pod_of_a_line_is_described_as_fluent_bits_kubernetes_filter_does():
    report = first(lambda r: r.reporter == "destination" and r.destination_workload == "staff-service")
    pod = orjson.loads(ENVOY(report))["kubernetes"]
    assert list(pod) == [
        "pod_name", "namespace_name", "pod_id", "labels", "annotations", "host",
        "container_name", "docker_id", "container_hash", "container_image",
    ]  # fmt: skip
    template_hash = pod["labels"]["pod-template-hash"]
    assert re.fullmatch(rf"staff-service-{template_hash}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", pod["pod_name"])
    assert pod["labels"] == {
        "app": "staff-service",  # the workload's app label, which the Service fleetman-staff-service selects
        "pod-template-hash": template_hash,
        "security.istio.io/tlsMode": "istio",
        "service.istio.io/canonical-name": "staff-service",
        "service.istio.io/canonical-revision": "v1",
        "version": "v1",
    }
    assert (pod["namespace_name"], pod["container_name"], pod["host"]) == ("default", "istio-proxy", "minikube")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", pod["pod_id"])
    assert re.fullmatch(r"[0-9a-f]{64}", pod["docker_id"])
    assert pod["container_image"].startswith("docker.io/istio/proxyv2:")
    assert re.fullmatch(r"docker\.io/istio/proxyv2@sha256:[0-9a-f]{64}", pod["container_hash"])


def test_a_second_version_runs_in_pods_of_its_own_with_the_apps_labels():
    reports = list(generate(CANARY, START, START + timedelta(seconds=70), 300, seed=1))  # the canary starts at 60 s
    v2 = next(r for r in reports if r.reporter == "destination" and r.destination_workload == "position-tracker-v2")
    assert v2.destination_service == "fleetman-position-tracker"
    pod = orjson.loads(encoder("envoy", CANARY.base)(v2))["kubernetes"]
    assert pod["pod_name"].startswith("position-tracker-v2-")
    labels = pod["labels"]
    assert (labels["app"], labels["version"]) == ("position-tracker", "v2")
    assert (labels["service.istio.io/canonical-name"], labels["service.istio.io/canonical-revision"]) == (
        "position-tracker",
        "v2",
    )


def test_fluentbit_records_carry_the_line_as_a_log_string_beside_the_pods_metadata():
    report = first(lambda r: r.reporter == "source" and r.response_flags == "UT")
    record = orjson.loads(FLUENTBIT(report))
    assert list(record) == ["@timestamp", "log", "stream", "time", "kubernetes"]
    merged = orjson.loads(ENVOY(report))
    assert record["kubernetes"] == merged.pop("kubernetes")
    assert record["log"].endswith("}\n") and orjson.loads(record["log"]) == merged
    assert record["stream"] == "stdout"
    # Envoy writes the line when the call ends: start + duration (under a millisecond later).
    ended_ms = report.timestamp_ms + int(report.duration_ms)
    written = datetime.fromisoformat(record["time"][:26] + "+00:00")
    assert ended_ms <= written.timestamp() * 1000 < ended_ms + 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", record["time"])
    assert record["@timestamp"] == pytest.approx(written.timestamp(), abs=1e-6)


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
        for encode in (ENVOY, FLUENTBIT, NATIVE):
            line = encode(report)
            assert b"\t" not in line and b"\n" not in line


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format"):
        encoder("csv", SCENARIO.base)  # type: ignore[arg-type]
