"""What the mesh's own config says about a destination: its ServiceEntry, its VirtualService timeout and retries.

:class:`MeshConfig` is an immutable snapshot of the ServiceEntries and VirtualServices read
from ``EDGEWATCH_MESH_CONFIG`` (edgewatch/mesh/objects.py reads them), indexed by host for
:meth:`MeshConfig.lookup`, which runs for every edge of every answer: after the first call for a
destination it is one dict lookup. :class:`edgewatch.mesh.source.MeshConfigSource` keeps a
snapshot fresh when the files change. docs/mesh-config.md is the user's side of this.

How Istio's rules are applied (istio.io reference for VirtualService and ServiceEntry):

- Hosts: a VirtualService's short host (no dot) is ``NAME.<its namespace>.svc.cluster.local``;
  ``*.example.com`` matches every host ending in ``.example.com`` (not ``example.com``) and
  ``*`` every host; the exact host wins over wildcards, a longer wildcard over a shorter one;
  of several objects for one host the oldest (``creationTimestamp``) is used, as istiod does.
- Only routes for sidecars count: a VirtualService whose ``gateways`` leave out ``mesh`` (and
  whose route's ``match[].gateways`` do not name it) configures gateways, not the callers'
  proxies, so it sets no edge's timeout.
- ``exportTo``: with ``caller_namespace`` given, objects not exported there are skipped.
- Routes are tried in order, the first matching request wins; Edgewatch cannot see the
  request's URI or headers, so every route that may take calls on the port counts until one
  that takes them all. A known port selects the routes that match it (``match[].port``) or that
  send calls to it (``route[].destination.port``: the port Envoy's ``outbound|PORT||HOST``
  cluster, and so the records, name). Of the routes that count, the shortest timeout applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from edgewatch.edge import Edge
from edgewatch.mesh.objects import HTTPRoute, Match, Meta, Retries, ServiceEntry, VirtualService

CLUSTER_DOMAIN = "cluster.local"
MESH_GATEWAY = "mesh"
_MEMO_LIMIT = 100_000  # distinct (destination, namespace, port, caller) keys; cleared when full


@dataclass(frozen=True)
class MeshFacts:
    """What the mesh's config says about calls to one destination; every field None when it says nothing."""

    service_entry: str | None = None
    """``metadata.name`` of the ServiceEntry that declares the host (e.g. ``fleetman-driver-monitoring``)."""
    service_entry_namespace: str | None = None
    location: str | None = None
    """The ServiceEntry's ``location``: ``MESH_EXTERNAL`` or ``MESH_INTERNAL``."""
    timeout_ms: int | None = None
    """The VirtualService timeout the caller's proxy applies; None: no timeout is configured."""
    retries: Retries | None = None
    """The VirtualService retry policy, where one is set (Istio's default policy is not reported)."""
    virtual_service: str | None = None
    """``namespace/name`` of the VirtualService that gave ``timeout_ms`` and ``retries``."""


NO_FACTS = MeshFacts()


@dataclass(frozen=True)
class DeclaredHost:
    """A host a ServiceEntry declares: a graph node even before any traffic reaches it."""

    host: str
    service_entry: str
    namespace: str
    location: str
    ports: tuple[int, ...]


def service_host(destination: str, namespace: str = "") -> str:
    """The host Istio matches for a destination as the records name it.

    ``fleetman-staff-service`` in ``default`` -> ``fleetman-staff-service.default.svc.cluster.local``;
    ``name.ns.svc`` gets the cluster domain; any other host (an external one) is kept, lower-cased.
    A bare name without a namespace stays bare (only a literal ServiceEntry host can match it).
    """
    host = destination.lower().rstrip(".")
    if "." not in host:
        return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}" if namespace else host
    if host.endswith(".svc"):
        return f"{host}.{CLUSTER_DOMAIN}"
    return host


def _resolve_short_name(host: str, namespace: str) -> str:
    """Istio's ResolveShortnameToFQDN for a VirtualService host: only dotless names, not ``*`` or IPv6."""
    if host == "*" or "." in host or ":" in host:
        return host
    return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"


@dataclass(frozen=True)
class _SidecarRoute:
    route: HTTPRoute
    matches: tuple[Match, ...] | None
    """The match blocks that apply to sidecars; None: the route has no ``match`` and takes everything."""

    def takes(self, port: int | None) -> bool:
        if port is None or self.matches is None:
            return True
        return any(m.port in (None, port) for m in self.matches) or port in self.route.destination_ports

    def takes_all(self, port: int | None) -> bool:
        if self.matches is None:
            return True
        ports = (None,) if port is None else (None, port)
        return any(m.port in ports and not m.conditional for m in self.matches)


@dataclass(frozen=True)
class _Routing:
    timeout_ms: int | None
    retries: Retries | None


class _Indexed(Protocol):
    @property
    def meta(self) -> Meta: ...


T = TypeVar("T", bound=_Indexed)


class _IndexedVirtualService:
    """A VirtualService's sidecar routes, evaluated once per port they name (and for any port)."""

    def __init__(self, vs: VirtualService) -> None:
        self.meta = vs.meta
        routes = [r for r in (_sidecar_route(route, vs.gateways) for route in vs.http) if r is not None]
        ports = {m.port for r in routes for m in r.matches or () if m.port} | {
            p for r in routes for p in r.route.destination_ports}
        self.any_port = _routing(routes, None)
        self.unnamed_port = _routing(routes, 0)  # 0 is no port: only routes for every port take it
        self.by_port = {port: _routing(routes, port) for port in ports}

    def routing(self, port: int | None) -> _Routing:
        return self.any_port if port is None else self.by_port.get(port, self.unnamed_port)


def _bound_to_sidecars(vs: VirtualService) -> bool:
    """Whether istiod gives ``vs`` to sidecars: ``mesh`` among its gateways or a match block's."""
    return MESH_GATEWAY in (vs.gateways or (MESH_GATEWAY,)) or any(
        MESH_GATEWAY in m.gateways for route in vs.http for m in route.matches)


def _sidecar_route(route: HTTPRoute, gateways: tuple[str, ...]) -> _SidecarRoute | None:
    default = gateways or (MESH_GATEWAY,)
    if not route.matches:
        return _SidecarRoute(route, None) if MESH_GATEWAY in default else None
    blocks = tuple(m for m in route.matches if MESH_GATEWAY in (m.gateways or default))
    return _SidecarRoute(route, blocks) if blocks else None


def _routing(routes: Sequence[_SidecarRoute], port: int | None) -> _Routing:
    taken: list[HTTPRoute] = []
    for route in routes:
        if route.takes(port):
            taken.append(route.route)
            if route.takes_all(port):
                break  # the routes after it never see a call on this port
    timeouts = [r.timeout_ms for r in taken if r.timeout_ms is not None]
    retries = [r.retries for r in taken if r.retries is not None]
    # The retry policy with the shortest per-try timeout, like the timeout; the first on a tie.
    retry = min(retries, key=lambda r: (r.per_try_timeout_ms is None, r.per_try_timeout_ms or 0), default=None)
    return _Routing(min(timeouts, default=None), retry)


class MeshConfig:
    """The ServiceEntries and VirtualServices of one read, indexed by host. Immutable; safe to share."""

    def __init__(self, service_entries: Iterable[ServiceEntry] = (), virtual_services: Iterable[VirtualService] = (),
                 ignored: Mapping[str, int] | None = None) -> None:
        self.service_entries = tuple(sorted(service_entries, key=_age))
        self.virtual_services = tuple(sorted(virtual_services, key=_age))
        self.ignored = dict(ignored or {})  # "apiVersion kind" -> objects of other kinds that were skipped
        self._entries: dict[str, list[ServiceEntry]] = {}
        for entry in self.service_entries:
            for host in entry.hosts:
                self._entries.setdefault(host, []).append(entry)
        self._routes: dict[str, list[_IndexedVirtualService]] = {}
        for vs in self.virtual_services:
            if not _bound_to_sidecars(vs):
                continue  # a gateway's VirtualService (hosts "*" often) must not shadow the sidecars' ones
            indexed = _IndexedVirtualService(vs)
            for host in dict.fromkeys(_resolve_short_name(h, vs.meta.namespace) for h in vs.hosts):
                self._routes.setdefault(host, []).append(indexed)
        self._memo: dict[tuple[str, str, int | None, str | None], MeshFacts] = {}
        self.has_timeouts = any(route.timeout_ms for vs in self.virtual_services for route in vs.http)
        """Whether any VirtualService sets a timeout (readers can skip per-edge lookups without)."""

    def lookup(self, destination: str, namespace: str = "", port: int | None = None, *,
               caller_namespace: str | None = None) -> MeshFacts:
        """What applies to calls to ``destination`` (as the records name it, see :func:`service_host`).

        ``port``: the port the records name, if known; ``caller_namespace``: the calling
        workload's namespace, for ``exportTo`` (None or empty: every object counts). Returns
        :data:`NO_FACTS` when nothing applies. Pure; memoized per argument tuple (the first
        call for a destination costs a few dict lookups, later ones one).
        """
        key = (destination, namespace, port, caller_namespace or None)
        facts = self._memo.get(key)
        if facts is None:
            facts = self._facts(service_host(destination, namespace), port, caller_namespace or None)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = facts
        return facts

    def for_edge(self, edge: Edge, port: int | None = None) -> MeshFacts:
        """:meth:`lookup` for an edge's destination, seen from its caller's namespace.

        The timeouts are the caller's proxy's: for a caller outside the mesh (``unknown``) no
        sidecar applies them; the caller decides whether to show them.
        """
        return self.lookup(edge.destination, edge.destination_namespace, port,
                           caller_namespace=edge.source_namespace or None)

    def declared_hosts(self) -> list[DeclaredHost]:
        """Every host a ServiceEntry declares, sorted; wildcard hosts are left out (they name no node)."""
        found: dict[str, DeclaredHost] = {}
        for entry in self.service_entries:  # oldest first: it wins a host declared twice, as in lookup
            for host in entry.hosts:
                if not host.startswith("*") and host not in found:
                    found[host] = DeclaredHost(host, entry.meta.name, entry.meta.namespace, entry.location,
                                               tuple(port.number for port in entry.ports))
        return [found[host] for host in sorted(found)]

    def _facts(self, host: str, port: int | None, caller: str | None) -> MeshFacts:
        entry = _most_specific(self._entries, host, caller)
        vs = _most_specific(self._routes, host, caller)
        if entry is None and vs is None:
            return NO_FACTS
        routing = vs.routing(port) if vs is not None else _Routing(None, None)
        return MeshFacts(
            service_entry=entry.meta.name if entry else None,
            service_entry_namespace=entry.meta.namespace if entry else None,
            location=entry.location if entry else None,
            timeout_ms=routing.timeout_ms,
            retries=routing.retries,
            virtual_service=vs.meta.ref if vs is not None and (routing.timeout_ms or routing.retries) else None,
        )


def _most_specific(index: Mapping[str, list[T]], host: str, caller: str | None) -> T | None:
    for candidates in _host_keys(index, host):
        for item in candidates:
            if item.meta.visible_to(caller):
                return item
    return None


def _host_keys(index: Mapping[str, list[T]], host: str) -> Iterator[list[T]]:
    """The index entries that match ``host``: exact first, then ``*.a.b.c``, ``*.b.c``, ..., ``*``."""
    if host in index:
        yield index[host]
    dot = host.find(".")
    while dot != -1:
        wildcard = "*" + host[dot:]
        if wildcard in index:
            yield index[wildcard]
        dot = host.find(".", dot + 1)
    if "*" in index:
        yield index["*"]


def _age(obj: ServiceEntry | VirtualService) -> tuple[str, str, str]:
    """Oldest first; istiod breaks ties of equal creation times by name and namespace."""
    return obj.meta.created, obj.meta.name, obj.meta.namespace


EMPTY = MeshConfig()
"""No mesh config: every lookup answers :data:`NO_FACTS`."""
