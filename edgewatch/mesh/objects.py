"""Istio's ServiceEntry and VirtualService as ``kubectl get -o yaml`` prints them: YAML text -> typed objects.

Pure: text and a file name in, :class:`MeshObjects` out, or a :class:`MeshConfigError` whose
message names the file, the document, the object and the field. A document may be a
``kind: List`` (``kubectl get ... -A -o yaml``) or a typed list (``VirtualServiceList``, from
the API), a single object, or one of several ``---``-separated documents. ServiceEntry and
VirtualService of ``networking.istio.io`` v1alpha3, v1beta1 and v1 are read (the three have
the same fields); other kinds are counted in :attr:`MeshObjects.ignored`. Fields Edgewatch
does not use (``metadata.managedFields``, annotations, ``status``, ...) are not looked at,
so a newer Istio's additions do not break reading.

Durations follow Istio: a protobuf Duration read from YAML goes through Go's
``time.ParseDuration`` (``1s``, ``0.5s``, ``500ms``, ``1m30s``, ``1h``), and Istio's validation
wants at least 1 ms and whole milliseconds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

API_GROUP = "networking.istio.io"
API_VERSIONS = ("v1alpha3", "v1beta1", "v1")
LOCATIONS = ("MESH_EXTERNAL", "MESH_INTERNAL")
DEFAULT_NAMESPACE = "default"
"""Where kubectl puts an object whose manifest names no namespace (the usual context)."""

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}
# A match block with any of these only catches some requests; one without them catches all (on its port).
_CONDITIONS = ("uri", "scheme", "method", "authority", "headers", "queryParams", "withoutHeaders",
               "sourceLabels", "sourceNamespace")


class MeshConfigError(ValueError):
    """A mesh config file cannot be used; the message names the file, where in it, and why."""


def duration_ms(text: str) -> int | None:
    """An Istio duration (``1s``, ``0.5s``, ``500ms``, ``1m30s``) in milliseconds; ``0``/``0s`` -> None.

    Zero means "no timeout" (Envoy's meaning). Raises ValueError for anything Istio refuses:
    not Go's duration syntax, negative, below 1 ms, or not whole milliseconds.
    """
    if text.startswith("-"):
        raise ValueError(f"{text!r}: Istio refuses negative durations")
    text = text.removeprefix("+")
    if text == "0":
        return None
    parts = list(_GO_DURATION.finditer(text))
    if not parts or "".join(part.group(0) for part in parts) != text:
        raise ValueError(f"{text!r} is not a duration: Istio writes 1s, 0.5s, 500ms, 1m30s, 1h")
    nanos = sum(Decimal(part.group(1)) * _NANOS[part.group(2)] for part in parts)
    if nanos == 0:
        return None
    if nanos < 1_000_000:
        raise ValueError(f"{text!r}: Istio refuses durations below 1ms")
    if nanos % 1_000_000:
        raise ValueError(f"{text!r}: Istio accepts whole milliseconds only")
    return int(nanos // 1_000_000)


@dataclass(frozen=True)
class Meta:
    """Who an object is: ``metadata`` and ``spec.exportTo``."""

    kind: str
    name: str
    namespace: str
    created: str = ""
    """``metadata.creationTimestamp`` as written (RFC 3339 UTC sorts as text); empty when absent."""
    export_to: frozenset[str] | None = None
    """Namespaces that see the object; None: all (no ``exportTo``, or ``*``)."""

    @property
    def ref(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    def visible_to(self, namespace: str | None) -> bool:
        """Whether sidecars in ``namespace`` use this object; None (caller unknown) sees everything."""
        return self.export_to is None or namespace is None or namespace in self.export_to


@dataclass(frozen=True)
class ServicePort:
    number: int
    name: str = ""
    protocol: str = ""


@dataclass(frozen=True)
class ServiceEntry:
    meta: Meta
    hosts: tuple[str, ...]
    location: str = "MESH_EXTERNAL"
    """MESH_EXTERNAL (Istio's default) or MESH_INTERNAL."""
    resolution: str = "NONE"
    ports: tuple[ServicePort, ...] = ()


@dataclass(frozen=True)
class Retries:
    """``HTTPRetry``: ``attempts`` retries (0: none) of ``per_try_timeout_ms`` each (None: the route's timeout)."""

    attempts: int
    per_try_timeout_ms: int | None = None
    retry_on: str | None = None


@dataclass(frozen=True)
class Match:
    """One ``HTTPMatchRequest``: the part Edgewatch can judge (port, gateways), and whether it has more."""

    port: int | None = None
    gateways: tuple[str, ...] = ()
    """``match[].gateways``; when set, they replace the VirtualService's ``gateways`` for this block."""
    conditional: bool = False
    """It also tests the request (uri, headers, source, ...), so it catches only some of it."""


@dataclass(frozen=True)
class HTTPRoute:
    name: str = ""
    matches: tuple[Match, ...] = ()
    """Empty: the route takes every request that reaches it."""
    destination_ports: frozenset[int] = frozenset()
    """``route[].destination.port.number``: the port its calls leave on (the records' cluster port)."""
    timeout_ms: int | None = None
    retries: Retries | None = None


@dataclass(frozen=True)
class VirtualService:
    meta: Meta
    hosts: tuple[str, ...]
    """As written: short names are resolved against :attr:`Meta.namespace` by the index."""
    gateways: tuple[str, ...] = ()
    """Empty means ``mesh`` (every sidecar)."""
    http: tuple[HTTPRoute, ...] = ()


@dataclass
class MeshObjects:
    """What one or more files declare."""

    service_entries: list[ServiceEntry] = field(default_factory=list)
    virtual_services: list[VirtualService] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    """``apiVersion kind`` -> how many objects of it were skipped."""

    def extend(self, other: MeshObjects) -> None:
        self.service_entries += other.service_entries
        self.virtual_services += other.virtual_services
        self.ignored.update(other.ignored)


def read_objects(text: str, source: str) -> MeshObjects:
    """The ServiceEntries and VirtualServices in one file's ``text``. Raises MeshConfigError.

    ``source`` names the file in error messages.
    """
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as error:
        raise MeshConfigError(f"{source}: not valid YAML: {_yaml_problem(error)}") from error
    found = MeshObjects()
    for number, document in enumerate(documents, start=1):
        where = f"document {number}" if len(documents) > 1 else ""
        for obj_where, obj in _objects(document, where, source):
            _read_object(obj, obj_where, source, found)
    return found


def _yaml_problem(error: yaml.YAMLError) -> str:
    """``line 3, column 1: did not find expected ',' or ']' (while parsing a flow sequence)``."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return " ".join(str(error).split())
    mark, context = error.problem_mark, f" ({error.context})" if error.context else ""
    return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}{context}"


def _objects(document: Any, where: str, source: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if document is None:  # an empty document, e.g. after a trailing ---
        return
    if not isinstance(document, Mapping):
        raise MeshConfigError(_at(source, where, f"expected a Kubernetes object, got {type(document).__name__}"))
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in document:
        items = document.get("items") or []
        if not isinstance(items, list):
            raise MeshConfigError(_at(source, where, "items: expected a list"))
        for index, item in enumerate(items):
            item_where = _join(where, f"items[{index}]")
            if not isinstance(item, Mapping):
                raise MeshConfigError(_at(source, item_where, "expected a Kubernetes object"))
            yield item_where, item
    else:
        yield where, document


def _read_object(obj: Mapping[str, Any], where: str, source: str, found: MeshObjects) -> None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise MeshConfigError(_at(source, where, "not a Kubernetes object: it needs apiVersion and kind"))
    group, _, version = api_version.rpartition("/")
    if kind not in ("ServiceEntry", "VirtualService") or group != API_GROUP:
        found.ignored[f"{api_version} {kind}"] += 1
        return
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise MeshConfigError(_at(source, _join(where, kind), "metadata.name: missing"))
    namespace = str(metadata.get("namespace") or DEFAULT_NAMESPACE)
    where = _join(where, f"{kind} {namespace}/{name}")
    if version not in API_VERSIONS:
        raise MeshConfigError(_at(source, where, f"apiVersion {api_version}: Edgewatch reads "
                                                 + ", ".join(f"{API_GROUP}/{v}" for v in API_VERSIONS)))
    try:
        spec = _mapping(obj.get("spec"), "spec")
        meta = Meta(kind, name, namespace, str(metadata.get("creationTimestamp") or ""), _export_to(spec, namespace))
        if kind == "ServiceEntry":
            found.service_entries.append(_service_entry(meta, spec))
        else:
            found.virtual_services.append(_virtual_service(meta, spec))
    except ValueError as error:
        raise MeshConfigError(_at(source, where, str(error))) from error


def _service_entry(meta: Meta, spec: Mapping[str, Any]) -> ServiceEntry:
    hosts = _strings(spec, "hosts", "spec.hosts")
    if not hosts:
        raise ValueError("spec.hosts: a ServiceEntry needs at least one host")
    location = spec.get("location") or "MESH_EXTERNAL"
    if location not in LOCATIONS:
        raise ValueError(f"spec.location: {location!r} is not one of {', '.join(LOCATIONS)}")
    ports = []
    for index, port in enumerate(_list(spec.get("ports"), "spec.ports")):
        where = f"spec.ports[{index}]"
        port = _mapping(port, where)
        ports.append(ServicePort(_port(port.get("number"), f"{where}.number", required=True) or 0,
                                 str(port.get("name") or ""), str(port.get("protocol") or "")))
    return ServiceEntry(meta, tuple(host.lower() for host in hosts), location, str(spec.get("resolution") or "NONE"),
                        tuple(ports))


def _virtual_service(meta: Meta, spec: Mapping[str, Any]) -> VirtualService:
    routes = tuple(_http_route(_mapping(route, f"spec.http[{index}]"), f"spec.http[{index}]")
                   for index, route in enumerate(_list(spec.get("http"), "spec.http")))
    return VirtualService(meta, tuple(host.lower() for host in _strings(spec, "hosts", "spec.hosts")),
                          tuple(_strings(spec, "gateways", "spec.gateways")), routes)


def _http_route(route: Mapping[str, Any], where: str) -> HTTPRoute:
    matches = []
    for index, block in enumerate(_list(route.get("match"), f"{where}.match")):
        block_where = f"{where}.match[{index}]"
        block = _mapping(block, block_where)
        matches.append(Match(_port(block.get("port"), f"{block_where}.port"),
                             tuple(_strings(block, "gateways", f"{block_where}.gateways")),
                             any(block.get(key) not in (None, {}, []) for key in _CONDITIONS)))
    ports = set()
    for index, target in enumerate(_list(route.get("route"), f"{where}.route")):
        destination = _mapping(target, f"{where}.route[{index}]").get("destination")
        port = destination.get("port") if isinstance(destination, Mapping) else None
        number = port.get("number") if isinstance(port, Mapping) else None
        if number is not None:
            ports.add(_port(number, f"{where}.route[{index}].destination.port.number") or 0)
    return HTTPRoute(str(route.get("name") or ""), tuple(matches), frozenset(ports),
                     _duration(route.get("timeout"), f"{where}.timeout"), _retries(route.get("retries"), where))


def _retries(value: Any, where: str) -> Retries | None:
    if value is None:
        return None
    retries = _mapping(value, f"{where}.retries")
    attempts = retries.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise ValueError(f"{where}.retries.attempts: expected a whole number >= 0, got {attempts!r}")
    retry_on = retries.get("retryOn")
    return Retries(attempts, _duration(retries.get("perTryTimeout"), f"{where}.retries.perTryTimeout"),
                   None if retry_on is None else str(retry_on))


def _export_to(spec: Mapping[str, Any], namespace: str) -> frozenset[str] | None:
    targets = _strings(spec, "exportTo", "spec.exportTo")
    if not targets or "*" in targets:
        return None
    # "." is the object's own namespace; "~" (none) leaves the set empty.
    return frozenset(namespace if target == "." else target for target in targets if target != "~")


def _duration(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a duration such as 1s or 500ms, got {value!r}")
    try:
        return duration_ms(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _port(value: Any, where: str, required: bool = False) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"{where}: expected a port number 1-65535, got {value!r}")
    return value


def _strings(container: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = _list(container.get(key), where)
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"{where}: expected a list of strings, got {values!r}")
    return values


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _join(where: str, part: str) -> str:
    return f"{where}, {part}" if where else part


def _at(source: str, where: str, problem: str) -> str:
    return f"{source}: {where}: {problem}" if where else f"{source}: {problem}"
