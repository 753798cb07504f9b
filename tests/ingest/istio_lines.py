"""Envoy access-log lines as an Istio cluster writes them, and the records Fluent Bit ships them in.

The fleetman cluster of the course: Services ``fleetman-*`` in ``default``, pods labelled
without the prefix (``app: staff-service``). Every builder returns the line as a dict (keys in
a scrambled but fixed order) with every key of Istio's default format; ``**changes`` replace
keys, and a key given as ``DROP`` is left out.

What the shapes are taken from (read, not copied):

- Istio's default JSON access log: istio/istio ``pilot/pkg/model/telemetry_logging.go``,
  ``EnvoyJSONLogFormatIstio``, the 24 keys of :data:`ISTIO_DEFAULT_KEYS`, which the proxy's
  ``envoy.access_loggers.file`` writes as a ``json_format`` with ``JsonFormatOptions{SortProperties:
  false}``: keys in no stable order. Envoy's JSON formatter writes numeric operators
  (``%RESPONSE_CODE%``, ``%DURATION%``, ``%BYTES_SENT%``, ...) as numbers, an empty value as
  ``null`` and no ``%RESPONSE_FLAGS%`` as ``"-"``; ``upstream_service_time`` is a response header
  (``%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%``), so a string. ``upstream_cluster`` is
  ``%UPSTREAM_CLUSTER_RAW%``: ``outbound|PORT|SUBSET|HOST``, ``inbound|PORT||``, or
  ``PassthroughCluster``/``BlackHoleCluster``/``InboundPassthroughCluster`` (/work/shared/FACTS.md).
- Fluent Bit's kubernetes filter: fluent/fluent-bit
  ``tests/runtime/data/kubernetes/out/core/core_base_fluent-bit.out`` (the ``kubernetes`` object:
  pod_name, namespace_name, pod_id, labels, annotations, host, container_name, docker_id,
  container_hash, container_image) and ``.../options/options_merge-log-disabled_json.out``
  (without Merge_Log, ``log`` keeps the container's line as a string, newline included; with
  Merge_Log and Keep_Log off, ``options_keep-log-disabled_json.out``, its keys are merged at the
  top level instead). docs.fluentbit.io, outputs/kafka: the Kafka output adds ``@timestamp``
  (a double by default).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

DROP = object()
"""A value for ``**changes``: leave the key out."""

ISTIO_DEFAULT_KEYS = (
    "start_time", "route_name", "method", "path", "protocol", "response_code", "response_flags",
    "response_code_details", "connection_termination_details", "bytes_received", "bytes_sent", "duration",
    "upstream_service_time", "x_forwarded_for", "user_agent", "request_id", "authority", "upstream_host",
    "upstream_cluster", "upstream_local_address", "downstream_local_address", "downstream_remote_address",
    "requested_server_name", "upstream_transport_failure_reason",
)
STAFF_SERVICE_CLUSTER = "outbound|8080||fleetman-staff-service.default.svc.cluster.local"
DRIVER_MONITORING = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"
REQUEST_ID = "0f8b3c52-6a5e-4d8e-9a47-2f1f5a3c9e01"
CALL_START = datetime.now(UTC).replace(microsecond=123_000) - timedelta(hours=1)
"""When the call of these lines started: an hour ago, well inside the raw rows' retention."""


def envoy_time(moment: datetime) -> str:
    """%START_TIME% as Envoy writes it: RFC 3339, milliseconds, Z."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def row_time(moment: datetime) -> str:
    """A moment as ``toString`` of a stored ``timestamp`` writes it."""
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


START_TIME = envoy_time(CALL_START)
START_TIME_ROW = row_time(CALL_START)
CALLEE_START = CALL_START + timedelta(milliseconds=1)
"""The callee's proxy sees the request a millisecond later."""
SHIPPED_AT = CALL_START + timedelta(microseconds=2_811)
"""When Fluent Bit read the caller's line."""


def pod(workload: str, template_hash: str, suffix: str, *, namespace: str = "default", version: str = "safe",
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``kubernetes`` object Fluent Bit adds for the istio-proxy container of a pod."""
    return {
        "pod_name": f"{workload}-{template_hash}-{suffix}",
        "namespace_name": namespace,
        "pod_id": "3e5b1c8a-9d4f-4a67-b2c1-7f0e8d6a5b43",
        "labels": labels if labels is not None else {
            "app": workload, "pod-template-hash": template_hash, "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": workload, "service.istio.io/canonical-revision": "latest",
            "version": version,
        },
        "annotations": {
            "istio.io/rev": "default", "kubectl.kubernetes.io/default-container": workload,
            "prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020", "prometheus.io/scrape": "true",
            "sidecar.istio.io/status": '{"initContainers":["istio-init"],"containers":["istio-proxy"]}',
        },
        "host": "ip-10-0-1-23.eu-west-1.compute.internal",
        "container_name": "istio-proxy",
        "docker_id": "8c1d5e7f9a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d",
        "container_hash": "docker.io/istio/proxyv2@sha256:"
                          "1b3d5f7a9c1e3f5a7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3f5a7b9d1f3a",
        "container_image": "docker.io/istio/proxyv2:1.20.0",
    }


STAFF_SERVICE_POD = pod("staff-service", "6d7b9c7f4", "x2x9k")
API_GATEWAY_POD = pod("api-gateway", "5c9d8b7f6", "q7w2e")
INGRESS_GATEWAY_POD = pod("istio-ingressgateway", "7f9c6d8b5", "m4n8p", namespace="istio-system", labels={
    "app": "istio-ingressgateway", "istio": "ingressgateway", "pod-template-hash": "7f9c6d8b5",
    "service.istio.io/canonical-name": "istio-ingressgateway", "service.istio.io/canonical-revision": "latest",
})


def _line(fields: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**fields, **changes}
    assert set(ISTIO_DEFAULT_KEYS) <= set(fields), set(ISTIO_DEFAULT_KEYS) - set(fields)
    keys = [key for key in merged if merged[key] is not DROP]
    random.Random(len(keys) * 7919 + sum(map(len, keys))).shuffle(keys)  # Envoy's order is not stable
    return {key: merged[key] for key in keys}


def outbound(**changes: Any) -> dict[str, Any]:
    """The caller's line (api-gateway's proxy) of a call to the Service fleetman-staff-service."""
    return _line({
        "start_time": START_TIME, "route_name": "default", "method": "GET", "path": "/vehicles/driver/City%20Truck",
        "protocol": "HTTP/1.1", "response_code": 200, "response_flags": "-", "response_code_details": "via_upstream",
        "connection_termination_details": None, "bytes_received": 0, "bytes_sent": 1432, "duration": 87,
        "upstream_service_time": "86", "x_forwarded_for": None, "user_agent": "Java/17.0.9",
        "request_id": REQUEST_ID, "authority": "fleetman-staff-service:8080", "upstream_host": "10.244.1.17:8080",
        "upstream_cluster": STAFF_SERVICE_CLUSTER, "upstream_local_address": "10.244.2.9:52344",
        "downstream_local_address": "10.96.112.40:8080", "downstream_remote_address": "10.244.2.9:40512",
        "requested_server_name": None, "upstream_transport_failure_reason": None,
    }, changes)


def inbound(**changes: Any) -> dict[str, Any]:
    """The callee's line (staff-service's proxy) of the same call: the cluster names no Service."""
    return _line({
        "start_time": envoy_time(CALLEE_START), "route_name": "default", "method": "GET",
        "path": "/vehicles/driver/City%20Truck", "protocol": "HTTP/1.1", "response_code": 200,
        "response_flags": "-", "response_code_details": "via_upstream", "connection_termination_details": None,
        "bytes_received": 0, "bytes_sent": 1432, "duration": 85, "upstream_service_time": "84",
        "x_forwarded_for": None, "user_agent": "Java/17.0.9", "request_id": REQUEST_ID,
        "authority": "fleetman-staff-service:8080", "upstream_host": "10.244.1.17:8080",
        "upstream_cluster": "inbound|8080||", "upstream_local_address": "127.0.0.6:45679",
        "downstream_local_address": "10.244.1.17:8080", "downstream_remote_address": "10.244.2.9:52344",
        "requested_server_name": "outbound_.8080_._.fleetman-staff-service.default.svc.cluster.local",
        "upstream_transport_failure_reason": None,
    }, changes)


def external(**changes: Any) -> dict[str, Any]:
    """staff-service's call to the external driver-monitoring host, timed out (504 UT)."""
    return outbound(**{
        "path": "/prod/drivers/7", "response_code": 504, "response_flags": "UT",
        "response_code_details": "upstream_response_timeout", "bytes_sent": 24, "duration": 1000,
        "upstream_service_time": None, "user_agent": "Go-http-client/1.1", "authority": DRIVER_MONITORING,
        "upstream_host": "52.84.12.7:443", "upstream_cluster": f"outbound|443||{DRIVER_MONITORING}",
        "upstream_local_address": "10.244.1.17:38214", "downstream_local_address": "52.84.12.7:443",
        "downstream_remote_address": "10.244.1.17:51234", **changes,
    })


def passthrough(**changes: Any) -> dict[str, Any]:
    """A call to a host the mesh does not know, let through (outboundTrafficPolicy ALLOW_ANY)."""
    return outbound(**{
        "route_name": "allow_any", "authority": "api.example.org", "upstream_host": "93.184.216.34:80",
        "upstream_cluster": "PassthroughCluster", "downstream_local_address": "93.184.216.34:80", **changes,
    })


def blackhole(**changes: Any) -> dict[str, Any]:
    """The same call refused (REGISTRY_ONLY): Envoy answers 502 itself."""
    return outbound(**{
        "route_name": "block_all", "response_code": 502, "response_code_details": "direct_response",
        "bytes_sent": 0, "duration": 0, "upstream_service_time": None, "authority": "api.example.org",
        "upstream_host": None, "upstream_cluster": "BlackHoleCluster", "upstream_local_address": None,
        "downstream_local_address": "93.184.216.34:80", **changes,
    })


def no_route(**changes: Any) -> dict[str, Any]:
    """A request no route matches: 404 NR, no cluster at all."""
    return outbound(**{
        "route_name": None, "response_code": 404, "response_flags": "NR", "response_code_details": "route_not_found",
        "bytes_sent": 0, "duration": 0, "upstream_service_time": None,
        "authority": "fleetman-nothing.default.svc.cluster.local:8080", "upstream_host": None,
        "upstream_cluster": None, "upstream_local_address": None, **changes,
    })


def inbound_passthrough(**changes: Any) -> dict[str, Any]:
    """An inbound call to a port no Service declares."""
    return inbound(**{
        "route_name": None, "upstream_cluster": "InboundPassthroughCluster", "authority": "10.244.1.17:9090",
        "upstream_host": "10.244.1.17:9090", "downstream_local_address": "10.244.1.17:9090",
        "requested_server_name": None, **changes,
    })


def ingress(**changes: Any) -> dict[str, Any]:
    """The ingress gateway's line of a browser's request for the public host shop.example.com."""
    return outbound(**{
        "route_name": "fleetman-webapp", "path": "/", "response_code": 200, "bytes_sent": 5120, "duration": 12,
        "upstream_service_time": "11", "x_forwarded_for": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "authority": "shop.example.com",
        "upstream_host": "10.244.3.5:80", "upstream_cluster": "outbound|80||fleetman-webapp.default.svc.cluster.local",
        "upstream_local_address": "10.244.0.12:49822", "downstream_local_address": "10.244.0.12:8080",
        "downstream_remote_address": "203.0.113.7:61204", "requested_server_name": "shop.example.com", **changes,
    })


def fluent_bit(line: dict[str, Any], kubernetes: dict[str, Any], **beside: Any) -> str:
    """Fluent Bit's record of a proxy's line (no Merge_Log): the line as a string under ``log``,
    newline included, beside the stream, the time, the pod and ``beside`` (keys a pipeline adds)."""
    record = {"log": json.dumps(line) + "\n", "stream": "stdout", "time": _shipper_time(),
              "kubernetes": kubernetes, "@timestamp": SHIPPED_AT.timestamp(), **beside}
    return json.dumps(record)


def merged(line: dict[str, Any], kubernetes: dict[str, Any], **beside: Any) -> str:
    """Fluent Bit's record with Merge_Log on and Keep_Log off: the line's keys at the top level."""
    return json.dumps({**line, "stream": "stdout", "time": _shipper_time(),
                       "kubernetes": kubernetes, "@timestamp": SHIPPED_AT.timestamp(), **beside})


def _shipper_time() -> str:
    """The container runtime's time of the line, in nanoseconds, as Fluent Bit keeps it."""
    return f"{SHIPPED_AT:%Y-%m-%dT%H:%M:%S}.{SHIPPED_AT.microsecond:06d}694Z"


def bare(line: dict[str, Any]) -> str:
    """The proxy's line alone, as ``kubectl logs`` shows it: nothing says which pod wrote it."""
    return json.dumps(line)
