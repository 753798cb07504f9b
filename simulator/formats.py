"""A Report as one JSON line: an Edgewatch record (``native``) or an Istio/Envoy access-log line.

``envoy`` lines carry the fields of Istio's default JSON access log (numbers as numbers, empty
values null, no flags ``-``, durations in whole ms), plus what a log pipeline adds: the
``kubernetes`` object of Fluent Bit's Kubernetes filter (the pod that wrote the line), and
two fields Istio's default format lacks: ``trace_id`` (Envoy's ``%TRACE_ID%``) and, on inbound
lines of in-mesh callers, ``source_workload``/``source_namespace`` (the downstream peer's
metadata). Outbound lines (reporter source) name the callee by ``upstream_cluster``
``outbound|PORT||HOST``; inbound lines (reporter destination) say ``inbound|PORT||``.
docs/records.md describes both formats; migrations/0001_ingest.sql decodes them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from simulator.topology import OUTSIDE, Topology
from simulator.traces import Report

Format = Literal["native", "envoy"]
FORMATS: tuple[Format, ...] = ("native", "envoy")

DETAILS = {"UT": "upstream_response_timeout", "DC": "downstream_remote_disconnect", "UO": "overflow"}
CONNECT_FAILURE = "upstream_reset_before_response_started{remote_connection_failure}"


def encoder(fmt: Format, topology: Topology) -> Callable[[Report], bytes]:
    """The function that turns a Report into one JSON line (no newline) in format ``fmt``."""
    if fmt == "native":
        return encode_native
    if fmt == "envoy":
        return _EnvoyEncoder(topology).encode
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def encode_native(report: Report) -> bytes:
    """An Edgewatch record (docs/records.md); ``timestamp`` in epoch milliseconds."""
    return orjson.dumps(
        {
            "timestamp": report.timestamp_ms,
            "source_workload": report.source_workload,
            "source_namespace": report.source_namespace,
            "destination_service": report.destination_service,
            "destination_namespace": report.destination_namespace,
            "destination_workload": report.destination_workload,
            "destination_kind": report.destination_kind,
            "reporter": report.reporter,
            "request_protocol": "http",
            "method": report.method,
            "path": report.path,
            "response_code": report.response_code,
            "response_flags": report.response_flags,
            "duration_ms": report.duration_ms,
            "request_id": report.request_id,
            "trace_id": report.trace_id,
            "bytes_sent": report.bytes_sent,
            "bytes_received": report.bytes_received,
        }
    )


class _EnvoyEncoder:
    """Envoy lines need each workload's pod (name, IP, labels): derived from its name, stably."""

    def __init__(self, topology: Topology) -> None:
        self.pods = {
            w.name: _Pod(w.name, w.service, w.version, s.namespace)
            for s in topology.services.values()
            for w in s.workloads
        }

    def encode(self, report: Report) -> bytes:
        if report.reporter == "source":
            writer = self.pods[report.source_workload]
            line = _access_log(report) | self._outbound(report, writer)
        else:
            writer = self.pods[report.destination_workload]
            line = _access_log(report) | self._inbound(report, writer)
        line["kubernetes"] = writer.kubernetes
        return orjson.dumps(line)

    def _outbound(self, report: Report, writer: _Pod) -> dict[str, Any]:
        port = report.destination_port
        external = report.destination_kind == "external"
        service_ip = _ip(report.destination_host, "52." if external else "10.96.")
        callee = self.pods.get(report.destination_workload)
        return {
            "authority": report.destination_host if external else f"{report.destination_service}:{port}",
            "upstream_cluster": f"outbound|{port}||{report.destination_host}",
            "upstream_host": f"{callee.ip if callee else service_ip}:{port}",
            "upstream_local_address": f"{writer.ip}:{_ephemeral(report.request_id)}",
            "downstream_local_address": f"{service_ip}:{port}",
            "downstream_remote_address": f"{writer.ip}:{_ephemeral(report.trace_id)}",
            "requested_server_name": None,
        }

    def _inbound(self, report: Report, writer: _Pod) -> dict[str, Any]:
        port = report.destination_port
        in_mesh = report.source_workload != OUTSIDE
        caller_ip = self.pods[report.source_workload].ip if in_mesh else _client_ip(report)
        fields: dict[str, Any] = {
            "authority": f"{report.destination_service}:{port}",
            "upstream_cluster": f"inbound|{port}||",
            "upstream_host": f"{writer.ip}:{port}",
            "upstream_local_address": f"127.0.0.6:{_ephemeral(report.request_id)}",
            "downstream_local_address": f"{writer.ip}:{port}",
            "downstream_remote_address": f"{caller_ip}:{_ephemeral(report.trace_id)}",
            "requested_server_name": f"outbound_.{port}_._.{report.destination_host}" if in_mesh else None,
        }
        if in_mesh:
            fields["source_workload"] = report.source_workload
            fields["source_namespace"] = report.source_namespace
        return fields


def _access_log(report: Report) -> dict[str, Any]:
    """The fields every line has, whichever proxy wrote it."""
    code, flags = report.response_code, report.response_flags
    answered = flags == "-" and code != 0
    from_outside = report.source_workload == OUTSIDE
    return {
        "start_time": _rfc3339(report.timestamp_ms),
        "route_name": "default",
        "method": report.method,
        "path": report.path,
        "protocol": "HTTP/1.1",
        "response_code": code,
        "response_flags": flags,
        "response_code_details": "via_upstream" if answered else DETAILS.get(flags, CONNECT_FAILURE),
        "connection_termination_details": None,
        "bytes_received": report.bytes_received,
        "bytes_sent": report.bytes_sent,
        "duration": int(report.duration_ms),
        "upstream_service_time": str(max(0, int(report.duration_ms) - 1)) if answered else None,
        "x_forwarded_for": _client_ip(report) if from_outside else None,
        "user_agent": "Mozilla/5.0" if from_outside else "Java/17.0.9",
        "request_id": report.request_id,
        "trace_id": report.trace_id,
        "upstream_transport_failure_reason": None,
    }


class _Pod:
    def __init__(self, workload: str, service: str, version: str, namespace: str) -> None:
        digest = f"{zlib.crc32(workload.encode()):08x}"
        self.ip = _ip(workload, "10.244.")
        self.kubernetes = {
            "namespace_name": namespace,
            "pod_name": f"{workload}-{digest[:8]}-{digest[3:8]}",
            "container_name": "istio-proxy",
            "labels": {
                "app": service,
                "version": version,
                "service.istio.io/canonical-name": service,
                "service.istio.io/canonical-revision": version,
            },
        }


def _ip(name: str, prefix: str) -> str:
    """A stable address for ``name`` under a /16 prefix such as ``10.244.``."""
    digest = zlib.crc32(name.encode())
    return f"{prefix}{digest >> 8 & 255}.{digest & 255 or 1}"


def _client_ip(report: Report) -> str:
    """A browser's public address, one per request."""
    return _ip(report.request_id, "203.0.")


def _ephemeral(name: str) -> int:
    return 32768 + zlib.crc32(name.encode()) % 28000


def _rfc3339(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"
