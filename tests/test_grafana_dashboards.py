"""Grafana's provisioning and dashboards (deploy/grafana/) checked statically: no Grafana server
runs here. The dashboards are the generator's output (Grafana's foundation SDK); each panel is a
panel type Grafana has; each datasource a dashboard names is provisioned, with its type; each
query asks what its datasource serves: a metric /grafana/metrics lists (with payload fields it
takes), a GET route of the API (with parameters it takes), or the ClickHouse SQL generated from
the rollup's spec, which the engine answers with the API's numbers.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import grafana_foundation_sdk.builders
import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from alerts.model import Edge
from api.app import create_app
from api.grafana.catalogue import METRIC
from edgewatch.edges import edge_stats
from edgewatch.settings import REPO_ROOT, Settings
from edgewatch.settle import LAG, settle
from edgewatch.windows import TimeRange
from tests.alerts.records import recent_minute, store, traffic
from tests.test_compose import api_routes, command, environment, grafana_mounts, parse_args, provisioned, services

GRAFANA = REPO_ROOT / "deploy" / "grafana"
sys.path.insert(0, str(GRAFANA))
generator = importlib.import_module("grafana_dashboards")
rollup_sql = importlib.import_module("grafana_dashboards.clickhouse")

_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def dashboards() -> dict[str, dict[str, Any]]:
    folder = grafana_mounts()[provisioned("dashboards")[0]["options"]["path"]]
    found = {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
    assert found, f"no dashboard in {folder}"
    return found


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row's


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, query) of every panel target, annotation and query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "target" in annotation:
            yield f"annotation {annotation['name']!r}", {**annotation["target"], "datasource": annotation["datasource"]}


def datasources() -> dict[str, dict[str, Any]]:
    return {datasource["uid"]: datasource for datasource in provisioned("datasources")}


def used_variables(node: Any) -> set[str]:
    text = json.dumps(node)
    return {name for name in _VARIABLE.findall(text) if not name.startswith("__")}


def test_committed_dashboards_are_the_generators_output() -> None:
    committed = {path.name: path.read_text() for path in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == generator.render(), "run `python deploy/grafana/generate.py --write`"


def test_the_dashboards_asked_for_are_provisioned() -> None:
    found = dashboards()
    assert {d["title"] for d in found.values()} == {"Mesh overview", "Edge detail"}
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids) and all(uids)
    detail = next(d for d in found.values() if d["title"] == "Edge detail")
    assert {v["name"] for v in detail["templating"]["list"]} >= {"source", "destination"}
    home = str(environment(services()["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.rpartition("/")[2] in found


def grafana_panel_types() -> set[str]:
    """The panel types of Grafana's own SDK: each builder module's Panel, and rows."""
    types = {"row"}
    for module in pkgutil.iter_modules(grafana_foundation_sdk.builders.__path__):
        builders = importlib.import_module(f"grafana_foundation_sdk.builders.{module.name}")
        panel = getattr(builders, "Panel", None)
        if module.name not in ("dashboard", "dashboardv2beta1") and panel is not None:
            built = panel().build()
            if getattr(built, "type_val", None):
                types.add(built.type_val)
    return types


def test_every_panel_is_a_grafana_panel_type() -> None:
    known = grafana_panel_types()
    assert {"timeseries", "table", "nodeGraph"} <= known
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            assert panel["type"] in known, f"{name}: panel {panel['title']!r} has type {panel['type']}"


def test_every_datasource_a_dashboard_names_is_provisioned_with_its_type() -> None:
    provisioned_sources = datasources()
    for name, dashboard in dashboards().items():
        refs = [(f"panel {p['title']!r}", p["datasource"]) for p in panels(dashboard) if "datasource" in p]
        refs += [(where, query["datasource"]) for where, query in queries(dashboard)]
        refs += [(f"variable {v['name']}", v["datasource"]) for v in dashboard["templating"]["list"]
                 if "datasource" in v]
        assert refs
        for where, ref in refs:
            assert ref["uid"] in provisioned_sources, f"{name}, {where}: datasource {ref['uid']} is not provisioned"
            assert ref["type"] == provisioned_sources[ref["uid"]]["type"], f"{name}, {where}: type {ref['type']}"


def test_datasources_reach_the_api_and_the_read_only_clickhouse_user() -> None:
    env = environment(services()["grafana"])
    plugins = {item.split("@")[0] for item in str(env["GF_PLUGINS_PREINSTALL_SYNC"]).split(",")}
    api_port = parse_args(command(services()["api"])).port
    found = datasources()
    assert set(found) == {"edgewatch-infinity", "edgewatch-json", "edgewatch-clickhouse"}
    for datasource in found.values():
        assert datasource["type"] in plugins, f"datasource {datasource['name']} needs plugin {datasource['type']}"
    infinity, simpod, clickhouse = found["edgewatch-infinity"], found["edgewatch-json"], found["edgewatch-clickhouse"]
    for datasource, path in ((infinity, ""), (simpod, "/grafana")):
        url = urlparse(datasource["url"])
        assert (url.hostname, url.port, url.path) == ("api", api_port, path), datasource["url"]
        assert datasource["access"] == "proxy"  # the custom header is sent by Grafana's server only
        assert datasource["jsonData"]["httpHeaderName1"] == "Authorization"
        assert datasource["secureJsonData"]["httpHeaderValue1"] == "Bearer ${EDGEWATCH_API_TOKEN}"
        assert "EDGEWATCH_API_TOKEN" in env
    assert infinity["url"] in infinity["jsonData"]["allowedHosts"]
    server = clickhouse["jsonData"]
    assert (server["host"], server["port"], server["protocol"]) == ("clickhouse", 8123, "http")
    assert server["username"] == "grafana" and server["defaultDatabase"] == "edgewatch"
    assert clickhouse["secureJsonData"]["password"] == "${CLICKHOUSE_GRAFANA_PASSWORD}"
    assert "CLICKHOUSE_GRAFANA_PASSWORD" in env


@pytest.fixture(scope="module")
def metrics() -> dict[str, set[str]]:
    """Metric -> payload fields, as the real application's /grafana/metrics lists them."""
    api = TestClient(create_app(Settings.model_validate({}), client=object()))  # type: ignore[arg-type]
    return {m["value"]: {p["name"] for p in m["payloads"]} for m in api.post("/grafana/metrics", json={}).json()}


def test_json_datasource_queries_name_what_it_serves(metrics: dict[str, set[str]]) -> None:
    asked: set[str] = set()
    for name, dashboard in dashboards().items():
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        for where, query in queries(dashboard):
            if query["datasource"]["uid"] != "edgewatch-json":
                continue
            assert query["target"] in metrics, f"{name}, {where}: /grafana/metrics has no {query['target']}"
            unknown = set(query.get("payload", {})) - metrics[query["target"]]
            assert not unknown, f"{name}, {where}: {query['target']} takes no payload {sorted(unknown)} (a 400)"
            asked.add(query["target"])
            assert used_variables(query) <= variables, f"{name}, {where}: undefined variables"
            if where.startswith("annotation"):
                assert METRIC[query["target"]].shape == "annotations", f"{name}, {where}"
        for panel in panels(dashboard):
            if panel["type"] == "nodeGraph":
                assert [METRIC[t["target"]].shape for t in panel["targets"]] == ["graph"], panel["title"]
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                text = variable["query"]["query"]
                target = json.loads(re.sub(r"\$(\w+)", r'"\1"', text))["target"] if variable["query"][
                    "format"] == "json" else text
                assert target in ("source", "destination", "namespace", "kind"), f"{name}: variable {variable['name']}"
    assert {"edges", "graph", "error_rate", "p99_ms", "firing_alerts", "dead_letters", "alert_events",
            "status_codes", "response_flags"} <= asked  # what the issue asks the dashboards to show


def test_infinity_queries_ask_routes_the_api_has() -> None:
    routes = api_routes()
    asked = 0
    for name, dashboard in dashboards().items():
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        for where, query in queries(dashboard):
            if query["datasource"]["uid"] != "edgewatch-infinity":
                continue
            asked += 1
            assert query["url"] in routes, f"{name}, {where}: the API has no GET {query['url']}"
            params = {param["key"]: param["value"] for param in query["url_options"].get("params", [])}
            unknown = set(params) - routes[query["url"]]
            assert not unknown, f"{name}, {where}: {query['url']} takes no {sorted(unknown)} (it answers 422)"
            assert used_variables(params) <= variables, f"{name}, {where}: undefined dashboard variables"
    assert asked


def test_clickhouse_panel_sql_is_the_rollup_specs() -> None:
    found = [query for dashboard in dashboards().values() for _, query in queries(dashboard)
             if query["datasource"]["uid"] == "edgewatch-clickhouse"]
    assert [query["rawSql"] for query in found] == [rollup_sql.rollup_edges_sql()]


@pytest.mark.clickhouse
def test_clickhouse_panel_merges_the_rollup_as_the_api_does(ch: Client) -> None:
    end = recent_minute()
    start = end - timedelta(minutes=10)
    staff = Edge("staff-service", "default", "fleetman-driver-monitoring", "", "external")
    gateway = Edge("api-gateway", "default", "fleetman-staff-service", "default", "service")
    records = traffic(staff, start, end, every=0.5, duration_ms=120.0)
    records += traffic(staff, start + timedelta(minutes=3), start + timedelta(minutes=5), every=2.0, code=504,
                       flags="UT", duration_ms=1000.0)
    records += traffic(gateway, start, end, every=1.0, code=503, duration_ms=40.0)
    records += traffic(gateway, start, end, every=0.3, duration_ms=25.0)
    store(ch, records)
    settle(ch, end + LAG + timedelta(minutes=1))
    # The datasource's macro for the range [start, end): minutes from start up to the last one before end.
    condition = f"minute >= toDateTime({int(start.timestamp())}) AND minute <= toDateTime({int(end.timestamp()) - 1})"
    result = ch.query(rollup_sql.rollup_edges_sql().replace(rollup_sql.TIME_FILTER, condition))
    panel = {(row["source"], row["destination"]): row for row in (dict(zip(result.column_names, r, strict=True))
                                                                  for r in result.result_rows)}
    api = {(e.source, e.destination): e for e in edge_stats(ch, TimeRange(start, end), end)}
    assert panel.keys() == api.keys() and len(api) == 2
    for pair, edge in api.items():
        row = panel[pair]
        assert (row["requests"], row["errors"], row["timeouts"]) == (edge.requests, edge.errors, edge.timeouts)
        assert {str(code): n for code, n in row["status_codes"].items()} == edge.status_codes
        assert row["error_rate"] == pytest.approx(edge.error_rate, abs=1e-6)
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            assert row[name] == pytest.approx(getattr(edge, name), abs=5e-4), (pair, name)  # the API rounds to 3 places
    assert panel[("staff-service", "fleetman-driver-monitoring")]["timeout_duration_min"] == 1000.0


def test_the_generators_check_passes() -> None:
    assert importlib.import_module("generate").main([]) == 0  # `generate.py` without --write: the files are current
