"""Building the service graph from edge numbers, and the order of edges: pure."""

from api.graph import build_graph
from edgewatch.edges import EdgeStats, worst_first
from edgewatch.health import DEFAULT_THRESHOLDS, Health, classify
from edgewatch.services import ServingWorkload


def edge(source: str, destination: str, requests: int = 100, errors: int = 0, client_errors: int = 0,
         kind: str = "service", source_namespace: str = "default", destination_namespace: str = "default") -> EdgeStats:
    return EdgeStats(
        source=source, source_namespace=source_namespace, destination=destination,
        destination_namespace=destination_namespace, destination_kind=kind, requests=requests, rps=requests / 60,
        errors=errors, error_rate=errors / requests, client_errors=client_errors, timeouts=0, timeout_rate=0.0,
        p50_ms=1.0, p95_ms=2.0, p99_ms=3.0, status_codes={"200": requests - errors}, response_flags={"-": requests},
        health=classify(requests, errors, client_errors),
    )


def test_nodes_edges_and_serving_links() -> None:
    graph = build_graph(
        [
            edge("productpage", "reviews", errors=20),
            edge("reviews-v1", "ratings"),
            edge("productpage", "api.stripe.com", kind="external", destination_namespace=""),
            edge("unknown", "productpage", source_namespace=""),
        ],
        [ServingWorkload("reviews", "default", "reviews-v1"), ServingWorkload("elsewhere", "default", "x")],
        DEFAULT_THRESHOLDS,
    )
    kinds = {node.id: node.kind for node in graph.nodes}
    assert kinds == {
        "workload:default/productpage": "workload",
        "service:default/reviews": "service",
        "workload:default/reviews-v1": "workload",
        "service:default/ratings": "service",
        "external:api.stripe.com": "external",
        "unknown:unknown": "unknown",
        "service:default/productpage": "service",
    }
    assert {(e.from_, e.to) for e in graph.edges} >= {("workload:default/productpage", "external:api.stripe.com")}
    assert [(s.from_, s.to) for s in graph.serves] == [("service:default/reviews", "workload:default/reviews-v1")]


def test_node_health_is_the_worst_of_its_traffic_and_of_the_services_it_serves() -> None:
    graph = build_graph(
        [edge("productpage", "reviews", errors=20), edge("reviews-v1", "ratings")],
        [ServingWorkload("reviews", "default", "reviews-v1")],
        DEFAULT_THRESHOLDS,
    )
    health = {node.id: node.health for node in graph.nodes}
    assert health["service:default/reviews"] is Health.FAILING  # 20% server errors in
    assert health["workload:default/productpage"] is Health.FAILING  # its calls fail
    assert health["workload:default/reviews-v1"] is Health.FAILING  # it serves the failing service
    assert health["service:default/ratings"] is Health.HEALTHY
    node = next(n for n in graph.nodes if n.id == "service:default/reviews")
    assert (node.requests_in, node.requests_out) == (100, 0)


def test_serving_links_only_for_services_with_traffic_in_the_window() -> None:
    graph = build_graph([], [ServingWorkload("b", "default", "b-v1")], DEFAULT_THRESHOLDS)
    assert graph.nodes == [] and graph.serves == []


def test_edges_sort_worst_first_and_ties_by_name() -> None:
    edges = [
        edge("b", "x", source_namespace="ns2"), edge("b", "x"), edge("a", "y"), edge("a", "x"),
        edge("c", "x", requests=1000), edge("d", "x", client_errors=15), edge("e", "x", errors=20),
    ]
    order = [(e.source_namespace, e.source, e.destination) for e in sorted(edges, key=worst_first)]
    assert order == [
        ("default", "e", "x"),  # failing (20% server errors)
        ("default", "d", "x"),  # degraded (15% client errors)
        ("default", "c", "x"),  # healthy, most traffic
        ("default", "a", "x"), ("default", "a", "y"), ("default", "b", "x"), ("ns2", "b", "x"),  # ties: by name
    ]
