"""The node graph draws the fleetman mesh: the simulator's Istio access-log lines decoded and
stored by the real engine, the graph read through both Grafana datasources (simPod frames and
the Infinity endpoint), with the mesh's ServiceEntry (deploy/mesh/fleetman.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from api.app import create_app
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.settings import REPO_ROOT, Settings
from edgewatch.settle import LAG, settle
from simulator.formats import encoder
from simulator.generate import generate
from simulator.scenarios import load_scenario

pytestmark = pytest.mark.clickhouse

HOST = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"
PATH = ["workload:default/api-gateway", "service:default/fleetman-staff-service", "workload:default/staff-service",
        f"external:{HOST}"]


def columns(frame: dict[str, Any]) -> list[dict[str, Any]]:
    names = [f["name"] for f in frame["fields"]]
    return [dict(zip(names, row, strict=True)) for row in zip(*(f["values"] for f in frame["fields"]), strict=True)]


def test_the_node_graph_draws_the_fleetman_mesh(ch: Client) -> None:
    scenario = load_scenario("steady")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=20)
    end = start + timedelta(minutes=5)
    encode = encoder("envoy", scenario.base)
    lines = [encode(report).decode() for report in generate(scenario, start, end, rate=100, seed=3)]
    ch.raw_insert("ingest_lines", None, "".join(f"t\t0\t{i}\t{line}\n" for i, line in enumerate(lines)).encode(),
                  fmt="TSVRaw")
    settle(ch, end + LAG + timedelta(minutes=1))  # learns which workload serves which Service from the pairs
    now = end + timedelta(minutes=1)
    api = TestClient(create_app(Settings.model_validate({}), ch, clock=lambda: now,
                                mesh=MeshConfigSource(REPO_ROOT / "deploy" / "mesh" / "fleetman.yaml")))
    body = {"range": {"from": start.isoformat(), "to": end.isoformat()}, "intervalMs": 60_000,
            "targets": [{"refId": "A", "target": "graph", "payload": {}}]}
    nodes_frame, edges_frame = api.post("/grafana/query", json=body).json()
    nodes, edges = columns(nodes_frame), columns(edges_frame)

    by_id = {node["id"]: node for node in nodes}
    links = {(edge["source"], edge["target"]) for edge in edges}
    assert all(a in by_id and b in by_id for a, b in links)  # every edge's ends are nodes
    assert all((a, b) in links for a, b in zip(PATH, PATH[1:], strict=False)), sorted(links)
    host = by_id[f"external:{HOST}"]
    assert (host["icon"], host["detail__service_entry"], host["detail__location"]) == (
        "cloud", "fleetman-driver-monitoring", "MESH_EXTERNAL")
    outage_edge = next(e for e in edges if (e["source"], e["target"]) == (PATH[2], PATH[3]))
    assert outage_edge["detail__timeout_ms"] == 1000 and outage_edge["strokeDasharray"]  # the VirtualService's 1 s

    # Connected: from the callers nobody calls (outside the mesh) every node is reached along the edges.
    reached: set[str] = set()
    todo = [node for node in by_id if all(b != node for _, b in links)]
    while todo:
        node = todo.pop()
        if node not in reached:
            reached.add(node)
            todo += [b for a, b in links if a == node]
    assert reached == set(by_id), set(by_id) - reached

    infinity = api.get("/api/v1/graph/nodegraph", params={"window": "5m", "end": end.isoformat()}).json()
    assert {n["id"] for n in infinity["nodes"]} == set(by_id)
    assert {(e["source"], e["target"]) for e in infinity["edges"]} == links
