"""The service graph, like Kiali's workload graph with service nodes: pure, from edge numbers.

Nodes are caller workloads (``workload``, or ``unknown`` for callers outside the mesh) and
called destinations (``service``, ``external`` for ServiceEntry hosts, ``unknown`` for
unknown destinations). Traffic edges go from a caller to a destination and carry the edge's
numbers. ``serves`` links go from a service to the workloads its callee's proxies reported
serving it, which is what connects ``A -> svc B`` with ``B's workload -> svc C``.

A node's health is the worst of: its inbound traffic's health, its outbound traffic's
health (totals over its edges, with the same thresholds as an edge), and for a workload
the health of the services it serves. A node with none of these is ``idle``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from edgewatch.edges import EdgeStats
from edgewatch.health import Health, HealthThresholds, classify, worst
from edgewatch.services import ServingWorkload

NodeKind = Literal["workload", "service", "external", "unknown"]


class GraphNode(BaseModel):
    id: str
    name: str
    namespace: str
    kind: NodeKind
    health: Health
    requests_in: int = Field(description="Requests on the traffic edges into this node. A workload's calls "
                             "arrive at the Services it serves (see `serves`), so they count there, not here.")
    requests_out: int = Field(description="Requests on the traffic edges out of this node.")
    service_entry: str | None = Field(default=None, description="The ServiceEntry declaring this host, if any.")
    location: str | None = Field(default=None, description="That ServiceEntry's location (MESH_EXTERNAL...).")


@dataclass(kw_only=True)
class GraphEdge(EdgeStats):
    """A traffic edge: the edge's numbers plus the ids of the nodes it joins."""

    id: str
    from_: Annotated[str, Field(serialization_alias="from")]
    to: str


class ServesLink(BaseModel):
    """Service ``from`` is served by workload ``to``."""

    id: str
    from_: str = Field(serialization_alias="from")
    to: str


class Graph(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    serves: list[ServesLink]


def node_id(kind: str, namespace: str, name: str) -> str:
    """``service:default/reviews``; ``external:api.stripe.com`` when there is no namespace."""
    return f"{kind}:{namespace}/{name}" if namespace else f"{kind}:{name}"


def _caller(edge: EdgeStats) -> tuple[str, str, NodeKind]:
    return edge.source, edge.source_namespace, "unknown" if edge.source == "unknown" else "workload"


_CALLEE_KINDS: dict[str, NodeKind] = {"external": "external", "unknown": "unknown"}  # else "service"


def _callee(edge: EdgeStats) -> tuple[str, str, NodeKind]:
    return edge.destination, edge.destination_namespace, _CALLEE_KINDS.get(edge.destination_kind, "service")


class _Totals:
    def __init__(self) -> None:
        self.requests = self.errors = self.client_errors = 0

    def add(self, edge: EdgeStats) -> None:
        self.requests += edge.requests
        self.errors += edge.errors
        self.client_errors += edge.client_errors

    def health(self, thresholds: HealthThresholds) -> Health:
        return classify(self.requests, self.errors, self.client_errors, thresholds)


def build_graph(edges: list[EdgeStats], serving: list[ServingWorkload], thresholds: HealthThresholds) -> Graph:
    """The graph of ``edges``; ``serving`` adds the workloads behind the services among them."""
    nodes: dict[str, tuple[str, str, NodeKind]] = {}
    inbound: dict[str, _Totals] = defaultdict(_Totals)
    outbound: dict[str, _Totals] = defaultdict(_Totals)
    graph_edges = []
    declared: dict[str, tuple[str, str | None]] = {}  # node id -> its ServiceEntry and location
    for edge in edges:
        caller, callee = _caller(edge), _callee(edge)
        from_id, to_id = node_id(caller[2], caller[1], caller[0]), node_id(callee[2], callee[1], callee[0])
        nodes.setdefault(from_id, caller)
        nodes.setdefault(to_id, callee)
        if edge.service_entry is not None:
            declared[to_id] = (edge.service_entry, edge.location)
        outbound[from_id].add(edge)
        inbound[to_id].add(edge)
        # vars(): the edge's fields as they are (dataclasses.asdict would also copy the two dicts)
        graph_edges.append(GraphEdge(**vars(edge), id=f"{from_id}->{to_id}", from_=from_id, to=to_id))

    served_by: dict[str, list[str]] = defaultdict(list)  # workload id -> service ids
    links = []
    for item in serving:
        service_id = node_id("service", item.namespace, item.service)
        if service_id not in nodes:
            continue
        workload_id = node_id("workload", item.namespace, item.workload)
        nodes.setdefault(workload_id, (item.workload, item.namespace, "workload"))
        served_by[workload_id].append(service_id)
        links.append(ServesLink(id=f"{service_id}=>{workload_id}", from_=service_id, to=workload_id))

    def health(node: str) -> Health:
        found = [totals[node].health(thresholds) for totals in (inbound, outbound) if node in totals]
        found += [inbound[service].health(thresholds) for service in served_by.get(node, [])]
        return worst(found)

    graph_nodes = [
        GraphNode(id=key, name=name, namespace=namespace, kind=kind, health=health(key),
                  requests_in=inbound[key].requests if key in inbound else 0,
                  requests_out=outbound[key].requests if key in outbound else 0,
                  service_entry=declared.get(key, (None, None))[0], location=declared.get(key, (None, None))[1])
        for key, (name, namespace, kind) in sorted(nodes.items())
    ]
    return Graph(nodes=graph_nodes, edges=graph_edges, serves=links)
