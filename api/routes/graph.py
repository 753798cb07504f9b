"""The service graph of a window (Kiali-like): nodes with health, edges with numbers; and the same
graph in the fields of Grafana's Node Graph panel, for the Infinity datasource."""

from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Query, Response

from api.deps import ClientDep, MeshDep, ThresholdsDep, TokenFirstRoute
from api.graph import Graph, build_graph
from api.models import GraphResponse, NodeGraphResponse, json_response
from api.nodegraph import node_graph
from api.params import EdgeWindowDep, Window
from api.routes import API_PREFIX
from edgewatch.edge import EdgeFilter
from edgewatch.edges import edge_stats
from edgewatch.health import HealthThresholds
from edgewatch.mesh.config import MeshConfig
from edgewatch.services import serving_workloads

router = APIRouter(prefix=API_PREFIX, tags=["graph"], route_class=TokenFirstRoute)


NamespaceQuery = Annotated[str | None, Query(description="Only edges with an end in this namespace.")]


def _graph(client: Client, thresholds: HealthThresholds, mesh: MeshConfig, window: Window, namespace: str | None
           ) -> Graph:
    edges = edge_stats(client, window.span, window.now, EdgeFilter(namespace=namespace), thresholds, mesh=mesh)
    return build_graph(edges, serving_workloads(client, window.span.start), thresholds)


@router.get("/graph", response_model=GraphResponse, summary="The service graph over a window")
def graph(
    client: ClientDep, thresholds: ThresholdsDep, mesh: MeshDep, window: EdgeWindowDep, namespace: NamespaceQuery = None
) -> Response:
    """Workloads, services, external hosts and unknown callers with traffic in the window,
    and the services' serving workloads seen during it."""
    built = _graph(client, thresholds, mesh, window, namespace)
    body = GraphResponse(**window.fields(), nodes=built.nodes, edges=built.edges, serves=built.serves)
    return json_response(body)


@router.get("/graph/nodegraph", response_model=NodeGraphResponse,
            summary="The service graph in Grafana's Node Graph fields (Infinity: node-graph-nodes/-edges)")
def nodegraph(
    client: ClientDep, thresholds: ThresholdsDep, mesh: MeshDep, window: EdgeWindowDep, namespace: NamespaceQuery = None
) -> Response:
    """``nodes`` and ``edges`` rows named as the Node Graph panel reads them (docs/grafana.md); the
    edges include the serves links, so every Service connects to the workloads serving it."""
    rows = node_graph(_graph(client, thresholds, mesh, window, namespace))
    return json_response(NodeGraphResponse(**window.fields(), nodes=rows.nodes, edges=rows.edges))
