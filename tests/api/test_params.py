"""Parameter validation and the token: answered before any query, so no engine is needed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from fastapi.testclient import TestClient

from api.app import create_app
from edgewatch.settings import Settings


class NoClickHouse:
    """Stands in for the client: these requests must not reach ClickHouse."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected ClickHouse call: {name}")


class Unreachable:
    """The metrics client of an engine that does not answer: ``/metrics`` must still be served."""

    def query(self, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("the engine does not answer")


NOW = datetime(2026, 11, 26, 10, 0, 30, tzinfo=UTC)


@pytest.fixture
def api() -> TestClient:
    settings = Settings(clickhouse_url="chdb:///unused", api_token="s3cret", raw_ttl_days=7)
    return TestClient(create_app(settings, NoClickHouse(), clock=lambda: NOW,  # type: ignore[arg-type]
                                 metrics_client=Unreachable()))  # type: ignore[arg-type]


BEARER = {"Authorization": "Bearer s3cret"}


@pytest.mark.parametrize(
    ("path", "params", "field", "says"),
    [
        ("/api/v1/edges", {"window": "5x"}, "window", "30s, 5m, 1h, 24h, 7d"),
        ("/api/v1/edges", {"window": "-5m"}, "window", "not a duration"),
        ("/api/v1/edges", {"window": "1.5h"}, "window", "not a duration"),
        ("/api/v1/edges", {"window": "90s"}, "window", "whole minutes"),
        ("/api/v1/edges", {"window": "91d"}, "window", "at most 90d"),
        ("/api/v1/edges", {"kind": "pod"}, "kind", "'service', 'external' or 'unknown'"),
        ("/api/v1/edges", {"end": "yesterday"}, "end", "RFC 3339"),
        ("/api/v1/edges", {"end": "2026-11-26T10:00:00"}, "end", "with a timezone"),
        ("/api/v1/edges", {"windw": "5m"}, "windw", "this route takes: destination, end, kind, namespace"),
        ("/api/v1/graph", {"window": "0m"}, "window", "not a duration"),
        ("/api/v1/edges/timeseries", {"step": "90s"}, "step", "whole minutes"),
        ("/api/v1/edges/timeseries", {"window": "1h", "step": "7m"}, "step", "whole number of steps"),
        ("/api/v1/edges/timeseries", {"window": "8d", "step": "30s"}, "window", "at most 7d"),
        ("/api/v1/edges/timeseries", {"window": "7d", "step": "1s"}, "step", "use a larger step"),
        ("/api/v1/requests", {"status": "6xx"}, "status", "5xx, 4xx"),
        ("/api/v1/requests", {"status": "1000"}, "status", "a code 0-999"),
        ("/api/v1/requests", {"window": "8d"}, "window", "at most 7d"),
        ("/api/v1/requests", {"limit": "0"}, "limit", "greater than or equal to 1"),
        ("/api/v1/services/reviews/dependents", {"window": "1w"}, "window", "s, m, h or d"),
        ("/api/v1/alerts", {"status": "firing"}, "status", "this route takes: state"),
        ("/api/v1/alerts/history", {"limt": "5"}, "limt",
         "this route takes: destination, limit, rule, since, source, until"),
    ],
)
def test_bad_parameters_get_422_saying_what_is_accepted(
    api: TestClient, path: str, params: dict[str, str], field: str, says: str
) -> None:
    response = api.get(path, params=params, headers=BEARER)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert says in error["msg"]


def test_the_token_guards_api_and_grafana_but_not_operations(api: TestClient) -> None:
    for path in ("/api/v1/edges", "/api/v1/graph", "/api/v1/requests", "/grafana/"):
        response = api.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = api.get(path, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and "EDGEWATCH_API_TOKEN" in wrong.json()["detail"]
    assert api.get("/grafana/", headers=BEARER).json() == {"status": "ok"}
    assert api.get("/healthz").json() == {"status": "ok"}
    metrics = api.get("/metrics")
    assert metrics.status_code == 200 and "edgewatch_heap_bytes" in metrics.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/alerts/history"),
        ("GET", "/api/v1/silences"),
        ("POST", "/api/v1/silences"),
        ("DELETE", "/api/v1/silences/abc"),
        ("POST", "/api/v1/rules/backtest"),
    ],
)
def test_the_token_and_the_parameter_check_guard_the_alerting_routes(api: TestClient, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    typo = api.request(method, path, params={"expird": "true"}, headers=BEARER)
    assert typo.status_code == 422
    assert typo.json()["detail"][0]["loc"] == ["query", "expird"]


def test_grafana_targets_are_validated(api: TestClient) -> None:
    body = {"range": {"from": "2026-11-26T09:00:00Z", "to": "2026-11-26T10:00:00Z"},
            "targets": [{"target": "latency:a->b"}]}
    response = api.post("/grafana/query", json=body, headers=BEARER)
    assert response.status_code == 400  # Grafana shows a 400's message; the contract is docs/grafana.md
    assert "use one of requests, rps" in response.json()["message"]
    assert "use one of requests, rps" in response.json()["detail"][0]["msg"]
    assert api.post("/grafana/search", json={"target": "rate"}, headers=BEARER).json() == ["error_rate", "timeout_rate"]


def test_metrics_include_the_api_latency(api: TestClient) -> None:
    api.get("/api/v1/edges", params={"window": "5x"}, headers=BEARER)
    text = api.get("/metrics").text
    assert 'edgewatch_api_request_duration_seconds_count{method="GET",route="/api/v1/edges",status="422"}' in text
    assert text.startswith("# HELP") and api.get("/metrics").headers["content-type"].startswith("text/plain")


def test_openapi_documents_every_route(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/v1/edges", "/api/v1/edges/timeseries", "/api/v1/graph", "/api/v1/requests",
            "/api/v1/services/{name}/dependencies", "/api/v1/services/{name}/dependents",
            "/healthz", "/readyz", "/metrics", "/grafana/query", "/api/v1/alerts", "/api/v1/alerts/history",
            "/api/v1/silences", "/api/v1/silences/{silence_id}", "/api/v1/rules/backtest"} <= set(paths)


# Found by the API fuzzing (tests/fuzz/test_api_fuzz.py): each of these was a 500.
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "1900-01-01T00:00:00Z",
                                    "2100-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
def test_times_outside_the_store_get_422_or_400_saying_which_times_it_holds(api: TestClient, moment: str) -> None:
    """Year 9999 overflowed rounding the window up, year 1 at +01:00 converting to UTC, 1900
    reached the engine as a negative epoch (BAD_QUERY_PARAMETER); Grafana's range overflowed in
    its validator, and a validator's ValueError could not be written into the 400."""
    says = "outside the times Edgewatch stores (from 2000-01-01 to 2100-01-01)"
    for path, params, field in [
        ("/api/v1/edges", {"end": moment}, ["query", "end"]),
        ("/api/v1/requests", {"end": moment}, ["query", "end"]),
        ("/api/v1/edges/timeseries", {"end": moment, "window": "1d", "step": "1h"}, ["query", "end"]),
        ("/api/v1/graph", {"end": moment}, ["query", "end"]),
        ("/api/v1/services/reviews/dependencies", {"end": moment}, ["query", "end"]),
        ("/api/v1/alerts/history", {"since": moment}, ["query", "since"]),
        ("/api/v1/alerts/history", {"until": moment}, ["query", "until"]),
    ]:
        response = api.get(path, params=params, headers=BEARER)
        assert response.status_code == 422, (path, params, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == field and says in error["msg"], (path, error)
    backtest = {"rule": "edge-errors", "start": moment, "end": "2026-11-26T10:00:00Z"}
    response = api.post("/api/v1/rules/backtest", json=backtest, headers=BEARER)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "start"]
    query = {"range": {"from": moment, "to": "2026-11-26T10:00:00Z"}, "targets": [{"target": "requests"}]}
    response = api.post("/grafana/query", json=query, headers=BEARER)
    assert response.status_code == 400 and says in response.json()["message"], response.text


def test_the_alerting_writes_refuse_in_fastapis_422_format(api: TestClient) -> None:
    """Their own refusals had a text ``detail``; the schema (and every other 422) says a list of
    errors with ``loc`` and ``msg``."""
    refusals = [
        ("/api/v1/silences", {"destination": "x", "ends_at": "2026-11-26T09:00:00Z", "comment": "c"}, ["body"],
         "ends_at must be in the future"),
        ("/api/v1/rules/backtest", {"rule": "no-such-rule", "start": "2026-11-26T09:00:00Z",
                                    "end": "2026-11-26T10:00:00Z"}, ["body", "rule"], "no rule 'no-such-rule'"),
        ("/api/v1/rules/backtest", {"rule": "edge-errors", "start": "2026-11-26T09:00:00Z",
                                    "end": "2026-11-26T10:00:00Z", "step": "0s"}, ["body", "step"], "positive"),
        ("/api/v1/rules/backtest", {"rule": "edge-errors", "start": "2026-11-26T10:00:00Z",
                                    "end": "2026-11-26T09:00:00Z"}, ["body", "end"], "end must be after start"),
        ("/api/v1/rules/backtest", {"rule": "edge-errors", "start": "2026-11-20T10:00:00Z",
                                    "end": "2026-11-26T09:00:00Z", "step": "1s"}, ["body", "end"], "at most 1440"),
    ]
    for path, body, loc, says in refusals:
        response = api.post(path, json=body, headers=BEARER)
        assert response.status_code == 422, (path, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == loc and says in error["msg"], (body, error)
