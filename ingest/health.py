"""Whether the ingester can do its work: the store's state, for ``/readyz`` and ``/metrics``.

The writer lanes (ingest/writer.py) report every insert here; a lane whose last insert failed
makes the ingester not ready until one of its inserts succeeds. Nothing here retries or
blocks: the lanes retry, and the poll step stops fetching while they cannot store (the
backpressure of ingest/step.py), so a store outage costs no memory beyond the batches in hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edgewatch.metrics import REGISTRY

READY = REGISTRY.gauge("edgewatch_ingest_ready", "1 while the ingester stores its batches, 0 while inserts fail.")
IN_FLIGHT = REGISTRY.gauge("edgewatch_ingest_inserts_in_flight", "Batch inserts running now.")
FAILING_SINCE = REGISTRY.gauge(
    "edgewatch_ingest_store_failing_seconds", "How long inserts have been failing (0 while they succeed).")


@dataclass
class _Failure:
    since: float
    attempts: int
    error: str


class IngestHealth:
    """The state of the ingester's writer lanes; thread-safe. One per ingester.

    ``problem()`` is None while every lane's last insert succeeded, else why not (readiness
    checks call it: ``name`` says whose problem it is). The gauges are process-wide, as the
    metrics registry is: one ingester per process.
    """

    name = "ingester"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failure] = {}  # by lane
        self._in_flight = 0
        READY.set(1)
        IN_FLIGHT.set(0)
        FAILING_SINCE.set(0)

    def insert_started(self) -> None:
        with self._lock:
            self._in_flight += 1
            IN_FLIGHT.set(self._in_flight)

    def insert_failed(self, lane: str, error: str) -> None:
        with self._lock:
            self._in_flight -= 1
            IN_FLIGHT.set(self._in_flight)
            failure = self._failures.get(lane)
            if failure is None:
                self._failures[lane] = _Failure(self._clock(), 1, error)
            else:
                failure.attempts += 1
                failure.error = error
            self._publish()

    def insert_succeeded(self, lane: str) -> None:
        with self._lock:
            self._in_flight -= 1
            IN_FLIGHT.set(self._in_flight)
            self._failures.pop(lane, None)
            self._publish()

    def _publish(self) -> None:
        READY.set(0 if self._failures else 1)
        oldest = min((f.since for f in self._failures.values()), default=None)
        FAILING_SINCE.set(0 if oldest is None else self._clock() - oldest)

    def problem(self) -> str | None:
        with self._lock:
            if not self._failures:
                return None
            self._publish()
            oldest = min(self._failures.values(), key=lambda f: f.since)
            attempts = sum(f.attempts for f in self._failures.values())
            return (f"ClickHouse refuses the ingester's inserts for {self._clock() - oldest.since:.0f} s "
                    f"({attempts} failed attempts, retried with backoff; no more is fetched once the lanes are full): "
                    f"{oldest.error}")
