"""The service graph in Grafana's Node Graph fields: pure, from build_graph's graph."""

from __future__ import annotations

import pytest

from api.graph import build_graph
from api.nodegraph import EXTERNAL_ICON, HEALTH_COLORS, MAX_THICKNESS, SERVES_DASHES, node_graph, thickness
from edgewatch.health import DEFAULT_THRESHOLDS, Health
from edgewatch.services import ServingWorkload
from tests.api.test_graph import edge

HOST = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"


def fleetman() -> list:  # type: ignore[type-arg]
    staff = edge("staff-service", HOST, requests=100, errors=40, kind="external", destination_namespace="")
    staff.service_entry, staff.location, staff.timeout_ms = "fleetman-driver-monitoring", "MESH_EXTERNAL", 1000
    return [
        edge("webapp", "fleetman-api-gateway", requests=600),
        edge("api-gateway", "fleetman-staff-service", requests=300, errors=30, client_errors=30),
        edge("api-gateway", "fleetman-position-tracker", requests=300),
        staff,
    ]


SERVING = [ServingWorkload("fleetman-api-gateway", "default", "api-gateway"),
           ServingWorkload("fleetman-staff-service", "default", "staff-service")]


def test_every_edge_joins_two_nodes_and_services_connect_to_their_workloads() -> None:
    graph = node_graph(build_graph(fleetman(), SERVING, DEFAULT_THRESHOLDS))
    ids = {node.id for node in graph.nodes}
    assert all(e.source in ids and e.target in ids for e in graph.edges)
    links = {(e.source, e.target): e for e in graph.edges}
    path = ["workload:default/api-gateway", "service:default/fleetman-staff-service", "workload:default/staff-service",
            f"external:{HOST}"]
    assert all((a, b) in links for a, b in zip(path, path[1:], strict=False))
    serves = links[("service:default/fleetman-staff-service", "workload:default/staff-service")]
    assert (serves.detail__link, serves.strokeDasharray, serves.mainstat) == ("serves", SERVES_DASHES, None)


def test_arcs_are_the_health_fractions_of_the_traffic_a_node_answers() -> None:
    graph = node_graph(build_graph(fleetman(), SERVING, DEFAULT_THRESHOLDS))
    nodes = {node.id: node for node in graph.nodes}
    for node in graph.nodes:
        assert node.arc__ok + node.arc__client_errors + node.arc__server_errors == pytest.approx(1.0, abs=1e-9), node.id
    service = nodes["service:default/fleetman-staff-service"]
    assert (service.arc__server_errors, service.arc__client_errors) == (0.1, 0.1)
    staff = nodes["workload:default/staff-service"]  # it answers for the service it serves
    assert (staff.arc__server_errors, staff.detail__requests, staff.detail__requests_out) == (0.1, 300, 100)
    webapp = nodes["workload:default/webapp"]  # answers nothing: its own calls
    assert (webapp.arc__ok, webapp.detail__requests) == (1.0, 600)
    assert service.mainstat == pytest.approx(5.0)  # 300 requests over the edge helper's 60 s


def test_colours_from_health_and_external_hosts_marked() -> None:
    graph = node_graph(build_graph(fleetman(), SERVING, DEFAULT_THRESHOLDS))
    nodes = {node.id: node for node in graph.nodes}
    host = nodes[f"external:{HOST}"]
    assert (host.icon, host.subtitle, host.detail__service_entry) == (EXTERNAL_ICON, "fleetman-driver-monitoring",
                                                                      "fleetman-driver-monitoring")
    assert host.color == HEALTH_COLORS[Health.FAILING] and host.highlighted
    assert nodes["workload:default/webapp"].icon == "" and nodes["workload:default/webapp"].color == HEALTH_COLORS[
        Health.HEALTHY]
    calls = {(e.source, e.target): e for e in graph.edges if e.detail__link == "calls"}
    outage = calls[("workload:default/staff-service", f"external:{HOST}")]
    assert outage.color == HEALTH_COLORS[Health.FAILING] and outage.strokeDasharray  # leaves the mesh: dashed
    assert (outage.detail__timeout_ms, outage.detail__p99_ms, outage.detail__timeout_rate) == (1000, 3.0, 0.0)
    assert calls[("workload:default/webapp", "service:default/fleetman-api-gateway")].strokeDasharray == ""


def test_thickness_grows_with_rps_on_a_log_scale() -> None:
    assert thickness(0.0, 10.0) == 1.0 and thickness(10.0, 10.0) == MAX_THICKNESS
    assert 1.0 < thickness(1.0, 100.0) < thickness(10.0, 100.0) < MAX_THICKNESS
    assert thickness(5.0, 0.0) == 1.0
    graph = node_graph(build_graph(fleetman(), SERVING, DEFAULT_THRESHOLDS))
    busiest = max(graph.edges, key=lambda e: e.mainstat or 0)
    assert busiest.thickness == MAX_THICKNESS and busiest.source == "workload:default/webapp"
