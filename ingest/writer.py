"""Store batches in ClickHouse: one insert per batch, retried until it is stored.

The insert goes to ``ingest_lines`` with an ``insert_deduplication_token`` derived from the
topic, partition and offset range, so inserting the same batch twice stores it once (the
tables carry ``non_replicated_deduplication_window``; the views are deduplicated with it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator

from clickhouse_connect.driver.client import Client

from edgewatch.metrics import REGISTRY
from ingest.batches import Batch
from ingest.health import IngestHealth

log = logging.getLogger(__name__)

BATCHES = REGISTRY.counter("edgewatch_ingest_batches_total", "Batches stored in ClickHouse.")
LINES = REGISTRY.counter("edgewatch_ingest_lines_total", "Record lines (or JSON-array messages) stored.")
INSERT_ERRORS = REGISTRY.counter("edgewatch_ingest_insert_errors_total", "Failed batch inserts (retried).")
INSERT_SECONDS = REGISTRY.histogram("edgewatch_ingest_insert_seconds", "Time to store one batch.")

# Migration 0001's decoder reads an Envoy line's shipper keys and pod inside multiIf branches;
# short-circuited, each branch parses them again for its own rows: a Fluent Bit record cost
# 100-180 us of engine CPU, 28-32 us with every branch evaluated over all rows (the decoder's
# results are the same: tests/ingest). Native records are cheaper short-circuited (7-9 us
# against 10-12 us), so the setting follows the batch's first record (ingest/framing.py,
# looks_native). Measured by bench/ingest.py's cases, 2 cores, shared.
EAGER_DECODING = {"short_circuit_function_evaluation": "disable"}

# A batch stays one insert block: the engine squashes what its parallel parser splits up to
# min_insert_block_size_rows/bytes (about 1M rows, 256 MiB; Settings caps batches below).
# The views are deduplicated with the table (deduplicate_blocks_in_dependent_materialized_views
# is on by default).


BLOCK_BYTES = 1 << 20


def blocks(chunks: list[bytes], size: int = BLOCK_BYTES) -> Generator[bytes, None, None]:
    """The chunks joined into pieces of about ``size`` bytes (a chunk is never split).

    clickhouse-connect's embedded backend writes every piece it is given to a temporary file, each
    a buffered ``write``: a message of one Fluent Bit record is three small chunks, and writing
    them one by one cost 6 us a record, most of the ingester's CPU outside the engine after
    kafka-python's (bench/ingest.py, fluentbit cases). Joined, a piece is one ``write`` of a MiB;
    the batch is still never held twice in memory as a whole."""
    group: list[bytes] = []
    held = 0
    for chunk in chunks:
        group.append(chunk)
        held += len(chunk)
        if held >= size:
            yield group[0] if len(group) == 1 else b"".join(group)
            group, held = [], 0
    if group:
        yield b"".join(group)


class BatchWriter:
    """Inserts batches; ``write`` blocks until stored, or until ``stop`` is set (-> False).

    ClickHouse errors are retried with exponential backoff (0.5 s doubling to ``max_backoff``);
    a batch is never skipped. The caller commits the batch's offsets after ``write`` returns True.
    Every attempt is reported to ``health``, if given, under ``name`` (the writer's lane).
    """

    def __init__(self, client: Client, stop: threading.Event, max_backoff: float = 30.0,
                 health: IngestHealth | None = None, name: str = "writer") -> None:
        self.client = client
        self.stop = stop
        self.max_backoff = max_backoff
        self.health = health
        self.name = name

    def write(self, batch: Batch, token: str) -> bool:
        if not batch.records:
            return True
        delay = 0.5
        while True:
            started = time.perf_counter()
            if self.health is not None:
                self.health.insert_started()
            try:
                self.client.raw_insert(
                    "ingest_lines",
                    None,
                    blocks(batch.chunks),  # streamed to the engine in pieces of about a MiB
                    fmt="TSVRaw",
                    settings={"insert_deduplication_token": token} | ({} if batch.native else EAGER_DECODING),
                )
            except Exception as error:  # noqa: BLE001 - any failure is retried, never skipped
                INSERT_ERRORS.inc()
                reason = (str(error).splitlines() or [type(error).__name__])[0][:300]
                if self.health is not None:
                    self.health.insert_failed(self.name, reason)
                log.warning("storing batch %s (%d records) failed: %s; retrying in %.1f s",
                            token, batch.records, reason, delay)
                if self.stop.wait(delay):
                    return False
                delay = min(delay * 2, self.max_backoff)
                continue
            if self.health is not None:
                self.health.insert_succeeded(self.name)
            INSERT_SECONDS.observe(time.perf_counter() - started)
            BATCHES.inc()
            LINES.inc(batch.records)
            return True
