"""Read a topology data file (YAML, documented in docs/topology.md) into a Topology.

Pure parsing and validation: every mistake raises TopologyError naming where it is, e.g.
``services.fleetman-staff-service.calls[0].latency: need 0 < median_ms < p99_ms``. Unknown keys are
refused rather than ignored, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import yaml

from edgewatch.settings import parse_duration
from simulator.topology import (
    FLAGS,
    OUTSIDE,
    Edge,
    External,
    Latency,
    Param,
    Service,
    Topology,
    TopologyError,
    Workload,
)

FLEETMAN = Path(__file__).resolve().parent / "topologies" / "fleetman.yaml"
"""The fleet-management app of the Istio courses, with the scenarios of the Edgewatch demo."""


def read(path: Path) -> tuple[Topology, Mapping[str, Any]]:
    """Parse the file at ``path``: its topology, and its ``scenarios`` section unparsed
    (simulator.scenarios reads it). Raises TopologyError, or OSError if unreadable."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise TopologyError(f"{path}: not valid YAML: {error}") from error
    _keys(str(path), raw, {"name", "namespace", "services", "external", "ingress", "scenarios"}, {"services"})
    return parse_topology(raw), _mapping("scenarios", raw.get("scenarios") or {})


def parse_topology(raw: Mapping[str, Any]) -> Topology:
    """Build and validate a Topology from the file's top-level mapping."""
    default_namespace = str(raw.get("namespace", "default"))
    externals: dict[str, External] = {}
    for name, spec in _mapping("external", raw.get("external") or {}).items():
        _keys(f"external.{name}", spec, {"host", "port"}, {"host"})
        port = _integer(f"external.{name}.port", spec.get("port", 443), 1, 65535)
        externals[name] = External(name, str(spec["host"]), port)
    services_raw = _mapping("services", raw["services"])
    for name in services_raw:
        if name in externals or name == OUTSIDE:
            raise TopologyError(f"services.{name}: the name is taken (by an external host, or means outside)")
    services = {
        name: _service(f"services.{name}", name, spec, default_namespace) for name, spec in services_raw.items()
    }
    _refuse_duplicates("app names", [service.app for service in services.values()])
    _refuse_duplicates("workload names", [workload.name for s in services.values() for workload in s.workloads])
    ingress = tuple(
        _edge(f"ingress[{i}]", OUTSIDE, spec) for i, spec in enumerate(_list("ingress", raw.get("ingress")))
    )
    if not ingress or abs(sum(edge.calls for edge in ingress) - 1) > 1e-9:
        raise TopologyError("ingress: list the services requests enter by; their shares must add up to 1")
    topology = Topology(str(raw.get("name", "topology")), services, externals, ingress)
    _refuse_unknown_targets(topology)
    _refuse_cycles(topology)
    return topology


def override_params(where: str, spec: Any, topology: Topology) -> dict[Param, float]:
    """A scenario phase's changes (``edges:`` and ``workloads:`` sections) as flat Params."""
    _keys(where, spec, {"edges", "workloads"})
    params: dict[Param, float] = {}
    edges = {edge.key: edge for edge in topology.edges()}
    for key, changes in _mapping(f"{where}.edges", spec.get("edges") or {}).items():
        at = f"{where}.edges.{key}"
        if key not in edges:
            raise TopologyError(f"{at}: no such edge; {_edge_hint(str(key), topology, edges)}")
        _keys(at, changes, {"latency", "codes", "flags"} if edges[key].source != OUTSIDE else {"latency", "codes"})
        latency = changes.get("latency") or {}
        _keys(f"{at}.latency", latency, {"median_ms", "p99_ms", "max_ms"})
        for name, value in latency.items():
            params[("edge", key, name)] = _number(f"{at}.latency.{name}", value, 0, 3_600_000)
        for code, share in _codes(f"{at}.codes", changes.get("codes")).items():
            params[("edge", key, f"code {code}")] = share
        for flag, share in _flags(f"{at}.flags", changes.get("flags")).items():
            params[("edge", key, f"flag {flag}")] = share
    workloads = {workload.name for workload in topology.workloads()}
    for name, changes in _mapping(f"{where}.workloads", spec.get("workloads") or {}).items():
        at = f"{where}.workloads.{name}"
        if name not in workloads:
            raise TopologyError(f"{at}: no such workload; workloads: {', '.join(sorted(workloads))}")
        _keys(at, changes, {"weight", "codes"})
        if "weight" in changes:
            params[("workload", name, "weight")] = _number(f"{at}.weight", changes["weight"], 0, 1e9)
        for code, share in _codes(f"{at}.codes", changes.get("codes")).items():
            params[("workload", name, f"code {code}")] = share
    return params


def _service(where: str, name: str, spec: Any, default_namespace: str) -> Service:
    _keys(where, spec, {"port", "app", "namespace", "workloads", "calls"}, {"port"})
    app = str(spec.get("app", name))
    if app == OUTSIDE:
        raise TopologyError(f"{where}.app: {OUTSIDE!r} means outside the mesh")
    workloads = tuple(
        _workload(f"{where}.workloads[{i}]", name, w)
        for i, w in enumerate(_list(f"{where}.workloads", spec.get("workloads")))
    ) or (Workload(app, name, "v1", 1.0, {}),)
    calls = tuple(
        _edge(f"{where}.calls[{i}]", app, call) for i, call in enumerate(_list(f"{where}.calls", spec.get("calls")))
    )
    namespace = str(spec.get("namespace", default_namespace))
    try:
        return Service(name, app, namespace, _integer(f"{where}.port", spec["port"], 1, 65535), workloads, calls)
    except TopologyError as error:
        raise TopologyError(f"{where}.{error}") from error


def _workload(where: str, service: str, spec: Any) -> Workload:
    _keys(where, spec, {"name", "version", "weight", "codes"}, {"name", "version"})
    weight = _number(f"{where}.weight", spec.get("weight", 1.0), 0, 1e9)
    return Workload(
        str(spec["name"]), service, str(spec["version"]), weight, _codes(f"{where}.codes", spec.get("codes"))
    )


def _edge(where: str, source: str, spec: Any) -> Edge:
    """An edge from ``source``; its target is checked once every name is known (_refuse_unknown_targets)."""
    ingress = source == OUTSIDE
    optional = {"method", "path", "latency", "codes", "response_bytes"}
    optional |= {"share"} if ingress else {"calls", "flags", "timeout"}
    _keys(where, spec, optional | {"to"}, {"to", "latency"})
    latency = _keys(f"{where}.latency", spec["latency"], {"median_ms", "p99_ms", "max_ms"}, {"median_ms", "p99_ms"})
    values = {name: _number(f"{where}.latency.{name}", value, 0, 3_600_000) for name, value in latency.items()}
    try:
        parsed_latency = Latency(**values)
    except TopologyError as error:
        raise TopologyError(f"{where}.{error}") from error
    timeout = spec.get("timeout")
    try:
        timeout_ms = parse_duration(str(timeout)) * 1000 if timeout is not None else None
    except ValueError as error:
        raise TopologyError(f"{where}.timeout: {error}") from error
    if timeout_ms is not None and timeout_ms <= 0:
        raise TopologyError(f"{where}.timeout: must be above 0")
    return Edge(
        source=source,
        target=str(spec["to"]),
        calls=_number(
            f"{where}.{'share' if ingress else 'calls'}", spec.get("share" if ingress else "calls", 1), 0, 1000
        ),
        method=str(spec.get("method", "GET")),
        path=str(spec.get("path", "/")),
        latency=parsed_latency,
        codes=_codes(f"{where}.codes", spec.get("codes")),
        flags=_flags(f"{where}.flags", spec.get("flags")),
        timeout_ms=timeout_ms,
        response_bytes=_integer(f"{where}.response_bytes", spec.get("response_bytes", 1024), 1, 1 << 30),
    )


def _codes(where: str, spec: Any) -> dict[int, float]:
    codes = {
        _integer(f"{where}.{code}", code, 100, 599): _number(f"{where}.{code}", share, 0, 1)
        for code, share in _mapping(where, spec or {}).items()
    }
    if 200 in codes or sum(codes.values()) > 1:
        raise TopologyError(f"{where}: shares of non-200 codes, adding up to at most 1")
    return codes


def _flags(where: str, spec: Any) -> dict[str, float]:
    flags = {str(flag): _number(f"{where}.{flag}", share, 0, 1) for flag, share in _mapping(where, spec or {}).items()}
    if not set(flags) <= set(FLAGS) or sum(flags.values()) > 1:
        raise TopologyError(f"{where}: shares of {', '.join(FLAGS)}, adding up to at most 1")
    return flags


def _refuse_duplicates(what: str, names: list[str]) -> None:
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise TopologyError(f"services: {what} must be unique in the mesh: {', '.join(duplicates)}")


def _behind(topology: Topology) -> dict[str, str]:
    """App and workload names -> the Service they run behind (for hints in error messages)."""
    return {name: s.name for s in topology.services.values() for name in (s.app, *(w.name for w in s.workloads))}


def _refuse_unknown_targets(topology: Topology) -> None:
    """Calls go to a Service or an external name (ingress: to a Service), never to an app or workload."""
    located = [(f"ingress[{i}]", edge) for i, edge in enumerate(topology.ingress)]
    for service in topology.services.values():
        located += [(f"services.{service.name}.calls[{i}]", edge) for i, edge in enumerate(service.calls)]
    behind = _behind(topology)
    for where, edge in located:
        ingress = edge.source == OUTSIDE
        if edge.target in topology.services or (not ingress and edge.target in topology.externals):
            continue
        hint = f"; {edge.target!r} runs behind the Service {behind[edge.target]!r}" if edge.target in behind else ""
        what = "a service" if ingress else "a service or external host"
        raise TopologyError(f"{where}.to: {edge.target!r} is not {what}{hint}")


def _edge_hint(key: str, topology: Topology, edges: Mapping[str, Edge]) -> str:
    """Why ``key`` names no edge: the edge it likely means, or every edge there is."""
    rule = "an edge is written 'caller -> callee': the calling app, the called Service or external name"
    caller, _, callee = (part.strip() for part in key.partition("->"))
    app_of = {name: s.app for s in topology.services.values() for name in (s.name, *(w.name for w in s.workloads))}
    guess = f"{app_of.get(caller, caller)} -> {_behind(topology).get(callee, callee)}"
    if guess != key and guess in edges:
        return f"{rule}: did you mean {guess!r}?"
    return f"{rule}: {', '.join(edges)}"


def _refuse_cycles(topology: Topology) -> None:
    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise TopologyError(f"services: calls go round in a cycle: {' -> '.join((*path, name))}")
        for edge in topology.services[name].calls:
            if edge.target in topology.services:
                visit(edge.target, (*path, name))

    for name in topology.services:
        visit(name, ())


def _keys(where: str, spec: Any, allowed: set[str], required: AbstractSet[str] = frozenset()) -> Mapping[str, Any]:
    spec = _mapping(where, spec)
    if unknown := set(spec) - allowed:
        raise TopologyError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(sorted(allowed))}"
        )
    if missing := required - set(spec):
        raise TopologyError(f"{where}: missing {', '.join(sorted(missing))}")
    return spec


def _mapping(where: str, value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise TopologyError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TopologyError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _number(where: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise TopologyError(f"{where}: expected a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _integer(where: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if isinstance(value, bool | float) or not low <= number <= high:
        raise TopologyError(f"{where}: expected an integer from {low} to {high}, got {value!r}")
    return number
