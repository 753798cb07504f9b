"""A Report as one JSON line: an Edgewatch record, or an Istio/Envoy access-log line as a log
shipper forwards it.

- ``native``: an Edgewatch record (docs/records.md).
- ``envoy``: the fields of Istio's default JSON access log (numbers as numbers, empty values
  null, no flags ``-``, durations in whole ms) plus ``trace_id`` (Envoy's ``%TRACE_ID%``, beyond
  the default format), at the top level beside the ``kubernetes`` object of the pod that wrote
  the line (simulator.pods): the shape of Fluent Bit's Kubernetes filter with ``Merge_Log On``
  and ``Keep_Log Off``, less its ``stream`` and ``time``.
- ``fluentbit``: the record Fluent Bit's Kafka output sends by default: the access-log line as
  the string ``log`` (with the newline the container runtime keeps), ``stream``, the runtime's
  ``time`` and the output's ``@timestamp`` (when Envoy wrote the line: at the call's end), and
  ``kubernetes``.
Outbound lines (the caller's) name the callee by ``upstream_cluster`` ``outbound|PORT||HOST``
and ``authority``, the Host header its client sends (``fleetman-staff-service:8080``);
inbound lines (the callee's) say ``inbound|PORT||`` and carry the same Host header. Like
Istio's default format, an inbound line does not name its caller: only its address
(``downstream_remote_address``) and, over mTLS, the server name it asked for
(``requested_server_name``). A request from outside the mesh carries the public host name
``<topology name>.example.com``. migrations/0001_ingest.sql decodes all three formats.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from simulator.pods import Pod, pods, stable_ip
from simulator.topology import OUTSIDE, Topology
from simulator.traces import Report

Format = Literal["native", "envoy", "fluentbit"]
FORMATS: tuple[Format, ...] = ("native", "envoy", "fluentbit")

DETAILS = {"UT": "upstream_response_timeout", "DC": "downstream_remote_disconnect", "UO": "overflow"}
CONNECT_FAILURE = "upstream_reset_before_response_started{remote_connection_failure}"


def encoder(fmt: Format, topology: Topology) -> Callable[[Report], bytes]:
    """The function that turns a Report into one JSON line (no newline) in format ``fmt``."""
    if fmt == "native":
        return encode_native
    if fmt == "envoy":
        return _EnvoyEncoder(topology).merged
    if fmt == "fluentbit":
        return _EnvoyEncoder(topology).fluentbit
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
    """Envoy lines need each workload's pod (name, IP, labels), derived from the topology."""

    def __init__(self, topology: Topology) -> None:
        self.pods = pods(topology)
        self.public_host = f"{topology.name}.example.com"

    def merged(self, report: Report) -> bytes:
        line, writer = self._line(report)
        line["kubernetes"] = writer.kubernetes
        return orjson.dumps(line)

    def fluentbit(self, report: Report) -> bytes:
        line, writer = self._line(report)
        written_ns = (report.timestamp_ms + int(report.duration_ms)) * 1_000_000 + _jitter_ns(report)
        return orjson.dumps(
            {
                "@timestamp": round(written_ns / 1e9, 6),
                "log": orjson.dumps(line).decode() + "\n",
                "stream": "stdout",
                "time": _rfc3339_ns(written_ns),
                "kubernetes": writer.kubernetes,
            }
        )

    def _line(self, report: Report) -> tuple[dict[str, Any], Pod]:
        """The access-log line of ``report`` and the pod whose proxy wrote it."""
        if report.reporter == "source":
            writer = self.pods[report.source_workload]
            return _access_log(report) | self._outbound(report, writer), writer
        writer = self.pods[report.destination_workload]
        return _access_log(report) | self._inbound(report, writer), writer

    def _outbound(self, report: Report, writer: Pod) -> dict[str, Any]:
        port = report.destination_port
        external = report.destination_kind == "external"
        service_ip = stable_ip(report.destination_host, "52." if external else "10.96.")
        callee = self.pods.get(report.destination_workload)
        return {
            "authority": report.destination_host if external else _host_header(report.destination_service, port),
            "upstream_cluster": f"outbound|{port}||{report.destination_host}",
            "upstream_host": f"{callee.ip if callee else service_ip}:{port}",
            "upstream_local_address": f"{writer.ip}:{_ephemeral(report.request_id)}",
            "downstream_local_address": f"{service_ip}:{port}",
            "downstream_remote_address": f"{writer.ip}:{_ephemeral(report.trace_id)}",
            "requested_server_name": None,
        }

    def _inbound(self, report: Report, writer: Pod) -> dict[str, Any]:
        port = report.destination_port
        in_mesh = report.source_workload != OUTSIDE
        if in_mesh:  # the caller's proxy connects from its upstream_local_address (see _outbound)
            caller = f"{self.pods[report.source_workload].ip}:{_ephemeral(report.request_id)}"
        else:
            caller = f"{_client_ip(report)}:{_ephemeral(report.trace_id)}"
        return {
            "authority": _host_header(report.destination_service, port) if in_mesh else self.public_host,
            "upstream_cluster": f"inbound|{port}||",
            "upstream_host": f"{writer.ip}:{port}",
            "upstream_local_address": f"127.0.0.6:{_ephemeral(report.request_id + 'inbound')}",
            "downstream_local_address": f"{writer.ip}:{port}",
            "downstream_remote_address": caller,
            "requested_server_name": f"outbound_.{port}_._.{report.destination_host}" if in_mesh else None,
        }


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


def _host_header(service: str, port: int) -> str:
    """The Host header an HTTP client sends for ``http://SERVICE:PORT`` (no port when it is 80)."""
    return service if port == 80 else f"{service}:{port}"


def _client_ip(report: Report) -> str:
    """A browser's public address, one per request."""
    return stable_ip(report.request_id, "203.0.")


def _ephemeral(name: str) -> int:
    return 32768 + zlib.crc32(name.encode()) % 28000


def _rfc3339(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def _rfc3339_ns(epoch_ns: int) -> str:
    """As a container runtime stamps a log line (RFC 3339 with nanoseconds)."""
    moment = datetime.fromtimestamp(epoch_ns // 1_000_000_000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ns % 1_000_000_000:09d}Z"


def _jitter_ns(report: Report) -> int:
    """Under a millisecond: between Envoy ending the call and the runtime reading its line."""
    return zlib.crc32(report.request_id.encode()) % 1_000_000
