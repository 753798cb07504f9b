"""Records for the API tests: Edgewatch's own JSON records and Envoy access-log lines."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import orjson

_ids = itertools.count(1)


def call(
    at: datetime,
    source: str,
    destination: str,
    code: int = 200,
    duration_ms: float = 10.0,
    *,
    reporter: str = "source",
    request_id: str | None = None,
    source_namespace: str = "default",
    destination_namespace: str = "default",
    destination_workload: str = "",
    kind: str = "service",
    flags: str = "-",
    path: str = "/",
) -> dict[str, Any]:
    """One native record; a fresh request id unless one is given."""
    return {
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "source_workload": source,
        "source_namespace": source_namespace,
        "destination_service": destination,
        "destination_namespace": destination_namespace,
        "destination_workload": destination_workload,
        "destination_kind": kind,
        "reporter": reporter,
        "method": "GET",
        "path": path,
        "response_code": code,
        "response_flags": flags,
        "duration_ms": duration_ms,
        "request_id": request_id or f"req-{next(_ids)}",
        "trace_id": f"trace-{next(_ids)}",
    }


def both_reports(record: dict[str, Any], served_by: str, inbound_source: str = "unknown") -> list[dict[str, Any]]:
    """The caller's report and the callee's report of the same call (inbound proxies often
    do not know the caller: source ``unknown``)."""
    callee = dict(record, reporter="destination", source_workload=inbound_source,
                  source_namespace="", destination_workload=served_by)
    return [record, callee]


def envoy_outbound(at: datetime, workload: str, namespace: str, host: str, port: int, code: int, duration: int,
                   flags: str = "-") -> dict[str, Any]:
    """An Istio JSON access-log line of an outbound call, with Fluent Bit's kubernetes object."""
    return {
        "start_time": at.isoformat().replace("+00:00", "Z"),
        "method": "POST",
        "path": "/v1/charges",
        "protocol": "HTTP/1.1",
        "response_code": code,
        "response_flags": flags,
        "duration": duration,
        "upstream_cluster": f"outbound|{port}||{host}",
        "authority": host,
        "request_id": f"envoy-{next(_ids)}",
        "kubernetes": {"namespace_name": namespace, "labels": {"app": workload}},
    }


def batched(records: list[dict[str, Any]], per_message: int = 50) -> list[bytes]:
    """Newline-delimited messages of ``per_message`` records each."""
    lines = [orjson.dumps(r) for r in records]
    return [b"\n".join(lines[i:i + per_message]) for i in range(0, len(lines), per_message)]


def ingest_lines(records: list[dict[str, Any]]) -> bytes:
    """TSV rows for the ``ingest_lines`` table: the same in-engine decoder, without Kafka."""
    return b"".join(b"t\t0\t%d\t%s\n" % (i, orjson.dumps(r)) for i, r in enumerate(records))
