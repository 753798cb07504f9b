"""The service graph of a window (Kiali-like): nodes with health, edges with numbers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ClientDep, MeshDep, ThresholdsDep
from api.graph import build_graph
from api.models import GraphResponse, json_response
from api.params import EdgeWindowDep
from api.routes import API_PREFIX
from edgewatch.edge import EdgeFilter
from edgewatch.edges import edge_stats
from edgewatch.services import serving_workloads

router = APIRouter(prefix=API_PREFIX, tags=["graph"])


@router.get("/graph", response_model=GraphResponse, summary="The service graph over a window")
def graph(
    client: ClientDep,
    thresholds: ThresholdsDep,
    mesh: MeshDep,
    window: EdgeWindowDep,
    namespace: Annotated[str | None, Query(description="Only edges with an end in this namespace.")] = None,
) -> Response:
    """Workloads, services, external hosts and unknown callers with traffic in the window,
    and the services' serving workloads seen during it."""
    edges = edge_stats(client, window.span, window.now, EdgeFilter(namespace=namespace), thresholds, mesh=mesh)
    serving = serving_workloads(client, window.span.start)
    built = build_graph(edges, serving, thresholds)
    body = GraphResponse(**window.fields(), nodes=built.nodes, edges=built.edges, serves=built.serves)
    return json_response(body)
