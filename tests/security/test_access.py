"""#15 guarantee 8, access: every data route refuses a missing or wrong token, compared in
constant time; writes need the admin token when one is set; the operations routes (and the
graph page, when the app serves it) stay open. Refused before any query, so no engine here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from fastapi.testclient import TestClient
from pydantic import SecretStr

import api.deps
from api.app import create_app
from edgewatch.settings import Settings

READER, ADMIN = "tok-reader-5d1e", "tok-admin-9c4b"
OPEN = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
        "/", "/ui"}  # the last two: the graph page, where the app serves it (it holds no data)
WRITES = {("POST", "/api/v1/silences"), ("DELETE", "/api/v1/silences/{silence_id}"),
          ("POST", "/api/v1/rules/backtest")}


class NoClickHouse:
    """Stands in for the client: a refused request must not reach ClickHouse."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected ClickHouse call: {name}")


class Unreachable:
    """The metrics client of an engine that does not answer: ``/metrics`` is served all the same."""

    def query(self, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("the engine does not answer")


def app_with(**tokens: Any) -> TestClient:
    settings = Settings(clickhouse_url="chdb:///unused", **tokens)
    return TestClient(create_app(settings, NoClickHouse(), metrics_client=Unreachable()))  # type: ignore[arg-type]


def data_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every route in the served OpenAPI schema, but the open ones."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, operations in paths.items() for method in operations
            if path not in OPEN]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_data_route_refuses_a_missing_or_wrong_token() -> None:
    client = app_with(api_token=READER, admin_token=ADMIN)
    routes = data_routes(client)
    assert len(routes) >= 15 and ("POST", "/grafana/query") in routes and ("GET", "/api/v1/graph") in routes
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {READER}"},
                        {"Authorization": f"Bearer {READER[:-1]}"}, {"Authorization": "Bearer"}):
            response = client.request(method, concrete(path), headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "EDGEWATCH_API_TOKEN" in response.json()["detail"]


def test_a_body_that_does_not_parse_is_refused_for_the_token_first() -> None:
    """Found by the fuzzing (tests/fuzz/test_api_fuzz.py): FastAPI parses a JSON body before it
    runs any dependency, so without a token a body that did not parse got 422 (400 from Grafana's
    routes) with the parser's complaint, instead of 401."""
    client = app_with(api_token=READER, admin_token=ADMIN)
    posts = [path for method, path in data_routes(client) if method == "POST"]
    assert len(posts) >= 8
    for path in posts:
        response = client.post(path, content=b"\x00{", headers={"Content-Type": "application/json"})
        assert response.status_code == 401, (path, response.text)
        assert "EDGEWATCH_API_TOKEN" in response.json()["detail"]


def test_operations_and_the_graph_page_stay_open() -> None:
    client = app_with(api_token=READER, admin_token=ADMIN)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    for path in ("/", "/ui", "/ui/index.html", "/ui/no-such-asset.js"):  # the graph page, where served
        assert client.get(path).status_code in {200, 404}, path
    # The schema says which operations take the bearer token: all but the operations routes.
    # (/readyz needs the engine: that it answers without a token is test_secrets.py's.)
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            guarded = {"HTTPBearer": []} in operation.get("security", [])
            assert guarded == (path not in OPEN), (method, path)


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every comparison goes through ``secrets.compare_digest``, never ``==``."""
    calls: list[tuple[bytes, bytes]] = []
    real = api.deps.secrets.compare_digest

    def spy(given: bytes, token: bytes) -> bool:
        calls.append((given, token))
        return real(given, token)

    monkeypatch.setattr(api.deps.secrets, "compare_digest", spy)
    client = app_with(api_token=READER, admin_token=ADMIN)
    assert client.get("/api/v1/edges", headers={"Authorization": "Bearer guess"}).status_code == 401
    # Both tokens are compared, whatever the guess, so the timing does not tell which was near.
    assert calls == [(b"guess", READER.encode()), (b"guess", ADMIN.encode())]
    calls.clear()
    assert client.post("/api/v1/silences", headers={"Authorization": f"Bearer {READER}"}, json={}).status_code == 403
    assert (READER.encode(), ADMIN.encode()) in calls


@pytest.mark.parametrize(("method", "path"), sorted(WRITES))
def test_writes_need_the_admin_token(method: str, path: str) -> None:
    """401 without a token, 403 with the reader's; the admin's gets past the guard (to the body
    check: these empty bodies are 422, or 404 for a silence that does not exist)."""
    client = app_with(api_token=READER, admin_token=ADMIN)
    url = concrete(path)
    assert client.request(method, url).status_code == 401
    refused = client.request(method, url, headers={"Authorization": f"Bearer {READER}"})
    assert refused.status_code == 403
    assert "EDGEWATCH_ADMIN_TOKEN" in refused.json()["detail"] and READER not in refused.text
    if method == "POST":
        accepted = client.request(method, url, headers={"Authorization": f"Bearer {ADMIN}"}, json={})
        assert accepted.status_code == 422, accepted.text


def test_the_reader_token_opens_every_data_route_but_the_writes() -> None:
    """The routes refusing the reader's token are exactly WRITES (a new write route must be added
    there); every other one lets it through (to the engine, which is missing here: 500)."""
    client = TestClient(app_with(api_token=READER, admin_token=ADMIN).app, raise_server_exceptions=False)
    refused = set()
    for method, path in data_routes(client):
        response = client.request(method, concrete(path), headers={"Authorization": f"Bearer {READER}"}, json={})
        assert response.status_code != 401, (method, path)
        if response.status_code == 403:
            refused.add((method, path))
    assert refused == WRITES
    # Grafana's POSTs (its datasource protocol: /grafana/query, /search, /metrics, /variable ...)
    # read: they take the reader's token. No other route changes state.
    by_method = {(m, p) for m, p in data_routes(client) if m in {"POST", "PUT", "PATCH", "DELETE"}}
    reads = by_method - WRITES
    assert {("POST", "/grafana/search"), ("POST", "/grafana/query")} <= reads
    assert all(m == "POST" and p.startswith("/grafana/") for m, p in reads), reads


def test_an_admin_token_alone_guards_the_writes_and_leaves_reads_open() -> None:
    client = app_with(admin_token=ADMIN)
    assert client.post("/api/v1/silences", json={}).status_code == 401
    assert client.post("/api/v1/silences", headers={"Authorization": "Bearer nope"}, json={}).status_code == 403
    assert client.post("/api/v1/silences", headers={"Authorization": f"Bearer {ADMIN}"}, json={}).status_code == 422
    assert client.get("/grafana/").json() == {"status": "ok"}  # reads need no token


def test_without_tokens_nothing_is_guarded() -> None:
    client = app_with()
    assert client.post("/api/v1/silences", json={}).status_code == 422
    assert client.get("/grafana/").json() == {"status": "ok"}


def test_an_empty_token_means_none() -> None:
    client = app_with(api_token="", admin_token="")
    assert client.post("/api/v1/silences", json={}).status_code == 422


def test_the_tokens_are_not_in_the_settings_repr() -> None:
    settings = Settings(clickhouse_url="chdb:///unused", api_token=SecretStr(READER), admin_token=SecretStr(ADMIN))
    assert READER not in repr(settings) and ADMIN not in repr(settings) and READER not in str(settings)
