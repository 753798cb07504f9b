"""The parts' adapters: the API server in a thread (real uvicorn) and the ingester's thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from edgewatch.settings import Settings
from ingest.service import IngestStats
from launch.components import Ingesting, Serving
from launch.lifecycle import StartError
from tests.api.test_http import free_port


def hello_app() -> FastAPI:
    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})
    return app


def never_done(error: BaseException | None) -> None:
    raise AssertionError(f"the part ended by itself: {error!r}")


def test_the_api_listens_once_started_and_stops_accepting_when_stopped() -> None:
    port = free_port()
    api = Serving(hello_app(), Settings(clickhouse_url="chdb:///unused", log_level="WARNING"), port=port)
    api.start(never_done)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    api.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


def test_an_api_that_cannot_listen_does_not_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        api = Serving(hello_app(), Settings(clickhouse_url="chdb:///unused", log_level="WARNING"), port=port)
        with pytest.raises(StartError, match=f"cannot serve the API on http://127.0.0.1:{port}"):
            api.start(never_done)


class FakeIngester:
    """Stands in for ``Ingester``: ``run`` blocks until stopped, or returns at once when caught up."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def run(self, stop: threading.Event, until_caught_up: bool = False, timeout_s: float | None = None,
            progress: Callable[[str], None] = print) -> IngestStats:
        if self.error is not None:
            raise self.error
        if not until_caught_up:
            stop.wait()
        return IngestStats(batches=1, records=5, messages=2)


def ended(part: Ingesting) -> list[BaseException | None]:
    seen: list[BaseException | None] = []
    part.start(seen.append)
    assert part._thread is not None
    part._thread.join(timeout=10)
    return seen


def test_the_ingester_is_done_once_caught_up_and_keeps_its_stats() -> None:
    part = Ingesting(FakeIngester(), until_caught_up=True)  # type: ignore[arg-type]
    assert ended(part) == [None]
    assert part.stats == IngestStats(batches=1, records=5, messages=2)


def test_an_ingester_error_is_handed_to_the_lifecycle() -> None:
    error = ConnectionError("no broker")
    assert ended(Ingesting(FakeIngester(error))) == [error]  # type: ignore[arg-type]


def test_a_stopped_ingester_is_not_done_by_itself() -> None:
    seen: list[Any] = []
    part = Ingesting(FakeIngester())  # type: ignore[arg-type]
    part.start(seen.append)
    part.stop()
    assert seen == [] and part.stats is not None
