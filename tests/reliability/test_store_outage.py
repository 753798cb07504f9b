"""Guarantee 3 of docs/reliability.md: while ClickHouse takes no inserts, the ingester stops
fetching, retries with backoff, says it is not ready (``/readyz`` and ``/metrics`` of its own
health endpoints and of ``edgewatch up``'s API), and afterwards stores everything, once.

The outage is injected at the writer lanes' clients: their inserts raise clickhouse-connect's
OperationalError, what a server that refuses connections or answers 5xx gives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError
from fastapi.testclient import TestClient

from api.app import create_app
from api.operations import create_operations_app
from edgewatch.clickhouse import connect
from edgewatch.settings import Settings
from ingest.service import Ingester
from ingest.store import QUEUED_PER_LANE
from tests.conftest import TEST_PARTITIONS
from tests.ingest.test_pipeline import native_line

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


class Outage:
    """Whether the store is down, and how many inserts it refused."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.refused = 0
        self._lock = threading.Lock()

    def refuse(self) -> None:
        with self._lock:
            self.refused += 1
        raise OperationalError("Error HTTPConnectionPool(host='clickhouse', port=8123): connection refused (test)")


class FailingInserts:
    """A ClickHouse client whose inserts raise while ``outage.down`` is set; all else as the client's."""

    def __init__(self, client: Client, outage: Outage) -> None:
        self._client = client
        self._outage = outage

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        if self._outage.down.is_set():
            self._outage.refuse()
        return self._client.raw_insert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _wait_for(what: str, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f} s"
        time.sleep(0.05)


def _ready_gauge(metrics: str) -> float:
    line = next(line for line in metrics.splitlines() if line.startswith("edgewatch_ingest_ready"))
    return float(line.split()[-1])


def test_a_store_outage_stops_fetching_retries_with_backoff_reports_not_ready_and_loses_nothing(
    ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
) -> None:
    settings = make_settings(batch_max_records=100, ingest_writers=2)
    outage = Outage()
    outage.down.set()
    ingester = Ingester(settings, lambda: FailingInserts(connect(settings.clickhouse_url), outage))  # type: ignore[arg-type, return-value]
    own = TestClient(create_operations_app("ingester", [ingester.health]))  # edgewatch ingest's health endpoints
    api = create_app(settings, ch)
    api.state.checks.append(ingester.health)  # as edgewatch up does
    up = TestClient(api)
    stop = threading.Event()
    worker = threading.Thread(target=ingester.run, kwargs={"stop": stop})
    worker.start()
    try:
        assert own.get("/readyz").status_code == 200
        publish(settings, [b"\n".join(native_line(i * 10 + j) for j in range(10)) for i in range(400)])
        _wait_for("no insert was refused", lambda: outage.refused > 0)
        refused_then, taken_then = outage.refused, ingester.stats.messages
        time.sleep(4.0)
        # backoff: 0.5 s doubling per lane, so a few attempts in 4 s, not a busy loop
        assert 1 <= outage.refused - refused_then <= 2 * 4, outage.refused - refused_then
        # stopped fetching: what the lanes and the batching step hold, of the 400 messages waiting
        held = (settings.ingest_writers * (QUEUED_PER_LANE + 1) + 2 * TEST_PARTITIONS) * 10
        assert ingester.stats.messages <= held and ingester.stats.messages - taken_then <= held
        answer = own.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["reason"].startswith("ingester: ClickHouse refuses the ingester's inserts for ")
        assert "connection refused (test)" in answer.json()["reason"]
        answer = up.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["reason"].startswith("ingester: ClickHouse refuses the ingester's inserts for ")
        assert _ready_gauge(own.get("/metrics").text) == 0
        assert ch.command("SELECT count() FROM requests") == 0
        outage.down.clear()
        _wait_for("not all 4,000 records stored after the outage",
                  lambda: ch.command("SELECT count() FROM requests") >= 4_000, 90)
        _wait_for("still not ready after the outage", lambda: own.get("/readyz").status_code == 200)
        assert up.get("/readyz").json()["status"] == "ready"
        assert _ready_gauge(up.get("/metrics").text) == 1
    finally:
        outage.down.clear()
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert ch.command("SELECT count() FROM requests") == 4_000
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 4_000
    assert ingester.stats.records == 4_000
