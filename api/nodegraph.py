"""The service graph in the fields of Grafana's Node Graph panel: pure, from :class:`api.graph.Graph`.

One row per node and one per edge, their field names the panel's own (``id``, ``title``,
``subtitle``, ``mainstat``, ``secondarystat``, ``arc__*``, ``detail__*``, ``color``, ``icon``,
``highlighted``; edges ``id``, ``source``, ``target``, ``thickness``, ``strokeDasharray``...), so
that the simPod datasource's frames (``api.grafana``) and the Infinity datasource's
``node-graph-nodes``/``node-graph-edges`` formats (``GET /api/v1/graph/nodegraph``) show the same
graph. :data:`NODE_CONFIG` and :data:`EDGE_CONFIG` are the fields' Grafana field config (units,
arc colours, names), which the frames carry and the dashboards repeat for Infinity.

The edge list holds the traffic edges and the graph's ``serves`` links (Service -> the workload
serving it, dotted and grey), which connect ``A -> svc B`` with ``B's workload -> C``; every edge's
ends are nodes. A node's numbers are those of the traffic it answers: its inbound calls; for a
workload, the inbound calls of the services it serves; for a caller that answers none (a workload
at the edge of the mesh, or callers outside it), its outbound calls. Its arcs split those calls
into ok, client errors (4xx) and server errors (5xx or no response); they sum to 1 for every node
with traffic, which every node of a graph built from edges with traffic has.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from api.graph import Graph, GraphEdge
from edgewatch.health import Health

HEALTH_COLORS = {Health.HEALTHY: "#73BF69", Health.DEGRADED: "#FF9830", Health.FAILING: "#F2495C",
                 Health.IDLE: "#8E8E8E"}
"""Grafana's green, orange, red and grey."""
SERVES_COLOR = "#8E8E8E"
SERVES_DASHES = "2 4"
EXTERNAL_DASHES = "6 3"
"""Calls that leave the mesh (to a ServiceEntry or other external host) are dashed."""
EXTERNAL_ICON = "cloud"
"""A Grafana icon: external hosts show it instead of their numbers (the edges into them carry those)."""
MAX_THICKNESS = 5.0


class NodeRow(BaseModel):
    id: str
    title: str
    subtitle: str
    mainstat: float
    secondarystat: float
    arc__ok: float
    arc__client_errors: float
    arc__server_errors: float
    color: str
    icon: str
    highlighted: bool
    detail__kind: str
    detail__namespace: str
    detail__health: str
    detail__requests: int
    detail__requests_out: int
    detail__timeout_rate: float
    detail__p99_ms: float | None
    detail__timeout_ms: int | None
    detail__service_entry: str | None
    detail__location: str | None


class EdgeRow(BaseModel):
    id: str
    source: str
    target: str
    mainstat: float | None
    secondarystat: float | None
    thickness: float
    color: str
    strokeDasharray: str  # noqa: N815 (Grafana's field name)
    highlighted: bool
    detail__link: str
    detail__health: str
    detail__requests: int | None
    detail__errors: int | None
    detail__timeouts: int | None
    detail__timeout_rate: float | None
    detail__p50_ms: float | None
    detail__p95_ms: float | None
    detail__p99_ms: float | None
    detail__timeout_ms: int | None
    detail__service_entry: str | None


class NodeGraph(BaseModel):
    nodes: list[NodeRow]
    edges: list[EdgeRow]


def _fixed(color: str, name: str) -> dict[str, Any]:
    return {"color": {"mode": "fixed", "fixedColor": color}, "displayName": name}


NODE_CONFIG: dict[str, dict[str, Any]] = {
    "mainstat": {"unit": "reqps", "displayName": "Requests/s"},
    "secondarystat": {"unit": "percentunit", "decimals": 3, "displayName": "Error rate"},
    "arc__ok": _fixed(HEALTH_COLORS[Health.HEALTHY], "OK"),
    "arc__client_errors": _fixed(HEALTH_COLORS[Health.DEGRADED], "Client errors (4xx)"),
    "arc__server_errors": _fixed(HEALTH_COLORS[Health.FAILING], "Server errors (5xx, no response)"),
    "detail__requests": {"unit": "short", "displayName": "Requests answered"},
    "detail__requests_out": {"unit": "short", "displayName": "Requests made"},
    "detail__timeout_rate": {"unit": "percentunit", "displayName": "Timeout rate"},
    "detail__p99_ms": {"unit": "ms", "displayName": "Worst p99 of its inbound edges"},
    "detail__timeout_ms": {"unit": "ms", "displayName": "Configured timeout"},
    "detail__service_entry": {"displayName": "ServiceEntry"},
}
EDGE_CONFIG: dict[str, dict[str, Any]] = {
    "mainstat": {"unit": "reqps", "displayName": "Requests/s"},
    "secondarystat": {"unit": "percentunit", "decimals": 3, "displayName": "Error rate"},
    "detail__requests": {"unit": "short", "displayName": "Requests"},
    "detail__errors": {"unit": "short", "displayName": "Server errors"},
    "detail__timeouts": {"unit": "short", "displayName": "Timeouts"},
    "detail__timeout_rate": {"unit": "percentunit", "displayName": "Timeout rate"},
    "detail__p50_ms": {"unit": "ms", "displayName": "p50"},
    "detail__p95_ms": {"unit": "ms", "displayName": "p95"},
    "detail__p99_ms": {"unit": "ms", "displayName": "p99"},
    "detail__timeout_ms": {"unit": "ms", "displayName": "Configured timeout"},
    "detail__service_entry": {"displayName": "ServiceEntry"},
}


def thickness(rps: float, busiest: float) -> float:
    """1 to :data:`MAX_THICKNESS` px, on a log scale of ``rps`` against the busiest edge's."""
    if busiest <= 0 or rps <= 0:
        return 1.0
    return round(1.0 + (MAX_THICKNESS - 1.0) * math.log1p(rps) / math.log1p(busiest), 2)


class _Answered:
    """The traffic a node answers: the edges summed."""

    def __init__(self) -> None:
        self.edges: list[GraphEdge] = []

    def add(self, edges: list[GraphEdge]) -> None:
        self.edges += edges

    def total(self, name: str) -> int:
        return sum(getattr(edge, name) for edge in self.edges)

    def ratio(self, name: str) -> float:
        requests = self.total("requests")
        return round(self.total(name) / requests, 6) if requests else 0.0


def node_graph(graph: Graph) -> NodeGraph:
    """``graph`` as Node Graph rows: its nodes, then its traffic edges and serves links."""
    inbound: dict[str, list[GraphEdge]] = defaultdict(list)
    outbound: dict[str, list[GraphEdge]] = defaultdict(list)
    for edge in graph.edges:
        inbound[edge.to].append(edge)
        outbound[edge.from_].append(edge)
    served: dict[str, list[str]] = defaultdict(list)  # workload id -> service ids
    for link in graph.serves:
        served[link.to].append(link.from_)

    nodes = []
    for node in graph.nodes:
        answered = _Answered()
        if inbound.get(node.id):
            answered.add(inbound[node.id])
        elif served.get(node.id):
            for service in served[node.id]:
                answered.add(inbound[service])
        else:
            answered.add(outbound[node.id])
        client, server = answered.ratio("client_errors"), answered.ratio("errors")
        has_traffic = answered.total("requests") > 0
        external = node.kind == "external" or (node.service_entry is not None and node.location == "MESH_EXTERNAL")
        p99s = [edge.p99_ms for edge in inbound.get(node.id, []) if edge.p99_ms is not None]
        timeouts = [edge.timeout_ms for edge in inbound.get(node.id, []) if edge.timeout_ms is not None]
        nodes.append(NodeRow(
            id=node.id, title=node.name,
            subtitle=(node.service_entry or "external host") if external else (node.namespace or node.kind),
            mainstat=round(sum(edge.rps for edge in answered.edges), 6), secondarystat=server,
            arc__ok=round(1.0 - client - server, 6) if has_traffic else 0.0,
            arc__client_errors=client, arc__server_errors=server,
            color=HEALTH_COLORS[node.health], icon=EXTERNAL_ICON if external else "",
            highlighted=node.health is Health.FAILING,
            detail__kind=node.kind, detail__namespace=node.namespace, detail__health=str(node.health),
            detail__requests=answered.total("requests"), detail__requests_out=node.requests_out,
            detail__timeout_rate=answered.ratio("timeouts"), detail__p99_ms=max(p99s, default=None),
            detail__timeout_ms=max(timeouts, default=None), detail__service_entry=node.service_entry,
            detail__location=node.location,
        ))

    busiest = max((edge.rps for edge in graph.edges), default=0.0)
    kinds = {node.id: node.kind for node in graph.nodes}
    edges = [
        EdgeRow(
            id=edge.id, source=edge.from_, target=edge.to, mainstat=edge.rps, secondarystat=edge.error_rate,
            thickness=thickness(edge.rps, busiest), color=HEALTH_COLORS[edge.health],
            strokeDasharray=EXTERNAL_DASHES if kinds[edge.to] == "external" else "",
            highlighted=edge.health is Health.FAILING, detail__link="calls", detail__health=str(edge.health),
            detail__requests=edge.requests, detail__errors=edge.errors, detail__timeouts=edge.timeouts,
            detail__timeout_rate=edge.timeout_rate, detail__p50_ms=edge.p50_ms, detail__p95_ms=edge.p95_ms,
            detail__p99_ms=edge.p99_ms, detail__timeout_ms=edge.timeout_ms, detail__service_entry=edge.service_entry,
        )
        for edge in graph.edges
    ]
    edges += [
        EdgeRow(
            id=link.id, source=link.from_, target=link.to, mainstat=None, secondarystat=None, thickness=1.0,
            color=SERVES_COLOR, strokeDasharray=SERVES_DASHES, highlighted=False, detail__link="serves",
            detail__health="", detail__requests=None, detail__errors=None, detail__timeouts=None,
            detail__timeout_rate=None, detail__p50_ms=None, detail__p95_ms=None, detail__p99_ms=None,
            detail__timeout_ms=None, detail__service_entry=None,
        )
        for link in graph.serves
    ]
    return NodeGraph(nodes=nodes, edges=edges)
