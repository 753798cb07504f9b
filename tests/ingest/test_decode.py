"""Table-driven tests of the in-engine decoder (migrations/0001_ingest.sql).

Each case is one record line as a proxy or shipper would send it; it goes through the real
engine exactly as the ingester sends it (a row of ``ingest_lines``) and lands either in
``requests`` (checked field by field) or in ``dead_letters`` (checked by reason).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from ingest.framing import frame_message

pytestmark = pytest.mark.clickhouse

# Yesterday, in whole dates: recent enough for requests' raw retention (7 days), so that the
# stored rows are not dropped as they are inserted (a fixed date expired a week after it was written).
DAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
EPOCH_MS = int(datetime.fromisoformat(f"{DAY}T08:00:00.250+00:00").timestamp() * 1000)

NATIVE = {"timestamp": f"{DAY}T08:00:00.250Z", "destination_service": "reviews", "response_code": 200,
          "duration_ms": 12.5}
ENVOY = {
    "start_time": f"{DAY}T08:00:01.000Z", "method": "GET", "path": "/drivers/7", "protocol": "HTTP/1.1",
    "response_code": 504, "response_flags": "UT", "response_code_details": "upstream_response_timeout",
    "duration": 1000, "upstream_service_time": None, "bytes_received": 0, "bytes_sent": 24,
    "upstream_cluster": "outbound|443||2oujlno5e4.execute-api.us-east-1.amazonaws.com",
    "authority": "2oujlno5e4.execute-api.us-east-1.amazonaws.com", "request_id": "r-1",
    "x_forwarded_for": None, "user_agent": "Go-http-client/1.1", "route_name": "default",
    "kubernetes": {"namespace_name": "fleet", "labels": {"app": "staff-service-v1",
                                                          "service.istio.io/canonical-name": "staff-service"}},
}


def decode(ch: Client, line: str | bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Send one message through the engine; return (stored row, None) or (None, reason)."""
    raw = line.encode() if isinstance(line, str) else line
    pieces, _ = frame_message("t", 0, 1, raw)
    ch.raw_insert("ingest_lines", None, b"".join(pieces), fmt="TSVRaw")
    stored = list(ch.query("SELECT *, toString(timestamp) AS ts FROM requests").named_results())
    letters = ch.query("SELECT reason, payload, kafka_offset FROM dead_letters").result_rows
    assert len(stored) + len(letters) == 1, (stored, letters)
    return (stored[0], None) if stored else (None, letters[0][0])


def native(**changes: Any) -> str:
    record = {**NATIVE, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not DROP})


def envoy(**changes: Any) -> str:
    record = {**ENVOY, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not DROP})


DROP = object()

GOOD = [
    ("native minimal gets defaults", native(),
     {"ts": f"{DAY} 08:00:00.250", "source_workload": "unknown", "destination_service": "reviews",
      "destination_kind": "service", "reporter": "source", "response_code": 200, "response_flags": "-",
      "duration_ms": 12.5, "grpc_status": None}),
    ("native epoch milliseconds", native(timestamp=EPOCH_MS), {"ts": f"{DAY} 08:00:00.250"}),
    ("native offset timestamp", native(timestamp=f"{DAY}T09:00:00+01:00"), {"ts": f"{DAY} 08:00:00.000"}),
    ("native all fields", native(source_workload="productpage", source_namespace="bookinfo",
                                 destination_namespace="bookinfo", destination_workload="reviews-v2",
                                 destination_kind="service", reporter="destination", request_protocol="grpc",
                                 method="POST", path="/r", response_code=503, grpc_status=14,
                                 response_flags="UF,URX", request_id="abc", trace_id="t1", bytes_sent=10,
                                 bytes_received=20),
     {"source_workload": "productpage", "destination_workload": "reviews-v2", "reporter": "destination",
      "request_protocol": "grpc", "grpc_status": 14, "response_flags": "UF,URX", "bytes_sent": 10,
      "bytes_received": 20, "trace_id": "t1"}),
    ("native no response", native(response_code=0, response_flags="UF"), {"response_code": 0}),
    ("native external host", native(destination_service="api.stripe.com", destination_kind="external"),
     {"destination_kind": "external"}),
    ("native unknown keys ignored", native(extra={"nested": [1, 2]}, color="red"), {"destination_service": "reviews"}),
    ("native empty flags become -", native(response_flags=""), {"response_flags": "-"}),
    ("native null optional field", native(source_workload=None), {"source_workload": "unknown"}),
    ("native escaped strings", native(path='/a"b\\c\tx'), {"path": '/a"b\\c\tx'}),
    ("envoy outbound to external host", envoy(),
     {"ts": f"{DAY} 08:00:01.000", "source_workload": "staff-service", "source_namespace": "fleet",
      "destination_service": "2oujlno5e4.execute-api.us-east-1.amazonaws.com", "destination_kind": "external",
      "reporter": "source", "response_code": 504, "response_flags": "UT", "duration_ms": 1000.0,
      "request_protocol": "HTTP/1.1", "request_id": "r-1", "bytes_sent": 24}),
    ("envoy outbound to mesh service with subset",
     envoy(upstream_cluster="outbound|9080|v2|reviews.bookinfo.svc.cluster.local", authority="reviews:9080"),
     {"destination_service": "reviews", "destination_namespace": "bookinfo", "destination_kind": "service"}),
    ("envoy inbound: the pod is the destination",
     envoy(upstream_cluster="inbound|8080||", authority="staff-service.fleet.svc.cluster.local:8080"),
     {"source_workload": "unknown", "destination_service": "staff-service", "destination_namespace": "fleet",
      "destination_workload": "staff-service", "reporter": "destination", "destination_kind": "service"}),
    ("envoy inbound with the caller added by the shipper",
     envoy(upstream_cluster="inbound|8080||", source_workload="api-gateway", source_namespace="fleet"),
     {"source_workload": "api-gateway", "destination_service": "staff-service", "reporter": "destination"}),
    ("envoy app label when no canonical name",
     envoy(kubernetes={"namespace_name": "fleet", "labels": {"app": "webapp"}}), {"source_workload": "webapp"}),
    ("envoy top-level source fields", envoy(kubernetes=DROP, source_workload="webapp", source_namespace="web"),
     {"source_workload": "webapp", "source_namespace": "web"}),
    ("envoy without shipper metadata", envoy(kubernetes=DROP), {"source_workload": "unknown"}),
    ("envoy passthrough is unknown", envoy(upstream_cluster="PassthroughCluster", authority="example.org"),
     {"destination_service": "example.org", "destination_kind": "unknown"}),
    ("envoy blackhole without authority", envoy(upstream_cluster="BlackHoleCluster", authority=None),
     {"destination_service": "BlackHoleCluster", "destination_kind": "unknown"}),
    ("envoy no route (no cluster)", envoy(upstream_cluster=None, response_code=404, response_flags="NR",
                                          authority="nothing.fleet.svc.cluster.local"),
     {"destination_kind": "unknown", "response_flags": "NR", "destination_service": "nothing.fleet.svc.cluster.local"}),
    ("envoy null flags", envoy(response_flags=None), {"response_flags": "-"}),
    ("fluent bit: access log as a JSON string under log",
     json.dumps({"log": json.dumps({k: v for k, v in ENVOY.items() if k != "kubernetes"}),
                 "stream": "stdout", "kubernetes": ENVOY["kubernetes"]}),
     {"source_workload": "staff-service", "destination_kind": "external", "response_code": 504}),
]


@pytest.mark.parametrize(("case", "line", "expected"), GOOD, ids=[c[0] for c in GOOD])
def test_record_is_stored(ch: Client, case: str, line: str, expected: dict[str, Any]) -> None:
    row, reason = decode(ch, line)
    assert reason is None, reason
    assert row is not None
    for field, value in expected.items():
        assert row[field] == value, (field, row[field])
    assert row["kafka_partition"] == 0 and row["kafka_offset"] == 1


BAD = [
    ("not JSON", "{bad json", "invalid JSON"),
    ("truncated JSON", native()[:-5], "invalid JSON"),
    ("a JSON number", "42", "not a JSON object"),
    ("a JSON string", '"hello"', "not a JSON object"),
    ("unknown format", '{"foo": 1}', "unknown record format"),
    ("native without timestamp", native(timestamp=DROP), "missing required field: timestamp"),
    ("native null timestamp", native(timestamp=None), "missing required field: timestamp"),
    ("native bad timestamp", native(timestamp="yesterday"), "timestamp: expected RFC 3339"),
    ("native epoch seconds", native(timestamp=1795680000), "timestamp: expected RFC 3339"),
    ("native without response_code", native(response_code=DROP), "missing required field: response_code"),
    ("native text response_code", native(response_code="OK"), "response_code: expected an integer"),
    ("native response_code too big", native(response_code=70000), "response_code: expected an integer"),
    ("native response_code float", native(response_code=200.5), "response_code: expected an integer"),
    ("native without duration", native(duration_ms=DROP), "missing required field: duration_ms"),
    ("native negative duration", native(duration_ms=-1), "duration_ms: expected a number >= 0"),
    ("native text duration", native(duration_ms="fast"), "duration_ms: expected a number >= 0"),
    ("native empty destination", native(destination_service=""), "destination_service: must not be empty"),
    ("native bad kind", native(destination_kind="cloud"), "destination_kind: expected service, external or unknown"),
    ("native bad reporter", native(reporter="proxy"), "reporter: expected source or destination"),
    ("native bad grpc_status", native(grpc_status="x"), "grpc_status: expected an integer 0-255"),
    ("native huge epoch", native(timestamp=10**30), "timestamp: expected RFC 3339"),
    ("envoy without start_time", envoy(start_time=DROP), "missing required field: start_time"),
    ("envoy null duration", envoy(duration=None), "missing required field: duration"),
    ("envoy bad start_time", envoy(start_time="-"), "start_time: expected RFC 3339"),
]


@pytest.mark.parametrize(("case", "line", "reason"), BAD, ids=[c[0] for c in BAD])
def test_record_goes_to_dead_letters(ch: Client, case: str, line: str, reason: str) -> None:
    row, got = decode(ch, line)
    assert row is None
    assert got is not None and got.startswith(reason), got
    payload, offset = ch.query("SELECT payload, kafka_offset FROM dead_letters").result_rows[0]
    assert payload == line.strip() and offset == 1


@pytest.mark.parametrize(("message", "rows"), [
    (b'{"a": 1}', [b'{"a": 1}']),
    (b'{"a": 1}\n{"b": 2}\n', [b'{"a": 1}', b'{"b": 2}']),
    (b'\r\n {"a":\t1}\r\n\r\n{"b": 2}', [b'{"a": 1}', b"", b'{"b": 2}']),  # blank lines go in the engine
    (b'[{"a": 1},\n {"b": 2}]', [b'[{"a": 1},  {"b": 2}]']),
    (b" \n ", []),
    (b"", []),
])
def test_framing_prefixes_every_row_and_counts_them(message: bytes, rows: list[bytes]) -> None:
    pieces, count = frame_message("t", 3, 42, message)
    framed = b"".join(pieces)
    assert count == len(rows)
    assert framed == b"".join(b"t\t3\t42\t" + row + b"\n" for row in rows)


def test_array_message_splits_into_records(ch: Client) -> None:
    message = "[" + ",".join([native(request_id="a"), native(request_id="b"), "7"]) + "]"
    pieces, count = frame_message("t", 2, 9, message.encode())
    assert count == 1
    ch.raw_insert("ingest_lines", None, b"".join(pieces), fmt="TSVRaw")
    assert sorted(r[0] for r in ch.query("SELECT request_id FROM requests").result_rows) == ["a", "b"]
    assert ch.query("SELECT reason, payload, kafka_partition, kafka_offset FROM dead_letters").result_rows == [
        ("not a JSON object", "7", 2, 9)
    ]


def test_dead_letter_payload_is_cut_at_64_kib(ch: Client) -> None:
    row, reason = decode(ch, '{"padding": "' + "x" * 100_000 + '"}')
    assert reason and reason.startswith("unknown record format")
    assert ch.command("SELECT length(payload) FROM dead_letters") == 65536


def test_broken_array_message_is_one_dead_letter(ch: Client) -> None:
    row, reason = decode(ch, "[" + native() + ", {")
    assert row is None and reason == "invalid JSON"


def test_empty_array_message_holds_no_records(ch: Client) -> None:
    pieces, _ = frame_message("t", 0, 1, b"[]")
    ch.raw_insert("ingest_lines", None, b"".join(pieces), fmt="TSVRaw")
    assert ch.command("SELECT count() FROM requests") == 0
    assert ch.command("SELECT count() FROM dead_letters") == 0
