"""Publish encoded records to Kafka as newline-delimited messages of many records each.

Many records per message is the ingester's fast path (ingest/framing.py): the broker, the
consumer and the engine handle one message instead of hundreds. The producer keeps
kafka-python's defaults for safety (``acks="all"``, idempotence) and batches messages for
throughput: up to ``MESSAGE_MAX_RECORDS`` records or ``MESSAGE_MAX_BYTES`` per message, split
by ``edgewatch produce``'s rule (``edgewatch.produce.batch_lines``). The producer options are the
simulator's own: it allows larger requests than ``edgewatch produce`` and gives up on an absent
broker sooner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from edgewatch.produce import batch_lines
from edgewatch.settings import Settings

MESSAGE_MAX_RECORDS = 1000
MESSAGE_MAX_BYTES = 512 * 1024
PRODUCER_OPTIONS: dict[str, Any] = {
    "linger_ms": 20,
    "batch_size": 1024 * 1024,  # room for one full message per partition batch; smaller ones share it
    "max_request_size": 4 * 1024 * 1024,
    "bootstrap_timeout_ms": 10_000,
}


class PublishError(RuntimeError):
    """Kafka refused or lost a message (after the producer's own retries)."""


class Publisher:
    """Sends records to ``settings.kafka_topic``; not thread-safe. ``records`` and ``messages``
    count what was handed to the producer so far.

    ``send`` does not wait for the broker. Delivery failures surface as
    PublishError from a later ``send`` or from ``close``. ``close`` flushes: every record
    sent before it is acknowledged by the broker, or it raises. Construction raises
    PublishError when no broker answers within 10 seconds.
    """

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.kafka_topic
        try:
            self.producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **PRODUCER_OPTIONS)
        except KafkaError as error:
            raise PublishError(
                f"no Kafka broker answers at {settings.kafka_bootstrap} ({error}); start one with "
                "`scripts/local-kafka.sh start` or set EDGEWATCH_KAFKA_BOOTSTRAP"
            ) from error
        self.failure: BaseException | None = None
        self.records = 0
        self.messages = 0

    def send(self, lines: Sequence[bytes]) -> None:
        """Publish ``lines`` (one JSON record each, no newlines inside) in as few messages as fit."""
        self._raise_failure()
        for message, count in batch_lines(lines, MESSAGE_MAX_RECORDS, MESSAGE_MAX_BYTES):
            self.producer.send(self.topic, message).add_errback(self._remember)
            self.records += count
            self.messages += 1

    def close(self) -> None:
        """Flush everything sent, then close; raises PublishError if anything was lost."""
        try:
            self.producer.flush()
        finally:
            self.producer.close()
        self._raise_failure()

    def _remember(self, error: BaseException) -> None:
        self.failure = self.failure or error

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise PublishError(f"Kafka did not take a message for {self.topic}: {self.failure}") from self.failure
