"""The edge: a caller workload calling a destination. One vocabulary for the API, alerts and Slack.

An edge is ``(source, source_namespace) -> (destination, destination_namespace,
destination_kind)``: ``source`` is the calling workload (``unknown`` for callers outside the
mesh), ``destination`` the called Service, external host or unknown upstream, and
``destination_kind`` says which (``service``, ``external``, ``unknown``). The stored tables name
the same five things by their record columns (:data:`KEY_COLUMNS`); this module is the one place
that maps the two, and that filters edges in SQL (:class:`EdgeFilter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KEY_COLUMNS = ("source_workload", "source_namespace", "destination_service", "destination_namespace",
               "destination_kind")
"""The edge's five columns in ``requests``, the rollups and the alert tables, in :class:`Edge`'s order."""
KEYS = ", ".join(KEY_COLUMNS)
"""The same, as SQL."""
OUTSIDE_THE_MESH = "unknown"
"""The ``source`` of calls from outside the mesh (no sidecar reported the caller: users, the
ingress's own clients), as Istio names it."""
EDGE_SEPARATOR = "\x1f"
EDGE_KEY = "concat(" + ", '\\x1f', ".join(KEY_COLUMNS) + ")"
"""SQL: the five columns as one string, the rollups' ``edge`` column (one key groups faster than five)."""


@dataclass(frozen=True, order=True)
class Edge:
    """Calls from a caller workload to a destination, as the caller's proxy reported them."""

    source: str
    source_namespace: str
    destination: str
    destination_namespace: str
    destination_kind: str = "service"

    @classmethod
    def from_key(cls, key: str) -> Edge:
        """The edge of an ``edge`` column value (:data:`EDGE_KEY`)."""
        src, src_ns, dst, dst_ns, kind = key.split(EDGE_SEPARATOR)
        return cls(src, src_ns, dst, dst_ns, kind)

    @property
    def key(self) -> str:
        """Stable identity: ``source_ns/source->dest_ns/dest`` (the kind follows from the destination)."""
        return f"{self.source_namespace}/{self.source}->{self.destination_namespace}/{self.destination}"

    @property
    def label(self) -> str:
        """What people read: ``webapp → staff-service``."""
        return f"{self.source} → {self.destination}"

    @property
    def external(self) -> bool:
        return self.destination_kind == "external"

    def columns(self) -> tuple[str, str, str, str, str]:
        """The values of :data:`KEY_COLUMNS`, in that order."""
        return (self.source, self.source_namespace, self.destination, self.destination_namespace,
                self.destination_kind)


@dataclass(frozen=True)
class EdgeFilter:
    """Which edges: every field narrows, an empty one matches everything.

    ``namespace`` matches either end of an edge.
    """

    sources: tuple[str, ...] = ()
    source_namespace: str | None = None
    destinations: tuple[str, ...] = ()
    destination_namespace: str | None = None
    namespace: str | None = None
    kind: str | None = None

    @classmethod
    def of(cls, edge: Edge) -> EdgeFilter:
        """Exactly ``edge``."""
        return cls(sources=(edge.source,), source_namespace=edge.source_namespace, destinations=(edge.destination,),
                   destination_namespace=edge.destination_namespace, kind=edge.destination_kind)

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A condition on the key columns (shared by requests and the rollups) and its parameters."""
        clauses, params = ["1"], {}
        for value, clause, name in (
            (self.sources, "source_workload IN {f_sources:Array(String)}", "f_sources"),
            (self.source_namespace, "source_namespace = {f_sns:String}", "f_sns"),
            (self.destinations, "destination_service IN {f_destinations:Array(String)}", "f_destinations"),
            (self.destination_namespace, "destination_namespace = {f_dns:String}", "f_dns"),
            (self.namespace, "(source_namespace = {f_ns:String} OR destination_namespace = {f_ns:String})", "f_ns"),
            (self.kind, "destination_kind = {f_kind:String}", "f_kind"),
        ):
            if value:
                clauses.append(clause)
                params[name] = list(value) if isinstance(value, tuple) else value
        return " AND ".join(clauses), params


ALL_EDGES = EdgeFilter()
