"""One request entering the mesh -> the reports of every call it causes, as proxies would log them.

Causality, per call (``TraceBuilder.trace``):
- the calling proxy may fail on its own (Topology FLAGS: ``UF``, ``UF,URX``, ``UO``): 503 after
  a few milliseconds, reported by the caller only, the callee never sees the request;
- otherwise the callee works (a lognormal draw), may answer an error of its own, and else calls
  its dependencies one after the other; the first failing dependency (5xx or no response)
  makes it answer 500 at once, so failures climb the graph;
- a call slower than the edge's timeout ends for the caller as 504 ``UT`` at exactly the
  timeout; the callee's proxy sees the caller hang up (code 0, ``DC``);
- durations nest: a parent's duration includes its children's, plus network time.
Reports: an in-mesh call twice (reporter ``source`` and ``destination``, same request_id and
trace_id), a call to an external host by the caller only, a call from outside by the callee only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from simulator.topology import OUTSIDE, Edge, Service, Topology, Workload

K = TypeVar("K")
NET_MU, NET_SIGMA, NET_MAX_MS = math.log(0.5), 0.8, 5.0  # one network round trip inside the cluster
PROXY_FAILURES = {"UF": ("UF", 1.0), "URX": ("UF,URX", 60.0), "UO": ("UO", 0.2)}  # flags, median ms
# Body sizes in bytes: Envoy's "upstream request timeout", its connect-failure text, an app's
# error page, and the median request body of methods that send one.
TIMEOUT_BODY, PROXY_FAILURE_BODY, ERROR_BODY, REQUEST_BODY = 24, 91, 120, 400


class Report(NamedTuple):
    """One proxy's record of one call: fields of the request record
    (:data:`edgewatch.record.REQUEST_FIELDS`, in its order) plus the callee's address (host,
    port) an Envoy access-log line names. Times in ms; ``timestamp_ms`` is the record's
    ``timestamp``, the call's start in epoch ms (like Envoy's start_time)."""

    timestamp_ms: int
    source_workload: str
    source_namespace: str
    destination_service: str
    destination_namespace: str
    destination_workload: str
    destination_kind: str
    reporter: str
    destination_host: str
    destination_port: int
    method: str
    path: str
    response_code: int
    response_flags: str
    duration_ms: float
    request_id: str
    trace_id: str
    bytes_sent: int
    bytes_received: int


class _Outcome(NamedTuple):
    code: int
    flags: str
    duration_ms: float
    response_bytes: int


@dataclass
class _Target:
    """Where an edge's calls go, precomputed for speed."""

    service: str
    namespace: str
    host: str
    port: int
    kind: str
    workloads: list[tuple[float, Workload]] = field(default_factory=list)  # cumulative weight, workload
    calls: list[_Call] = field(default_factory=list)


@dataclass
class _Call:
    """An edge with its distributions in the form the builder draws from."""

    edge: Edge
    source_namespace: str
    target: _Target
    codes: list[tuple[float, int]]  # cumulative share, code
    flags: list[tuple[float, str]]
    sigma: float
    whole_calls: int
    extra_call: float


class TraceBuilder:
    """Draws traces from one Topology with the caller's Random (never seeded here)."""

    def __init__(self, topology: Topology, rng: random.Random) -> None:
        self.rng = rng
        targets = {name: _service_target(s) for name, s in topology.services.items()}
        for ext in topology.externals.values():
            targets[ext.name] = _Target(ext.host, "", ext.host, ext.port, "external")
        for name, service in topology.services.items():
            targets[name].calls = [_call(edge, service.namespace, targets[edge.target]) for edge in service.calls]
        self.entries: list[tuple[float, _Call]] = []  # cumulative share, ingress edge
        total = 0.0
        for edge in topology.ingress:
            total += edge.calls
            self.entries.append((total, _call(edge, "", targets[edge.target])))
        self.workload_codes = {w.name: _cumulative(w.codes) for w in topology.workloads()}

    def trace(self, start_ms: float) -> list[Report]:
        """The reports of one request entering the mesh at ``start_ms``, in generation order."""
        reports: list[Report] = []
        entry = _pick(self.entries, self.rng.random() * self.entries[-1][0]) or self.entries[-1][1]
        self._call(entry, None, start_ms, f"{self.rng.getrandbits(128):032x}", reports)
        return reports

    def _call(
        self, call: _Call, caller: Workload | None, start_ms: float, trace_id: str, out: list[Report]
    ) -> _Outcome:
        """Simulate one call; append its reports; return the outcome as the caller sees it."""
        rng, edge, target = self.rng, call.edge, call.target
        ids = (_uuid(rng.getrandbits(128)), trace_id)
        request = 0 if edge.method in ("GET", "HEAD", "DELETE") else _size(rng, REQUEST_BODY)
        if caller is not None and (flag := _pick(call.flags, rng.random())):
            flags, median_ms = PROXY_FAILURES[flag]
            failure = _Outcome(503, flags, round(rng.lognormvariate(math.log(median_ms), 0.5), 3), PROXY_FAILURE_BODY)
            out.append(_report(call, "source", caller, None, start_ms, failure, ids, request))
            return failure
        network = min(rng.lognormvariate(NET_MU, NET_SIGMA), NET_MAX_MS)
        arrival = start_ms + network / 2
        workload = None
        if target.kind != "external":
            workload = _pick(target.workloads, rng.random() * target.workloads[-1][0])
        code, work = self._serve(call, workload, arrival, trace_id, out)
        response = _size(rng, edge.response_bytes) if code == 200 else ERROR_BODY
        seen = _Outcome(code, "-", round(work + network, 3), response)
        served = _Outcome(code, "-", round(work, 3), response)
        if edge.timeout_ms is not None and seen.duration_ms > edge.timeout_ms:
            seen = _Outcome(504, "UT", edge.timeout_ms, TIMEOUT_BODY)
            served = _Outcome(0, "DC", min(served.duration_ms, edge.timeout_ms), 0)
        if caller is not None:
            out.append(_report(call, "source", caller, workload, start_ms, seen, ids, request))
        if workload is not None:
            out.append(_report(call, "destination", caller, workload, arrival, served, ids, request))
        return seen

    def _serve(
        self, call: _Call, workload: Workload | None, start_ms: float, trace_id: str, out: list[Report]
    ) -> tuple[int, float]:
        """The callee's side: its answer and how long it took, dependencies included."""
        rng, latency = self.rng, call.edge.latency
        work = latency.squeeze(rng.lognormvariate(latency.mu, call.sigma))
        own_error = _pick(call.codes, rng.random())
        if own_error is None and workload is not None:
            own_error = _pick(self.workload_codes[workload.name], rng.random())
        if own_error is not None or workload is None:
            return own_error or 200, work
        elapsed, clock = work, start_ms + work / 2  # dependencies are called half-way through its own work
        for child in call.target.calls:
            for _ in range(child.whole_calls + (rng.random() < child.extra_call)):
                outcome = self._call(child, workload, clock, trace_id, out)
                elapsed += outcome.duration_ms
                clock += outcome.duration_ms
                if outcome.code >= 500 or outcome.code == 0:
                    return 500, elapsed
        return 200, elapsed


def _report(
    call: _Call,
    reporter: str,
    caller: Workload | None,
    callee: Workload | None,
    start_ms: float,
    outcome: _Outcome,
    ids: tuple[str, str],
    request_bytes: int,
) -> Report:
    target = call.target
    return Report(
        timestamp_ms=int(start_ms),
        reporter=reporter,
        source_workload=caller.name if caller else OUTSIDE,
        source_namespace=call.source_namespace,
        destination_service=target.service,
        destination_namespace=target.namespace,
        destination_workload=callee.name if callee else "",
        destination_kind=target.kind,
        destination_host=target.host,
        destination_port=target.port,
        method=call.edge.method,
        path=call.edge.path,
        response_code=outcome.code,
        response_flags=outcome.flags,
        duration_ms=outcome.duration_ms,
        request_id=ids[0],
        trace_id=ids[1],
        bytes_sent=outcome.response_bytes,
        bytes_received=request_bytes,
    )


def _service_target(service: Service) -> _Target:
    workloads: list[tuple[float, Workload]] = []
    total = 0.0
    for workload in service.workloads:
        if workload.weight > 0:
            total += workload.weight
            workloads.append((total, workload))
    return _Target(service.name, service.namespace, service.host, service.port, "service", workloads)


def _call(edge: Edge, source_namespace: str, target: _Target) -> _Call:
    return _Call(
        edge,
        source_namespace,
        target,
        _cumulative(edge.codes),
        _cumulative(edge.flags),
        edge.latency.sigma,
        int(edge.calls),
        edge.calls - int(edge.calls),
    )


def _cumulative(shares: Mapping[K, float]) -> list[tuple[float, K]]:
    total, table = 0.0, []
    for key, share in sorted(shares.items(), key=lambda item: str(item[0])):
        total += share
        table.append((total, key))
    return table


def _pick(table: list[tuple[float, K]], u: float) -> K | None:
    """The key whose cumulative share first exceeds ``u``; None when ``u`` is past them all."""
    for threshold, key in table:
        if u < threshold:
            return key
    return None


def _size(rng: random.Random, median: int) -> int:
    return max(1, int(rng.lognormvariate(math.log(median), 0.4)))


def _uuid(bits: int) -> str:
    text = f"{bits:032x}"
    variant = "89ab"[int(text[16], 16) & 3]
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"
