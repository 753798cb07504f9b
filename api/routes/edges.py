"""Edge numbers: every edge of a window, one edge's time series, a service's neighbours."""

from __future__ import annotations

from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Path, Query, Response

from api.deps import ClientDep, MeshDep, ThresholdsDep, TokenFirstRoute
from api.models import EdgesResponse, ServiceEdgesResponse, TimeseriesResponse, json_response
from api.params import EdgeFilterDep, EdgeWindowDep, SeriesDep, Window
from api.routes import API_PREFIX
from edgewatch.edge import EdgeFilter
from edgewatch.edges import edge_stats, edge_timeseries
from edgewatch.health import HealthThresholds
from edgewatch.mesh.config import MeshConfig
from edgewatch.services import SERVING_LOOKBACK, ServiceMap, serving_workloads

router = APIRouter(prefix=API_PREFIX, tags=["edges"], route_class=TokenFirstRoute)

ServiceName = Annotated[str, Path(description="Service name, as callers address it.")]
ServiceNamespace = Annotated[str | None, Query(description="The service's namespace (default: any).")]


def _services(client: Client, window: Window, name: str, namespace: str | None) -> ServiceMap:
    """Who served service ``name`` in the week before the window's time."""
    return ServiceMap(serving_workloads(client, window.now - SERVING_LOOKBACK, service=name, namespace=namespace))


def _service_edges(
    client: Client, thresholds: HealthThresholds, mesh: MeshConfig, window: Window, name: str, namespace: str | None,
    workloads: list[str], filters: EdgeFilter,
) -> Response:
    """The body of ``/dependencies`` and ``/dependents``: the edges matching ``filters``."""
    edges = edge_stats(client, window.span, window.now, filters, thresholds, mesh=mesh)
    body = ServiceEdgesResponse(**window.fields(), service=name, namespace=namespace, workloads=workloads, edges=edges)
    return json_response(body)


@router.get("/edges", response_model=EdgesResponse, summary="Every edge's numbers over a window, worst first")
def list_edges(
    client: ClientDep, thresholds: ThresholdsDep, mesh: MeshDep, window: EdgeWindowDep, filters: EdgeFilterDep
) -> Response:
    edges = edge_stats(client, window.span, window.now, filters, thresholds, mesh=mesh)
    return json_response(EdgesResponse(**window.fields(), edges=edges))


@router.get("/edges/timeseries", response_model=TimeseriesResponse,
            summary="Requests, errors, timeouts and latency per step for the matching edges")
def edge_series(client: ClientDep, series: SeriesDep, filters: EdgeFilterDep) -> Response:
    window = series.window
    points = edge_timeseries(client, window.span, series.step, window.now, filters)
    return json_response(TimeseriesResponse(**window.fields(), step_seconds=series.step, points=points))


@router.get("/services/{name}/dependencies", response_model=ServiceEdgesResponse,
            summary="Outbound edges: what the workloads serving the service call")
def dependencies(
    client: ClientDep, thresholds: ThresholdsDep, mesh: MeshDep, window: EdgeWindowDep, name: ServiceName,
    namespace: ServiceNamespace = None,
) -> Response:
    """The callers are the workloads seen serving the service in the last week, and a
    workload named like the service (the Kubernetes habit) when none was seen."""
    workloads = sorted(_services(client, window, name, namespace).workloads(name, namespace))
    filters = EdgeFilter(sources=tuple(workloads), source_namespace=namespace)
    return _service_edges(client, thresholds, mesh, window, name, namespace, workloads, filters)


@router.get("/services/{name}/dependents", response_model=ServiceEdgesResponse,
            summary="Inbound edges: who calls the service")
def dependents(
    client: ClientDep, thresholds: ThresholdsDep, mesh: MeshDep, window: EdgeWindowDep, name: ServiceName,
    namespace: ServiceNamespace = None,
) -> Response:
    workloads = sorted(_services(client, window, name, namespace).known(name, namespace))
    filters = EdgeFilter(destinations=(name,), destination_namespace=namespace)
    return _service_edges(client, thresholds, mesh, window, name, namespace, workloads, filters)
