"""One case per cell of docs/records.md's "Field by field" table, on lines shaped as Istio and
Fluent Bit write them (tests/ingest/istio_lines.py), through the real engine: each line is a
message of its own in ``ingest_lines`` of the migrated test database, and lands in ``requests``
(checked for the cell's field) or in ``dead_letters`` (checked by reason). The lines of all
cases go in one insert (a case finds its row by offset): one insert per case took minutes.

Case ids read ``field | format | rule``, in the table's order.
"""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from edgewatch.clickhouse import connect
from ingest.framing import frame_message
from tests.ingest.istio_lines import (
    API_GATEWAY_POD,
    CALL_START,
    CALLEE_START,
    DRIVER_MONITORING,
    DROP,
    INGRESS_GATEWAY_POD,
    REQUEST_ID,
    STAFF_SERVICE_POD,
    START_TIME_ROW,
    bare,
    blackhole,
    envoy_time,
    external,
    fluent_bit,
    inbound,
    inbound_passthrough,
    ingress,
    merged,
    no_route,
    outbound,
    passthrough,
    pod,
    row_time,
)
from tests.ingest.test_decode import decode

pytestmark = pytest.mark.clickhouse


def native(**fields: Any) -> str:
    record = {"timestamp": envoy_time(CALL_START), "destination_service": "fleetman-staff-service",
              "response_code": 200, "duration_ms": 12.5, **fields}
    return json.dumps({key: value for key, value in record.items() if value is not DROP})


CALLER = fluent_bit(outbound(), API_GATEWAY_POD)  # api-gateway -> fleetman-staff-service, as shipped
CALLEE = fluent_bit(inbound(), STAFF_SERVICE_POD)  # the same call, from staff-service's proxy
NO_POD_LABELS = pod("staff-service", "6d7b9c7f4", "x2x9k", labels={})
# The fleetman course's canary: a second Deployment behind the same `app` label.
RISKY_POD = pod("staff-service-risky", "5c8f7d6b9", "q1w2e", version="risky",
                labels={"app": "staff-service", "pod-template-hash": "5c8f7d6b9", "version": "risky",
                        "service.istio.io/canonical-name": "staff-service"})
STATEFUL_POD = {**pod("queue", "x", "y", labels={"app": "queue", "service.istio.io/canonical-name": "queue"}),
                "pod_name": "queue-0"}
APP_LABEL_ONLY = pod("position-tracker", "8b6c4d9f7", "t5r3e", labels={"app": "position-tracker",
                                                                       "pod-template-hash": "8b6c4d9f7"})

STORED: list[tuple[str, str, dict[str, Any]]] = [
    # timestamp
    ("timestamp | native | timestamp, RFC 3339",
     native(timestamp=CALL_START.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="milliseconds")),
     {"ts": START_TIME_ROW}),
    ("timestamp | native | timestamp, epoch milliseconds", native(timestamp=round(CALL_START.timestamp() * 1000)),
     {"ts": START_TIME_ROW}),
    ("timestamp | outbound | start_time", CALLER, {"ts": START_TIME_ROW}),
    ("timestamp | inbound | start_time", CALLEE, {"ts": row_time(CALLEE_START)}),
    # source_workload
    ("source_workload | native | source_workload", native(source_workload="webapp"), {"source_workload": "webapp"}),
    ("source_workload | native | fallback unknown", native(), {"source_workload": "unknown"}),
    ("source_workload | outbound | the pod's canonical name", CALLER, {"source_workload": "api-gateway"}),
    ("source_workload | outbound | the pod's app label without a canonical name",
     fluent_bit(outbound(), APP_LABEL_ONLY), {"source_workload": "position-tracker"}),
    ("source_workload | outbound | the shipper's source_workload before the pod",
     merged(outbound(), API_GATEWAY_POD, source_workload="webapp"), {"source_workload": "webapp"}),
    ("source_workload | outbound | the shipper's beside a log string",
     fluent_bit(outbound(), API_GATEWAY_POD, source_workload="webapp"), {"source_workload": "webapp"}),
    ("source_workload | outbound | fallback unknown without a pod", bare(outbound()), {"source_workload": "unknown"}),
    ("source_workload | outbound | fallback unknown for a pod without labels",
     fluent_bit(outbound(), NO_POD_LABELS), {"source_workload": "unknown"}),
    ("source_workload | outbound | the ingress gateway's pod", fluent_bit(ingress(), INGRESS_GATEWAY_POD),
     {"source_workload": "istio-ingressgateway", "source_namespace": "istio-system"}),
    ("source_workload | inbound | the shipper's source_workload",
     fluent_bit(inbound(), STAFF_SERVICE_POD, source_workload="api-gateway"), {"source_workload": "api-gateway"}),
    ("source_workload | inbound | fallback unknown: the pod is the callee", CALLEE, {"source_workload": "unknown"}),
    # source_namespace
    ("source_namespace | native | source_namespace", native(source_namespace="default"),
     {"source_namespace": "default"}),
    ("source_namespace | outbound | the pod's namespace", CALLER, {"source_namespace": "default"}),
    ("source_namespace | outbound | the shipper's source_namespace before the pod",
     merged(outbound(), API_GATEWAY_POD, source_namespace="web"), {"source_namespace": "web"}),
    ("source_namespace | inbound | the shipper's source_namespace",
     fluent_bit(inbound(), STAFF_SERVICE_POD, source_namespace="default"), {"source_namespace": "default"}),
    ("source_namespace | inbound | fallback empty", CALLEE, {"source_namespace": ""}),
    # destination_service
    ("destination_service | native | destination_service", native(), {"destination_service": "fleetman-staff-service"}),
    ("destination_service | outbound | the host's Service NAME", CALLER,
     {"destination_service": "fleetman-staff-service"}),
    ("destination_service | outbound | the cluster's host, not authority", fluent_bit(ingress(), INGRESS_GATEWAY_POD),
     {"destination_service": "fleetman-webapp"}),
    ("destination_service | outbound | the host when it names no Service", fluent_bit(external(), STAFF_SERVICE_POD),
     {"destination_service": DRIVER_MONITORING}),
    ("destination_service | outbound | a bare host is a Service NAME",
     fluent_bit(outbound(upstream_cluster="outbound|8080||fleetman-staff-service"), API_GATEWAY_POD),
     {"destination_service": "fleetman-staff-service"}),
    ("destination_service | outbound | no mesh destination: PassthroughCluster's authority",
     fluent_bit(passthrough(), API_GATEWAY_POD), {"destination_service": "api.example.org"}),
    ("destination_service | outbound | no mesh destination: BlackHoleCluster's authority",
     fluent_bit(blackhole(), API_GATEWAY_POD), {"destination_service": "api.example.org"}),
    ("destination_service | outbound | no mesh destination: no route, authority as it is",
     fluent_bit(no_route(), API_GATEWAY_POD),
     {"destination_service": "fleetman-nothing.default.svc.cluster.local"}),
    ("destination_service | outbound | no mesh destination without authority: the cluster",
     fluent_bit(blackhole(authority=None), API_GATEWAY_POD), {"destination_service": "BlackHoleCluster"}),
    ("destination_service | outbound | no mesh destination, nothing said: unknown",
     fluent_bit(no_route(authority=None), API_GATEWAY_POD), {"destination_service": "unknown"}),
    # An inbound line's Service: the one its Host header names, when that is a Service of the mesh.
    ("destination_service | inbound | the Service the authority names", CALLEE,
     {"destination_service": "fleetman-staff-service"}),
    ("destination_service | inbound | a public authority names none: the pod's workload",
     fluent_bit(inbound(authority="shop.example.com"), STAFF_SERVICE_POD), {"destination_service": "staff-service"}),
    ("destination_service | inbound | InboundPassthroughCluster: the pod's workload",
     fluent_bit(inbound_passthrough(), STAFF_SERVICE_POD), {"destination_service": "staff-service"}),
    ("destination_service | inbound | the shipper's destination_workload without a pod or a Service",
     merged(inbound(authority="shop.example.com"), NO_POD_LABELS, destination_workload="staff-service-v2"),
     {"destination_service": "staff-service-v2"}),
    ("destination_service | inbound | the authority's Service NAME without either",
     bare(inbound(authority="fleetman-staff-service.default.svc.cluster.local:8080")),
     {"destination_service": "fleetman-staff-service"}),
    ("destination_service | inbound | a bare authority without either", bare(inbound()),
     {"destination_service": "fleetman-staff-service"}),
    ("destination_service | inbound | a public authority without either: unknown",
     bare(inbound(authority="shop.example.com")), {"destination_service": "unknown"}),
    ("destination_service | inbound | fallback unknown", bare(inbound(authority=None)),
     {"destination_service": "unknown"}),
    # destination_namespace
    ("destination_namespace | native | destination_namespace", native(destination_namespace="default"),
     {"destination_namespace": "default"}),
    ("destination_namespace | native | fallback empty", native(), {"destination_namespace": ""}),
    ("destination_namespace | outbound | the host's Service NAMESPACE", CALLER, {"destination_namespace": "default"}),
    ("destination_namespace | outbound | empty for an external host", fluent_bit(external(), STAFF_SERVICE_POD),
     {"destination_namespace": ""}),
    ("destination_namespace | outbound | empty for a bare host",
     fluent_bit(outbound(upstream_cluster="outbound|8080||fleetman-staff-service"), API_GATEWAY_POD),
     {"destination_namespace": ""}),
    ("destination_namespace | inbound | the pod's namespace",
     fluent_bit(inbound(), pod("staff-service", "6d7b9c7f4", "x2x9k", namespace="fleet")),
     {"destination_namespace": "fleet"}),
    ("destination_namespace | inbound | the authority's Service NAMESPACE without a pod",
     bare(inbound(authority="fleetman-staff-service.fleet.svc.cluster.local:8080")),
     {"destination_namespace": "fleet"}),
    ("destination_namespace | inbound | fallback empty", bare(inbound()), {"destination_namespace": ""}),
    # destination_workload
    ("destination_workload | native | destination_workload", native(destination_workload="staff-service-v2"),
     {"destination_workload": "staff-service-v2"}),
    ("destination_workload | outbound | not provided", CALLER, {"destination_workload": ""}),
    ("destination_workload | inbound | the pod's workload", CALLEE, {"destination_workload": "staff-service"}),
    ("destination_workload | inbound | the pod's Deployment: its name up to -<pod-template-hash>-",
     fluent_bit(inbound(), RISKY_POD), {"destination_workload": "staff-service-risky", "destination_service":
                                         "fleetman-staff-service"}),
    ("destination_workload | inbound | no pod-template-hash (a StatefulSet's pod): the canonical name",
     fluent_bit(inbound(), STATEFUL_POD), {"destination_workload": "queue"}),
    ("destination_workload | inbound | the shipper's destination_workload without a pod",
     merged(inbound(), NO_POD_LABELS, destination_workload="staff-service-v2"),
     {"destination_workload": "staff-service-v2"}),
    ("destination_workload | inbound | fallback empty", bare(inbound()), {"destination_workload": ""}),
    # destination_kind
    ("destination_kind | native | destination_kind", native(destination_kind="external"),
     {"destination_kind": "external"}),
    ("destination_kind | native | fallback service", native(), {"destination_kind": "service"}),
    ("destination_kind | outbound | service: the host names a Service", CALLER, {"destination_kind": "service"}),
    ("destination_kind | outbound | service: a bare host",
     fluent_bit(outbound(upstream_cluster="outbound|8080||fleetman-staff-service"), API_GATEWAY_POD),
     {"destination_kind": "service"}),
    ("destination_kind | outbound | external: any other host", fluent_bit(external(), STAFF_SERVICE_POD),
     {"destination_kind": "external"}),
    ("destination_kind | outbound | unknown: PassthroughCluster", fluent_bit(passthrough(), API_GATEWAY_POD),
     {"destination_kind": "unknown"}),
    ("destination_kind | outbound | unknown: BlackHoleCluster", fluent_bit(blackhole(), API_GATEWAY_POD),
     {"destination_kind": "unknown"}),
    ("destination_kind | outbound | unknown: no route", fluent_bit(no_route(), API_GATEWAY_POD),
     {"destination_kind": "unknown"}),
    ("destination_kind | inbound | service", CALLEE, {"destination_kind": "service"}),
    ("destination_kind | inbound | service: InboundPassthroughCluster",
     fluent_bit(inbound_passthrough(), STAFF_SERVICE_POD), {"destination_kind": "service"}),
    # reporter
    ("reporter | native | reporter", native(reporter="destination"), {"reporter": "destination"}),
    ("reporter | native | fallback source", native(), {"reporter": "source"}),
    ("reporter | outbound | source", CALLER, {"reporter": "source"}),
    ("reporter | outbound | source: no mesh destination", fluent_bit(passthrough(), API_GATEWAY_POD),
     {"reporter": "source"}),
    ("reporter | inbound | destination", CALLEE, {"reporter": "destination"}),
    ("reporter | inbound | destination: InboundPassthroughCluster",
     fluent_bit(inbound_passthrough(), STAFF_SERVICE_POD), {"reporter": "destination"}),
    # request_protocol
    ("request_protocol | native | request_protocol", native(request_protocol="grpc"), {"request_protocol": "grpc"}),
    ("request_protocol | native | protocol", native(protocol="HTTP/2"), {"request_protocol": "HTTP/2"}),
    ("request_protocol | native | fallback empty", native(), {"request_protocol": ""}),
    ("request_protocol | outbound | protocol", CALLER, {"request_protocol": "HTTP/1.1"}),
    ("request_protocol | outbound | request_protocol before protocol",
     fluent_bit(outbound(request_protocol="http"), API_GATEWAY_POD), {"request_protocol": "http"}),
    ("request_protocol | inbound | protocol", CALLEE, {"request_protocol": "HTTP/1.1"}),
    # method, path
    ("method | native | method", native(method="POST"), {"method": "POST"}),
    ("method | outbound | method", CALLER, {"method": "GET"}),
    ("method | inbound | method", CALLEE, {"method": "GET"}),
    ("method | outbound | fallback empty", fluent_bit(outbound(method=None), API_GATEWAY_POD), {"method": ""}),
    ("path | native | path", native(path="/vehicles"), {"path": "/vehicles"}),
    ("path | outbound | path", CALLER, {"path": "/vehicles/driver/City%20Truck"}),
    ("path | inbound | path", CALLEE, {"path": "/vehicles/driver/City%20Truck"}),
    ("path | outbound | fallback empty", fluent_bit(outbound(path=None), API_GATEWAY_POD), {"path": ""}),
    # response_code
    ("response_code | native | response_code", native(response_code=503), {"response_code": 503}),
    ("response_code | native | a number as a string", native(response_code="503"), {"response_code": 503}),
    ("response_code | outbound | response_code", fluent_bit(external(), STAFF_SERVICE_POD), {"response_code": 504}),
    ("response_code | inbound | response_code: 0, no response",
     fluent_bit(inbound(response_code=0, response_flags="DC", response_code_details="downstream_remote_disconnect"),
                STAFF_SERVICE_POD), {"response_code": 0}),
    # grpc_status
    ("grpc_status | native | grpc_status", native(grpc_status=14), {"grpc_status": 14}),
    ("grpc_status | native | fallback null", native(), {"grpc_status": None}),
    ("grpc_status | outbound | fallback null: not in Istio's default format", CALLER, {"grpc_status": None}),
    ("grpc_status | outbound | grpc_status of a custom format",
     fluent_bit(outbound(grpc_status="14"), API_GATEWAY_POD), {"grpc_status": 14}),
    ("grpc_status | inbound | grpc_status of a custom format",
     fluent_bit(inbound(grpc_status=0), STAFF_SERVICE_POD), {"grpc_status": 0}),
    # response_flags
    ("response_flags | native | response_flags", native(response_flags="UF,URX"), {"response_flags": "UF,URX"}),
    ("response_flags | native | fallback -", native(), {"response_flags": "-"}),
    ("response_flags | native | empty becomes -", native(response_flags=""), {"response_flags": "-"}),
    ("response_flags | outbound | - for none", CALLER, {"response_flags": "-"}),
    ("response_flags | outbound | comma-joined flags",
     fluent_bit(external(response_flags="UF,URX", response_code=503), STAFF_SERVICE_POD),
     {"response_flags": "UF,URX"}),
    ("response_flags | inbound | a flag", fluent_bit(inbound(response_code=0, response_flags="DC"), STAFF_SERVICE_POD),
     {"response_flags": "DC"}),
    ("response_flags | outbound | null becomes -", fluent_bit(outbound(response_flags=None), API_GATEWAY_POD),
     {"response_flags": "-"}),
    # duration_ms
    ("duration_ms | native | duration_ms", native(duration_ms=12.5), {"duration_ms": 12.5}),
    ("duration_ms | native | a number as a string", native(duration_ms="12.5"), {"duration_ms": 12.5}),
    ("duration_ms | outbound | duration", fluent_bit(external(), STAFF_SERVICE_POD), {"duration_ms": 1000.0}),
    ("duration_ms | inbound | duration, not upstream_service_time", CALLEE, {"duration_ms": 85.0}),
    # request_id
    ("request_id | native | request_id", native(request_id="r-1"), {"request_id": "r-1"}),
    ("request_id | native | fallback empty", native(), {"request_id": ""}),
    ("request_id | outbound | request_id", CALLER, {"request_id": REQUEST_ID}),
    ("request_id | inbound | request_id", CALLEE, {"request_id": REQUEST_ID}),
    ("request_id | outbound | fallback empty", fluent_bit(outbound(request_id=None), API_GATEWAY_POD),
     {"request_id": ""}),
    # trace_id
    ("trace_id | native | trace_id", native(trace_id="4bf92f3577b34da6"), {"trace_id": "4bf92f3577b34da6"}),
    ("trace_id | outbound | fallback empty: not in Istio's default format", CALLER, {"trace_id": ""}),
    ("trace_id | outbound | trace_id of a custom format",
     fluent_bit(outbound(trace_id="4bf92f3577b34da6"), API_GATEWAY_POD), {"trace_id": "4bf92f3577b34da6"}),
    ("trace_id | inbound | trace_id of a custom format",
     fluent_bit(inbound(trace_id="4bf92f3577b34da6"), STAFF_SERVICE_POD), {"trace_id": "4bf92f3577b34da6"}),
    # bytes_sent, bytes_received
    ("bytes_sent | native | bytes_sent", native(bytes_sent=1432), {"bytes_sent": 1432}),
    ("bytes_sent | native | fallback 0 for what is no integer", native(bytes_sent="a lot"), {"bytes_sent": 0}),
    ("bytes_sent | outbound | bytes_sent", CALLER, {"bytes_sent": 1432}),
    ("bytes_sent | inbound | bytes_sent", CALLEE, {"bytes_sent": 1432}),
    ("bytes_received | native | bytes_received", native(bytes_received=400), {"bytes_received": 400}),
    ("bytes_received | native | fallback 0", native(), {"bytes_received": 0}),
    ("bytes_received | outbound | bytes_received", fluent_bit(outbound(bytes_received=400), API_GATEWAY_POD),
     {"bytes_received": 400}),
    ("bytes_received | inbound | bytes_received", fluent_bit(inbound(bytes_received=400), STAFF_SERVICE_POD),
     {"bytes_received": 400}),
]


REFUSED = [
    ("timestamp | native | before 2000", native(timestamp="1999-12-31T23:59:59Z"), "timestamp: expected RFC 3339"),
    ("timestamp | outbound | required", fluent_bit(outbound(start_time=None), API_GATEWAY_POD),
     "missing required field: start_time"),
    ("destination_service | native | must not be empty", native(destination_service=""),
     "destination_service: must not be empty"),
    ("destination_kind | native | one of service, external, unknown", native(destination_kind="mesh"),
     "destination_kind: expected service, external or unknown, got mesh"),
    ("reporter | native | one of source, destination", native(reporter="proxy"),
     "reporter: expected source or destination, got proxy"),
    ("response_code | inbound | required", fluent_bit(inbound(response_code=None), STAFF_SERVICE_POD),
     "missing required field: response_code"),
    ("response_code | native | an integer 0-999", native(response_code=1000), "response_code: expected an integer"),
    ("grpc_status | native | an integer 0-255", native(grpc_status=256), "grpc_status: expected an integer 0-255"),
    ("duration_ms | outbound | required", fluent_bit(outbound(duration=None), API_GATEWAY_POD),
     "missing required field: duration"),
    ("duration_ms | native | a number >= 0", native(duration_ms=-1), "duration_ms: expected a number >= 0"),
]


Decoded = dict[str, tuple[dict[str, Any] | None, str | None]]


@pytest.fixture(scope="module")
def decoded(ch_url: str) -> Decoded:
    """Case -> (its stored row, None) or (None, its dead letter's reason), all cases in one insert."""
    client = connect(ch_url)
    for table in ("requests", "dead_letters"):
        client.command(f"TRUNCATE TABLE {table}")
    cases = [(case, line) for case, line, _ in STORED + REFUSED]
    client.raw_insert("ingest_lines", None, b"".join(
        b"".join(frame_message("t", 0, offset, line.encode())[0]) for offset, (_, line) in enumerate(cases)),
        fmt="TSVRaw")
    rows = {row["kafka_offset"]: row for row in
            client.query("SELECT *, toString(timestamp) AS ts FROM requests").named_results()}
    reasons = {int(offset): str(reason) for offset, reason in
               client.query("SELECT kafka_offset, reason FROM dead_letters").result_rows}
    assert len(rows) + len(reasons) == len(cases)
    return {case: (rows.get(offset), reasons.get(offset)) for offset, (case, _) in enumerate(cases)}


@pytest.mark.parametrize(("case", "line", "expected"), STORED, ids=[case for case, _, _ in STORED])
def test_field_rule(decoded: Decoded, case: str, line: str, expected: dict[str, Any]) -> None:
    row, reason = decoded[case]
    assert reason is None, reason
    assert row is not None
    assert {field: row[field] for field in expected} == expected


@pytest.mark.parametrize(("case", "line", "reason"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_field_check(decoded: Decoded, case: str, line: str, reason: str) -> None:
    row, got = decoded[case]
    assert row is None
    assert got is not None and got.startswith(reason), got


def test_kafka_partition_and_offset_are_the_messages(ch: Client) -> None:
    ch.raw_insert("ingest_lines", None, b"mesh\t3\t41\t" + CALLER.encode() + b"\nmesh\t3\t42\t" + CALLEE.encode()
                  + b"\n", fmt="TSVRaw")
    rows = ch.query("SELECT reporter, kafka_partition, kafka_offset FROM requests ORDER BY reporter").result_rows
    assert [tuple(row) for row in rows] == [
        ("destination", 3, 42), ("source", 3, 41)]


@pytest.mark.parametrize("ship", [fluent_bit, merged], ids=["log string", "merged keys"])
def test_a_shipped_line_decodes_alike_either_way(ch: Client, ship: Any) -> None:
    """Fluent Bit with Merge_Log or without: the same row."""
    row, reason = decode(ch, ship(outbound(), API_GATEWAY_POD))
    assert reason is None and row is not None
    assert (row["source_workload"], row["destination_service"], row["destination_namespace"], row["ts"]) == (
        "api-gateway", "fleetman-staff-service", "default", START_TIME_ROW)


def test_key_order_does_not_matter(ch: Client) -> None:
    line = outbound()
    rows = []
    for keys in (sorted(line), sorted(line, reverse=True)):
        row, reason = decode(ch, fluent_bit({key: line[key] for key in keys}, API_GATEWAY_POD))
        assert reason is None and row is not None
        rows.append(row)
        ch.command("TRUNCATE TABLE requests")
    assert rows[0] == rows[1]


def test_a_source_workload_inside_the_log_string_is_not_the_shippers(ch: Client) -> None:
    """The shipper's keys sit beside the `log` string; a `source_workload` inside the access-log
    line itself is not read as the shipper's."""
    row, reason = decode(ch, fluent_bit(outbound(source_workload="webapp"), API_GATEWAY_POD))
    assert reason is None and row is not None
    assert row["source_workload"] == "api-gateway"
