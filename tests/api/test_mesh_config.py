"""The mesh's own config in use: the seed's ServiceEntry and VirtualService YAML (deploy/mesh/fleetman.yaml,
a `kubectl get -o yaml` List) read by the API, the rules and `/readyz`; real engine."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from alerts.model import Edge
from alerts.queries import observe
from alerts.rules import parse_rule
from api.app import create_app
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.settings import REPO_ROOT, Settings
from tests.alerts.records import STAFF_EXTERNAL, recent_minute, record, store, traffic

pytestmark = pytest.mark.clickhouse

SEED = REPO_ROOT / "deploy" / "mesh" / "fleetman.yaml"
HOST = STAFF_EXTERNAL.destination


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def slow_but_no_timeout(now: datetime) -> list[dict[str, object]]:
    """staff-service -> the external host for 5 minutes: p99 about 0.88 s, not one 504 (the timeout is 1 s)."""
    calls = traffic(STAFF_EXTERNAL, now - timedelta(minutes=5), now, every=1.0, duration_ms=300.0)
    for i, call in enumerate(calls):
        if i % 50 == 0:
            call["duration_ms"] = 880.0  # 2% of the calls
    return calls


def test_edges_and_the_graph_carry_what_the_mesh_config_says(ch: Client, tmp_path: Path) -> None:
    now = recent_minute()
    store(ch, slow_but_no_timeout(now))
    outside = Edge("unknown", "", HOST, "", "external")  # a caller outside the mesh: no sidecar, no timeout
    store(ch, [record(now - timedelta(seconds=30), outside, reporter="destination")])
    mesh = MeshConfigSource(SEED)
    api = TestClient(create_app(Settings.model_validate({}), ch, clock=lambda: now, mesh=mesh))
    edges = {e["source"]: e for e in api.get("/api/v1/edges", params={"window": "10m"}).json()["edges"]}
    staff = edges["staff-service"]
    assert (staff["destination"], staff["service_entry"], staff["location"]) == (
        HOST, "fleetman-driver-monitoring", "MESH_EXTERNAL")
    assert staff["timeout_ms"] == 1000  # the VirtualService's, before any call timed out
    assert staff["timeouts"] == 0
    assert (edges["unknown"]["service_entry"], edges["unknown"]["timeout_ms"]) == ("fleetman-driver-monitoring", None)
    graph = api.get("/api/v1/graph", params={"window": "10m"}).json()
    (node,) = [n for n in graph["nodes"] if n["name"] == HOST]
    assert (node["kind"], node["service_entry"], node["location"]) == ("external", "fleetman-driver-monitoring",
                                                                       "MESH_EXTERNAL")
    assert all(e["timeout_ms"] is None for e in
               TestClient(create_app(Settings.model_validate({}), ch, clock=lambda: now)).get(
                   "/api/v1/edges", params={"window": "10m"}).json()["edges"])  # no mesh config: nothing known


def test_timeout_headroom_warns_before_the_first_504(ch: Client) -> None:
    now = recent_minute() + timedelta(seconds=30)
    store(ch, slow_but_no_timeout(now))
    rule = parse_rule({"name": "headroom", "min_requests": 50, "timeout_headroom": {"fraction": 0.8, "window": "5m"}})
    assert observe(ch, rule, now) == []  # without the mesh's config: no timeout known, nothing to warn about
    (found,) = observe(ch, rule, now, MeshConfigSource(SEED).config)
    assert found.edge == STAFF_EXTERNAL
    assert found.threshold == 800.0 and found.value == pytest.approx(880.0, rel=0.02)


def test_a_broken_reload_keeps_the_last_good_config_and_readyz_says_why(ch: Client, tmp_path: Path) -> None:
    folder = tmp_path / "mesh"
    folder.mkdir()
    shutil.copy(SEED, folder / "fleetman.yaml")
    clock = Clock(datetime.now(UTC))
    mesh = MeshConfigSource(folder, clock=clock)
    now = recent_minute()
    store(ch, slow_but_no_timeout(now))
    api = TestClient(create_app(Settings.model_validate({}), ch, clock=lambda: now, mesh=mesh))
    ready = api.get("/readyz").json()
    assert ready["status"] == "ready" and ready["details"]["mesh_config"]["service_entries"] == 1

    (folder / "fleetman.yaml").write_text("apiVersion: networking.istio.io/v1\nkind: List\nitems: [ {kind: \n")
    clock.now += timedelta(seconds=10)
    ready = api.get("/readyz").json()
    assert ready["status"] == "ready"  # the last good config is still in use
    error = ready["details"]["mesh_config"]["last_error"]
    assert "fleetman.yaml" in error and "line" in error
    staff = [e for e in api.get("/api/v1/edges", params={"window": "10m"}).json()["edges"]][0]
    assert staff["timeout_ms"] == 1000

    shutil.copy(SEED, folder / "fleetman.yaml")
    (folder / "fleetman.yaml").write_text(SEED.read_text().replace("timeout: 1s", "timeout: 2s"))
    clock.now += timedelta(seconds=10)
    assert api.get("/readyz").json()["details"]["mesh_config"]["last_error"] is None
    assert api.get("/api/v1/edges", params={"window": "10m"}).json()["edges"][0]["timeout_ms"] == 2000
