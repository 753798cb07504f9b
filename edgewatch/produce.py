"""Publishing records to Kafka: ``edgewatch produce FILE|-`` and the message rule it shares.

Lines are sent as they are (native records or Envoy access-log lines alike); many lines go
into one Kafka message, which is the ingester's fast path. Blank lines are skipped.
``batch_lines`` is that rule; the simulator (simulator/publish.py) cuts its messages with it
too, so it lives in the shared core rather than beside the consumer in ``ingest/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from kafka import KafkaProducer

from edgewatch.settings import Settings

MAX_MESSAGE_BYTES = 900 * 1024  # under the broker's default 1 MiB message limit
PRODUCER_OPTIONS: dict[str, Any] = {
    "linger_ms": 20,
    "batch_size": 1024 * 1024,
    "max_request_size": 2 * 1024 * 1024,
    # No compression: with lz4 batches, kafka-python 3.0.12's consumer was seen to stop
    # fetching under backpressure (pause/resume) in bench/ingest.py --compression lz4.
}
"""``produce``'s KafkaProducer options (on top of kafka-python's safe defaults, ``acks="all"``
and idempotence)."""


def batch_lines(
    lines: Iterable[bytes], max_lines: int, max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[tuple[bytes, int]]:
    """Group lines into newline-delimited messages of at most ``max_lines`` / ``max_bytes``;
    yields each message with its number of lines.

    A single line longer than ``max_bytes`` travels alone (the broker may refuse it).
    """
    batch: list[bytes] = []
    size = 0
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        if batch and (len(batch) >= max_lines or size + len(line) + 1 > max_bytes):
            yield b"\n".join(batch), len(batch)
            batch, size = [], 0
        batch.append(line)
        size += len(line) + 1
    if batch:
        yield b"\n".join(batch), len(batch)


def produce(settings: Settings, source: BinaryIO, max_lines: int = 1000, progress: bool = True) -> int:
    """Publish every line of ``source`` to ``settings.kafka_topic``; returns the line count.

    Blocks until the broker acknowledged everything (``acks=all``); raises kafka errors.
    """
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","), **PRODUCER_OPTIONS)
    sent = lines = 0
    started = last = time.monotonic()
    try:
        for message, count in batch_lines(source, max_lines):
            producer.send(settings.kafka_topic, message)
            sent += 1
            lines += count
            now = time.monotonic()
            if progress and now - last >= 1:
                last = now
                print(f"produce: {lines:,} records in {sent:,} messages "
                      f"({lines / (now - started):,.0f}/s)", file=sys.stderr, flush=True)
        producer.flush()
    finally:
        producer.close()
    if progress:
        print(f"produce: published {lines:,} records in {sent:,} messages to {settings.kafka_topic}",
              file=sys.stderr)
    return lines
