"""The simPod JSON datasource's protocol (v0.6, its openapi.yaml and README) as contract tests:
the request bodies the plugin sends, the answers checked against the spec's shapes, and the
numbers of /grafana/query equal to /api/v1/edges over the same range. Real Kafka and engine.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter

from alerts import store
from alerts.model import Alert, AlertEvent, Edge, EventKind, Status
from tests.api.mesh import Mesh, api_client

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


# -- the spec's shapes (openapi.yaml), in its terms: required fields required, types strict ----


class Spec(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


class SpecOption(Spec):
    value: str
    label: str | None = None


class SpecPayload(Spec):
    name: str
    label: str | None = None
    type: Literal["select", "multi-select", "input", "textarea"] = "input"
    placeholder: str | None = None
    reloadMetric: bool = False  # noqa: N815
    width: int | None = None
    options: list[SpecOption] | None = None


class SpecMetric(Spec):
    value: str
    label: str | None = None
    payloads: list[SpecPayload]


class SpecSeries(Spec):
    target: str
    datapoints: list[Annotated[list[float | int | None], Field(min_length=2, max_length=2)]]  # [value, epoch ms]


class SpecTable(Spec):
    type: Literal["table"]
    columns: list[dict[str, str]]
    rows: list[list[Any]]


class SpecField(Spec):
    name: str
    values: list[Any]


class SpecFrame(Spec):
    fields: list[SpecField]


class SpecVariable(Spec):
    text_: str = Field(alias="__text")
    value_: str = Field(alias="__value")
    text: str
    value: str


class SpecTagKey(Spec):
    type: str
    text: str


class SpecTagValue(Spec):
    text: str


def spec(shape: Any, body: Any) -> Any:
    return TypeAdapter(shape).validate_python(body)


def grafana_range(start: datetime, end: datetime) -> dict[str, Any]:
    return {"from": start.isoformat().replace("+00:00", "Z"), "to": end.isoformat().replace("+00:00", "Z"),
            "raw": {"from": "now-5m", "to": "now"}}


def query_body(mesh: Mesh, targets: list[dict[str, Any]], minutes: int = 5, **more: Any) -> dict[str, Any]:
    """A /query body as the plugin sends it (README), over the ``minutes`` ending with the minute of now."""
    end = mesh.now.replace(second=0) + timedelta(minutes=1)
    return {"panelId": 1, "range": grafana_range(end - timedelta(minutes=minutes), end),
            "rangeRaw": {"from": f"now-{minutes}m", "to": "now"}, "interval": "15s", "intervalMs": 15_000,
            "maxDataPoints": 500, "scopedVars": {"__interval": {"text": "15s", "value": "15s"}},
            "targets": [{"refId": chr(65 + i), "datasource": {"type": "simpod-json-datasource", "uid": "x"},
                         "editorMode": "builder", **t} for i, t in enumerate(targets)],
            "filters": [], **more}


def fields(frame: dict[str, Any]) -> dict[str, list[Any]]:
    return {f["name"]: f["values"] for f in frame["fields"]}


def rows(frame: dict[str, Any]) -> list[dict[str, Any]]:
    columns = fields(frame)
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


# -- the endpoints ----------------------------------------------------------------------------


def test_connection_test_and_metric_list(mesh: Mesh) -> None:
    assert mesh.api.get("/grafana/").status_code == 200
    for body in ({}, {"metric": "p99_ms", "payload": {"source": "productpage"}}):
        metrics = spec(list[SpecMetric], mesh.api.post("/grafana/metrics", json=body).json())
        values = [m.value for m in metrics]
        assert {"requests", "rps", "errors", "error_rate", "timeouts", "timeout_rate", "p50_ms", "p95_ms", "p99_ms",
                "dead_letters", "firing_alerts", "edges", "graph", "alert_events"} <= set(values)
        p99 = next(m for m in metrics if m.value == "p99_ms")
        assert [(p.name, p.type) for p in p99.payloads] == [
            ("source", "multi-select"), ("destination", "multi-select"), ("namespace", "select"), ("kind", "select")]
        kind = next(p for p in p99.payloads if p.name == "kind")
        assert [o.value for o in kind.options or []] == ["service", "external", "unknown"]
    assert mesh.api.post("/grafana/search", json={"target": "p9"}).json() == ["p95_ms", "p99_ms"]


def test_payload_options_come_from_the_edges_seen_narrowed_by_the_payload(mesh: Mesh) -> None:
    body = {"metric": "p99_ms", "payload": {"source": "productpage"}, "name": "destination"}
    options = spec(list[SpecOption], mesh.api.post("/grafana/metric-payload-options", json=body).json())
    assert [o.value for o in options] == ["api.stripe.com", "reviews"]
    body = {"metric": "edges", "payload": {}, "name": "source"}
    sources = [o["value"] for o in mesh.api.post("/grafana/metric-payload-options", json=body).json()]
    assert sources == ["productpage", "reviews-v1", "unknown"]
    body = {"metric": "alert_events", "payload": {}, "name": "event"}
    assert [o["value"] for o in mesh.api.post("/grafana/metric-payload-options", json=body).json()][:2] == [
        "firing", "resolved"]


def test_variables_and_ad_hoc_filter_keys_and_values(mesh: Mesh) -> None:
    end = mesh.now + timedelta(minutes=1)
    body = {"payload": {"target": "destination", "source": "reviews-v1"},
            "range": grafana_range(end - timedelta(minutes=10), end)}
    items = spec(list[SpecVariable], mesh.api.post("/grafana/variable", json=body).json())
    assert [(i.text_, i.value_) for i in items] == [("details", "details"), ("ratings", "ratings")]
    everyone = mesh.api.post("/grafana/variable", json={"payload": {"target": "source"}}).json()
    assert [i["__value"] for i in everyone] == ["productpage", "reviews-v1", "unknown"]
    keys = spec(list[SpecTagKey], mesh.api.post("/grafana/tag-keys", json={}).json())
    assert {"source", "destination", "namespace", "kind"} <= {k.text for k in keys}
    values = spec(list[SpecTagValue], mesh.api.post("/grafana/tag-values", json={"key": "kind"}).json())
    assert [v.text for v in values] == ["external", "service"]
    narrowed = mesh.api.post("/grafana/tag-values", json={
        "key": "destination", "filters": [{"key": "source", "operator": "=", "value": "reviews-v1"}]}).json()
    assert [v["text"] for v in narrowed] == ["details", "ratings"]


def test_query_numbers_equal_the_edges_api_for_the_same_range(mesh: Mesh) -> None:
    body = query_body(mesh, [{"target": "edges", "payload": {}}, {"target": "requests", "payload": {}},
                             {"target": "p99_ms", "payload": {"source": "productpage", "destination": "reviews"}}])
    answer = mesh.api.post("/grafana/query", json=body).json()
    table, *series = answer
    spec(SpecFrame, table)
    api = mesh.api.get("/api/v1/edges", params={"window": "5m", "end": mesh.now.isoformat()}).json()["edges"]
    assert table["refId"] == "A" and table["name"] == "edges"
    frame_rows = rows(table)
    assert len(frame_rows) == len(api) > 0
    for row, edge in zip(frame_rows, api, strict=True):  # worst first, both
        for name in ("source", "destination", "requests", "rps", "errors", "error_rate", "timeouts", "timeout_rate",
                     "p50_ms", "p95_ms", "p99_ms", "health"):
            assert row[name] == edge[name], (edge["source"], edge["destination"], name)
    units = {f["name"]: f["config"].get("unit") for f in table["fields"]}
    assert (units["rps"], units["error_rate"], units["p99_ms"]) == ("reqps", "percentunit", "ms")

    spec(list[SpecSeries], series)
    requests = [s for s in series if s["refId"] == "B"]
    by_edge = {(s["tags"]["source"], s["tags"]["destination"]): s for s in requests}
    assert set(by_edge) == {(e["source"], e["destination"]) for e in api}  # one series per edge
    for edge in api:
        points = by_edge[(edge["source"], edge["destination"])]["datapoints"]
        assert sum(value for value, _ in points) == edge["requests"]
        assert all(ms % 60_000 == 0 for _, ms in points)
    (p99,) = [s for s in series if s["refId"] == "C"]
    assert p99["unit"] == "ms" and p99["target"] == "productpage → reviews p99_ms"
    timeseries = mesh.api.get("/api/v1/edges/timeseries", params={
        "window": "5m", "step": "1m", "end": mesh.now.isoformat(), "source": "productpage",
        "destination": "reviews"}).json()["points"]
    assert [value for value, _ in p99["datapoints"]] == [p["p99_ms"] for p in timeseries]


def test_query_honours_max_data_points_and_interval(mesh: Mesh) -> None:
    body = query_body(mesh, [{"target": "requests", "payload": {"destination": "reviews"}}], minutes=6,
                      maxDataPoints=2)
    (series,) = mesh.api.post("/grafana/query", json=body).json()
    assert len(series["datapoints"]) <= 2 and sum(v for v, _ in series["datapoints"]) == 210
    body = query_body(mesh, [{"target": "requests", "payload": {"destination": "reviews"}}], minutes=6,
                      intervalMs=180_000)
    (series,) = mesh.api.post("/grafana/query", json=body).json()
    times = [ms for _, ms in series["datapoints"]]
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {180_000}


def test_payload_and_ad_hoc_filters_choose_the_edges(mesh: Mesh) -> None:
    body = query_body(mesh, [{"target": "errors", "payload": {"source": "(productpage|reviews\\-v1)"}}],
                      filters=[{"key": "kind", "operator": "!=", "value": "external"},
                               {"key": "destination", "operator": "=~", "value": "r.*"}])
    answer = mesh.api.post("/grafana/query", json=body).json()
    assert sorted((s["tags"]["source"], s["tags"]["destination"]) for s in answer) == [
        ("productpage", "reviews"), ("reviews-v1", "ratings")]


def test_status_codes_and_flags_over_time(mesh: Mesh) -> None:
    body = query_body(mesh, [{"target": "status_codes", "payload": {"destination": "reviews"}},
                             {"target": "response_flags", "payload": {"destination": "reviews"}}])
    answer = mesh.api.post("/grafana/query", json=body).json()
    totals = {s["target"]: sum(v for v, _ in s["datapoints"]) for s in answer}
    assert totals == {"200": 190, "503": 15, "504": 5, "no flags": 205, "UT": 5}


def test_service_graph_frames(mesh: Mesh) -> None:
    nodes, edges = mesh.api.post("/grafana/query", json=query_body(mesh, [{"target": "graph"}])).json()
    spec(list[SpecFrame], [nodes, edges])
    assert (nodes["name"], edges["name"]) == ("nodes", "edges")
    assert nodes["meta"]["preferredVisualisationType"] == edges["meta"]["preferredVisualisationType"] == "nodeGraph"
    node_rows, edge_rows = rows(nodes), rows(edges)
    ids = {n["id"] for n in node_rows}
    assert all(e["source"] in ids and e["target"] in ids for e in edge_rows)
    assert ("service:default/reviews", "workload:default/reviews-v1") in {
        (e["source"], e["target"]) for e in edge_rows if e["detail__link"] == "serves"}
    for node in node_rows:
        assert math.isclose(node["arc__ok"] + node["arc__client_errors"] + node["arc__server_errors"], 1.0)
    config = {f["name"]: f["config"] for f in nodes["fields"]}
    assert (config["mainstat"]["unit"], config["secondarystat"]["unit"]) == ("reqps", "percentunit")
    assert config["arc__server_errors"]["color"]["mode"] == "fixed"
    stripe = next(n for n in node_rows if n["title"] == "api.stripe.com")
    assert stripe["icon"] == "cloud"
    infinity = mesh.api.get("/api/v1/graph/nodegraph", params={"window": "5m", "end": mesh.now.isoformat()}).json()
    assert infinity["nodes"] == node_rows and infinity["edges"] == edge_rows  # the same graph for Infinity


def test_firing_alerts_and_their_annotations(mesh: Mesh) -> None:
    edge = Edge("productpage", "default", "reviews", "default", "service")
    fired = mesh.now - timedelta(minutes=3)
    alert = Alert("edge-errors", "error_rate", "page", edge, Status.FIRING, fired - timedelta(minutes=1), fired,
                  0.095, 0.05, 210)
    store.save_alerts(mesh.client, [alert], [], mesh.now)
    resolved = Alert(**{**vars(alert), "edge": Edge("reviews-v1", "default", "details", "default", "service")})
    store.record_events(mesh.client, [AlertEvent(EventKind.FIRING, fired, alert),
                                      AlertEvent(EventKind.FIRING, fired, resolved),
                                      AlertEvent(EventKind.RESOLVED, mesh.now - timedelta(minutes=1), resolved)])
    body = query_body(mesh, [{"target": "firing_alerts", "payload": {}},
                             {"target": "alert_events", "payload": {"source": "reviews-v1"}}])
    firing, annotations = mesh.api.post("/grafana/query", json=body).json()
    assert [(r["rule"], r["source"], r["destination"]) for r in rows(firing)] == [
        ("edge-errors", "productpage", "reviews")]
    marks = rows(annotations)
    assert [m["title"] for m in marks] == ["FIRING edge-errors", "RESOLVED edge-errors"]
    assert marks[0]["time"] == int(fired.timestamp() * 1000) and marks[1]["tags"].startswith("resolved,")
    assert {f["name"]: f["type"] for f in annotations["fields"]}["time"] == "time"


def test_dead_letters_per_reason(mesh: Mesh) -> None:
    line = '{"timestamp": "yesterday", "destination_service": "x", "response_code": 200, "duration_ms": 1}'
    mesh.client.raw_insert("ingest_lines", None, f"t\t0\t999999\t{line}\n".encode(), fmt="TSVRaw")
    real_now = datetime.now(mesh.now.tzinfo)
    body = query_body(mesh, [{"target": "dead_letters"}])
    body["range"] = grafana_range(real_now - timedelta(minutes=5), real_now + timedelta(minutes=1))
    (series,) = mesh.api.post("/grafana/query", json=body).json()
    assert series["target"] == "timestamp: expected RFC 3339 or epoch milliseconds"
    assert sum(v for v, _ in series["datapoints"]) == 1


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/grafana/query", {"targets": [{"target": "requests"}]}, "range: Field required"),
    ("/grafana/query", "not json", "JSON decode error"),
    ("/grafana/query", "QUERY_UNKNOWN_METRIC", "unknown metric 'latency': use one of requests, rps"),
    ("/grafana/query", "QUERY_BAD_PAYLOAD", "this metric takes source, destination, namespace, kind, not pod"),
    ("/grafana/query", "QUERY_BAD_FILTER", "filter on one of source, destination"),
    ("/grafana/query", "QUERY_EMPTY_RANGE", "'from' .* must be before 'to'"),
    ("/grafana/metric-payload-options", {"metric": "dead_letters", "payload": {}, "name": "source"},
     "metric dead_letters takes no payload, not 'source'"),
    ("/grafana/variable", {"payload": {"target": "pods"}}, "variable query 'pods': use one of source"),
    ("/grafana/tag-values", {"key": "pod"}, "ad-hoc filter key 'pod'"),
    ("/grafana/tag-values", {}, "key: Field required"),
])
def test_what_cannot_be_answered_is_a_400_with_a_message(mesh: Mesh, path: str, body: Any, message: str) -> None:
    if body == "QUERY_UNKNOWN_METRIC":
        body = query_body(mesh, [{"target": "latency"}])
    elif body == "QUERY_BAD_PAYLOAD":
        body = query_body(mesh, [{"target": "requests", "payload": {"pod": "x"}}])
    elif body == "QUERY_BAD_FILTER":
        body = query_body(mesh, [{"target": "requests"}], filters=[{"key": "pod", "operator": "=", "value": "x"}])
    elif body == "QUERY_EMPTY_RANGE":
        body = query_body(mesh, [{"target": "edges"}])
        body["range"]["from"], body["range"]["to"] = body["range"]["to"], body["range"]["from"]
    response = (mesh.api.post(path, content=body, headers={"content-type": "application/json"})
                if isinstance(body, str) else mesh.api.post(path, json=body))
    assert response.status_code == 400, response.text
    assert re.search(message, response.json()["message"]), response.json()


def test_the_bearer_token_guards_the_datasource(mesh: Mesh) -> None:
    settings = mesh.settings.model_copy(update={"api_token": SecretStr("s3cret")})
    guarded: TestClient = api_client(settings, mesh.client, mesh.now)
    body = query_body(mesh, [{"target": "edges"}])
    assert guarded.post("/grafana/query", json=body).status_code == 401
    assert guarded.post("/grafana/metrics", json={}).status_code == 401
    answer = guarded.post("/grafana/query", json=body, headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200 and answer.json()[0]["name"] == "edges"
