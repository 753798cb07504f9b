"""#15 guarantee 8, request bodies are size-limited: over ``EDGEWATCH_API_MAX_BODY_BYTES`` a
request gets 413 with a message before any route (or the engine) sees it, whether the body says
its length or comes chunked; a body within the limit reaches the route whole."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from edgewatch.settings import Settings
from tests.security.served import serving
from tests.security.test_access import NoClickHouse

LIMIT = 4096
JSON = {"Content-Type": "application/json"}


def app(limit: int = LIMIT) -> FastAPI:
    settings = Settings(clickhouse_url="chdb:///unused", api_max_body_bytes=limit)
    return create_app(settings, NoClickHouse())  # type: ignore[arg-type]


def silence_of_size(size: int) -> bytes:
    """A silence without ``ends_at`` (so the route answers 422 without the engine), padded to
    exactly ``size`` bytes."""
    empty = orjson.dumps({"comment": ""})
    return orjson.dumps({"comment": "x" * (size - len(empty))})


def in_chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, without Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    message = f"request body too large: at most {LIMIT} bytes (EDGEWATCH_API_MAX_BODY_BYTES)"
    assert response.json() == {"detail": message}


def test_a_declared_length_over_the_limit_gets_413() -> None:
    client = TestClient(app())
    for path in ("/api/v1/silences", "/api/v1/rules/backtest", "/grafana/query", "/grafana/search"):
        assert_too_large(client.post(path, content=silence_of_size(LIMIT + 1)))


def test_a_body_within_the_limit_reaches_the_route_whole() -> None:
    client = TestClient(app())
    response = client.post("/api/v1/silences", content=silence_of_size(LIMIT), headers=JSON)
    assert response.status_code == 422  # parsed whole: only ends_at is missing
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "ends_at"]]


def test_chunked_bodies_are_counted_as_they_come() -> None:
    with serving(app()) as url:
        assert_too_large(httpx.post(f"{url}/api/v1/silences", content=in_chunks(silence_of_size(LIMIT + 1))))
        assert_too_large(httpx.post(f"{url}/grafana/query", content=in_chunks(b"[" * 100_000)))
        within = httpx.post(f"{url}/api/v1/silences", content=in_chunks(silence_of_size(LIMIT)), headers=JSON)
        assert within.status_code == 422 and [e["loc"] for e in within.json()["detail"]] == [["body", "ends_at"]]
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}  # the server goes on


def test_the_default_limit_is_one_mebibyte() -> None:
    assert Settings().api_max_body_bytes == 1024 * 1024
    client = TestClient(app(1024 * 1024))
    assert client.post("/api/v1/silences", content=silence_of_size(1024 * 1024 + 1)).status_code == 413
    assert client.post("/api/v1/silences", content=silence_of_size(1024 * 1024), headers=JSON).status_code == 422


def test_a_limit_too_small_for_any_real_request_is_refused() -> None:
    with pytest.raises(ValidationError, match="api_max_body_bytes"):
        Settings(api_max_body_bytes=100)
