"""The mesh a simulation runs on: services, their versions, external hosts and the edges between.

A Topology is immutable. Scenarios change it only through its flat numeric parameters
(``params`` / ``with_params``: latencies, status-code and failure shares, version weights),
which is what lets a phase ramp smoothly from one state to the next. ``simulator.topology_file``
reads the YAML data file (docs/topology.md) into these classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

OUTSIDE = "unknown"
"""The source of requests that enter the mesh from outside (no proxy reports them)."""

FLAGS = ("UF", "URX", "UO")
"""Failures the calling proxy reports on its own: connection failure, retries exhausted after
connection failures (reported as ``UF,URX``), circuit-breaker overflow. The callee never sees them."""

Z99 = 2.3263478740408408  # the standard normal's 99th percentile

K = TypeVar("K", int, str)
Param = tuple[str, str, str]
"""``(kind, key, name)``: ``("edge", "a -> b", "p99_ms" | "median_ms" | "max_ms" | "code 503" |
"flag UF")`` or ``("workload", name, "weight" | "code 500")``."""


class TopologyError(ValueError):
    """The topology (or a scenario over it) is inconsistent; the message says where."""


@dataclass(frozen=True)
class Latency:
    """A long-tailed (lognormal) distribution of how long the callee works on one call, given by
    its median and 99th percentile. ``max_ms`` (above ``p99_ms``) squeezes the tail beyond the
    p99 smoothly under it: median and p99 stay exact, no call takes ``max_ms`` or longer."""

    median_ms: float
    p99_ms: float
    max_ms: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.median_ms < self.p99_ms:
            raise TopologyError(f"latency: need 0 < median_ms < p99_ms, got {self.median_ms} and {self.p99_ms}")
        if self.max_ms is not None and self.max_ms <= self.p99_ms:
            raise TopologyError(f"latency: max_ms {self.max_ms} must exceed p99_ms {self.p99_ms}")

    def squeeze(self, drawn_ms: float) -> float:
        """``drawn_ms`` (a lognormal draw) with the tail beyond p99 squeezed under ``max_ms``."""
        if self.max_ms is None or drawn_ms <= self.p99_ms:
            return drawn_ms
        span = self.max_ms - self.p99_ms
        return self.p99_ms + span * -math.expm1(-(drawn_ms - self.p99_ms) / span)

    @property
    def mu(self) -> float:
        return math.log(self.median_ms)

    @property
    def sigma(self) -> float:
        return (math.log(self.p99_ms) - math.log(self.median_ms)) / Z99


@dataclass(frozen=True)
class Edge:
    """Calls from ``source`` to ``target``: the calling app (its Service's pods' ``app`` label),
    or OUTSIDE, to a Service's name or an external host's name. ``key`` (``source -> target``)
    names the edge in scenarios.

    ``calls``: mean calls per request the source serves (2.3 = two, and a third 30% of the
    time); for an ingress edge (source OUTSIDE), its share of the requests entering the mesh.
    ``codes``: share of calls the callee answers with each status code (the rest get 200).
    ``flags``: share of calls that fail in the calling proxy (FLAGS), never reaching the callee.
    ``timeout_ms``: the VirtualService timeout; a slower call ends as 504 ``UT`` at exactly it.
    """

    source: str
    target: str
    calls: float
    method: str
    path: str
    latency: Latency
    codes: Mapping[int, float]
    flags: Mapping[str, float]
    timeout_ms: float | None
    response_bytes: int

    @property
    def key(self) -> str:
        return f"{self.source} -> {self.target}"


@dataclass(frozen=True)
class Workload:
    """One version of a service (a Deployment; ``name`` is what records call the workload):
    ``weight`` is its share of the service's traffic relative to its siblings; ``codes`` are
    failures of this version on top of the edge's."""

    name: str
    service: str
    version: str
    weight: float
    codes: Mapping[int, float]


@dataclass(frozen=True)
class Service:
    """A Kubernetes Service (``name``: what callers call, e.g. ``fleetman-staff-service``) and the
    workloads behind it, whose pods share the label ``app`` (e.g. ``staff-service``): the
    selector of the Service and Istio's canonical service name. Its calls are made by all its
    workloads alike."""

    name: str
    app: str
    namespace: str
    port: int
    workloads: tuple[Workload, ...]
    calls: tuple[Edge, ...]

    def __post_init__(self) -> None:
        if sum(workload.weight for workload in self.workloads) <= 0:
            raise TopologyError(f"workloads: at least one workload of {self.name} needs a weight above 0")

    @property
    def host(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"


@dataclass(frozen=True)
class External:
    """A host outside the mesh declared by a ServiceEntry (MESH_EXTERNAL): only callers report it."""

    name: str
    host: str
    port: int


@dataclass(frozen=True)
class Topology:
    name: str
    services: Mapping[str, Service]
    externals: Mapping[str, External]
    ingress: tuple[Edge, ...]

    def edges(self) -> Iterator[Edge]:
        """Every edge: ingress first, then each service's calls in file order."""
        yield from self.ingress
        for service in self.services.values():
            yield from service.calls

    def workloads(self) -> Iterator[Workload]:
        for service in self.services.values():
            yield from service.workloads

    def reports_per_request(self) -> float:
        """Mean reports per request entering the mesh when nothing fails: an in-mesh call is
        reported twice (caller and callee), an ingress or external call once."""

        def below(service: str) -> float:
            return sum(
                edge.calls * (1.0 if edge.target in self.externals else 2.0 + below(edge.target))
                for edge in self.services[service].calls
            )

        return sum(edge.calls * (1 + below(edge.target)) for edge in self.ingress)

    def params(self) -> dict[Param, float]:
        """The numeric parameters a scenario may change, flat (see Param)."""
        params: dict[Param, float] = {}
        for edge in self.edges():
            latency = edge.latency
            params[("edge", edge.key, "median_ms")] = latency.median_ms
            params[("edge", edge.key, "p99_ms")] = latency.p99_ms
            if latency.max_ms is not None:
                params[("edge", edge.key, "max_ms")] = latency.max_ms
            params.update({("edge", edge.key, f"code {code}"): share for code, share in edge.codes.items()})
            params.update({("edge", edge.key, f"flag {flag}"): share for flag, share in edge.flags.items()})
        for workload in self.workloads():
            params[("workload", workload.name, "weight")] = workload.weight
            params.update({("workload", workload.name, f"code {c}"): s for c, s in workload.codes.items()})
        return params

    def with_params(self, params: Mapping[Param, float]) -> Topology:
        """This topology with ``params`` in place of its own; raises TopologyError if invalid."""
        by_target: dict[tuple[str, str], dict[str, float]] = {}
        for (kind, key, name), value in params.items():
            by_target.setdefault((kind, key), {})[name] = value

        def edge(e: Edge) -> Edge:
            values = by_target.get(("edge", e.key), {})
            latency = Latency(values["median_ms"], values["p99_ms"], values.get("max_ms"))
            return replace(e, latency=latency, codes=_rates(values, "code ", int), flags=_rates(values, "flag ", str))

        def workload(w: Workload) -> Workload:
            values = by_target.get(("workload", w.name), {})
            return replace(w, weight=values["weight"], codes=_rates(values, "code ", int))

        services = {
            name: replace(s, workloads=tuple(map(workload, s.workloads)), calls=tuple(map(edge, s.calls)))
            for name, s in self.services.items()
        }
        return replace(self, services=services, ingress=tuple(map(edge, self.ingress)))


def _rates(values: Mapping[str, float], prefix: str, key: Callable[[str], K]) -> dict[K, float]:
    rates = {key(name[len(prefix) :]): share for name, share in values.items() if name.startswith(prefix) and share > 0}
    if sum(rates.values()) > 1:
        raise TopologyError(f"{prefix.strip()} shares add up to more than 1: {rates}")
    return rates
