"""The ingester: Kafka consumer group -> batches -> ClickHouse -> offset commit.

Steps, each with one job (arroyo's shape):
1. poll: the consumer thread polls Kafka and hands each message to its partition's
   ``BatchBuilder`` (ingest/batches.py), which frames it (ingest/framing.py);
2. store: closed batches go to writer lanes (threads, ``EDGEWATCH_INGEST_WRITERS``); a
   partition always uses the same lane, so its batches are stored in offset order; each
   batch is retried until it is stored (ingest/writer.py);
3. commit: the consumer thread commits a partition's offsets only after its batch was stored.

Backpressure: while two batches wait for a writer, the consumer fetches nothing more (its
group membership is kept by kafka-python's own heartbeat thread for max_poll_interval_ms,
5 minutes) instead of buffering more.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import CommitFailedError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from edgewatch.clickhouse import connect
from edgewatch.metrics import REGISTRY
from edgewatch.settings import Settings
from ingest import fastrecv
from ingest.batches import Batch, BatchBuilder, stored_batch_ends
from ingest.writer import BatchWriter

log = logging.getLogger(__name__)

LAG = REGISTRY.gauge("edgewatch_consumer_lag", "Messages published but not yet stored, per partition.")
CONSUMER_RESTARTS = REGISTRY.counter(
    "edgewatch_consumer_restarts_total", "Kafka consumers replaced because they stopped fetching while behind.")
QUEUED_PER_LANE = 2
ASSIGNMENT_TIMEOUT_S = 60.0
STALL_AFTER_S = 15.0


class _Stalled(Exception):
    """The consumer fetches nothing although its partitions have messages."""


@dataclass
class IngestStats:
    batches: int = 0
    records: int = 0  # framed rows: lines, or whole JSON-array messages
    messages: int = 0


class _Lane:
    """One writer thread with its own queue and ClickHouse client."""

    def __init__(self, name: str, client: Client, stop: threading.Event, stored: queue.Queue[Batch],
                 failed: threading.Event) -> None:
        self.queue: queue.Queue[tuple[Batch, str] | None] = queue.Queue()
        self._writer = BatchWriter(client, stop)
        self._stored = stored
        self._failed = failed
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            batch, token = item
            # After a write was given up (stop while ClickHouse is down) nothing later may be
            # stored and committed: a partition's offsets are committed in order.
            if not self._failed.is_set():
                if self._writer.write(batch, token):
                    self._stored.put(batch)
                else:
                    self._failed.set()
            self.queue.task_done()
        self.queue.task_done()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)


class Ingester:
    """Consumes ``settings.kafka_topic`` in group ``settings.kafka_group`` into ClickHouse.

    ``run`` blocks until ``stop`` is set, or with ``until_caught_up`` until everything
    published before it started is stored and committed. On stop it stores and commits the
    batches in hand first. A batch whose insert keeps failing is retried, never skipped.
    """

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self.client = client or connect(settings.clickhouse_url)
        self.stats = IngestStats()
        self._stop = threading.Event()
        self._builders: dict[TopicPartition, BatchBuilder] = {}
        self._stored: queue.Queue[Batch] = queue.Queue()
        self._to_commit: dict[TopicPartition, OffsetAndMetadata] = {}
        self._write_failed = threading.Event()
        self._lanes: list[_Lane] = []
        self._topic_ids: dict[str, str] = {}
        self._kafka: KafkaConsumer | None = None
        self.stall_after_s = STALL_AFTER_S

    # -- public -------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, until_caught_up: bool = False) -> IngestStats:
        if stop is not None:
            self._stop = stop
        fastrecv.install()  # process-wide and idempotent: once, not for every consumer
        fastrecv.keep_freed_memory()
        self._kafka = consumer = self._consumer()
        self._lanes = [
            _Lane(f"edgewatch-writer-{i}", self.client if i == 0 else connect(self.settings.clickhouse_url),
                  self._stop, self._stored, self._write_failed)
            for i in range(self.settings.ingest_writers)
        ]
        try:
            while True:
                try:
                    self._consume(consumer, until_caught_up)
                    break
                except _Stalled:
                    self._kafka = consumer = self._replace_consumer(consumer)
            self._store_all(consumer)
        finally:
            for lane in self._lanes:
                lane.close()
            self._kafka.close(autocommit=False)
        return self.stats

    # -- step 1: poll and batch ---------------------------------------------------------
    def _consumer(self) -> KafkaConsumer:
        listener = _Rebalance(self)
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap.split(","),
            group_id=self.settings.kafka_group,
            client_id=f"edgewatch-ingest-{os.getpid()}-{id(self):x}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            max_poll_records=2000,
            # A topic created just before the consumer joined is otherwise only seen at the
            # next metadata refresh (5 minutes by default).
            metadata_max_age_ms=10_000,
            # Kafka's own default since 3.0; kafka-python's 10 s drops a busy process from the
            # group when its IO thread misses a few heartbeats.
            session_timeout_ms=45_000,
            # Incremental rebalances (KIP-429): only partitions that move are revoked, after the
            # SyncGroup. With the eager assignors, a revocation that waited for the writers
            # outlived poll()'s timeout and kafka-python 3.0.12 then never applied the new
            # assignment (docs/records.md, "A consumer that stops fetching").
            partition_assignment_strategy=[CooperativeStickyAssignor],
        )
        # Know the topic's partitions before joining the group: a group leader without them
        # assigns nothing, and the group only rebalances at the next metadata refresh.
        if not consumer.partitions_for_topic(self.settings.kafka_topic):
            log.warning("topic %s has no partitions yet on %s; waiting for it to be created",
                        self.settings.kafka_topic, self.settings.kafka_bootstrap)
        listener.net = consumer._net  # kafka-python's event loop, whose sleep the listener awaits
        consumer.subscribe([self.settings.kafka_topic], listener=listener)
        return consumer

    def _consume(self, consumer: KafkaConsumer, until_caught_up: bool) -> None:
        targets: dict[TopicPartition, int] | None = None
        started = last_report = last_records = time.monotonic()
        while not self._stop.is_set() and not self._write_failed.is_set():
            self._commit_stored(consumer)
            if any(lane.queue.qsize() >= QUEUED_PER_LANE for lane in self._lanes):
                # Backpressure: fetch nothing more until a writer catches up. (Not pause():
                # kafka-python 3.0.12 consumers were seen to stop fetching after a resume.)
                # Heartbeats go on in kafka-python's IO thread meanwhile.
                time.sleep(0.02)
                last_records = time.monotonic()
                continue
            polled = consumer.poll(timeout_ms=100)
            now = time.monotonic()
            if polled:
                last_records = now
            elif now - last_records >= self.stall_after_s:
                quiet, last_records = now - last_records, now
                self._check_stalled(consumer, quiet)
            for tp, messages in polled.items():
                builder = self._builders.get(tp) or self._new_builder(tp, messages[0].offset)
                for message in messages:
                    self._hand_off(builder.add(message.offset, message.value, now))
                self.stats.messages += len(messages)
            for builder in self._builders.values():
                # A batch that waited long enough goes when its writer is free; while the
                # writer is busy it keeps growing: bigger batches under load, fewer inserts.
                if self._lane(builder.partition).queue.empty():
                    self._hand_off(builder.due(now))
            if now - last_report >= 10:
                last_report = now
                self._report(consumer, now - started)
            if until_caught_up:
                if targets is None and consumer.assignment():
                    targets = consumer.end_offsets(list(consumer.assignment()))
                if targets is None and now - started > ASSIGNMENT_TIMEOUT_S:
                    raise RuntimeError(
                        f"no partitions of topic {self.settings.kafka_topic!r} were assigned within "
                        f"{ASSIGNMENT_TIMEOUT_S:.0f} s: does the topic exist on {self.settings.kafka_bootstrap}?"
                    )
                if targets is not None and self._caught_up(consumer, targets):
                    return

    def _new_builder(self, tp: TopicPartition, first_offset: int) -> BatchBuilder:
        """A partition's first message since it was assigned is at its committed offset."""
        close_at = stored_batch_ends(self.client, tp.topic, tp.partition, first_offset)
        if close_at:
            log.info("%s/%d: rebuilding %d stored but uncommitted batch(es) from offset %d",
                     tp.topic, tp.partition, len(close_at), first_offset)
        s = self.settings
        builder = BatchBuilder(tp.topic, tp.partition, s.batch_max_records, s.batch_max_bytes,
                               s.batch_max_wait_seconds, close_at=close_at)
        self._builders[tp] = builder
        return builder

    def _caught_up(self, consumer: KafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
        """Whether every assigned partition was fetched up to ``targets`` (``run`` then stores it all)."""
        assigned = consumer.assignment()
        return all(consumer.position(tp) >= end for tp, end in targets.items() if tp in assigned)

    # -- step 2: store (writer lanes) ---------------------------------------------------
    def _lane(self, partition: int) -> _Lane:
        return self._lanes[partition % len(self._lanes)]

    def _hand_off(self, batch: Batch | None) -> None:
        if batch is not None:
            self._lane(batch.partition).queue.put((batch, self._token(batch)))

    def _token(self, batch: Batch) -> str:
        # The topic's id, not only its name: a topic deleted and created again starts its
        # offsets at 0 again and must not collide with the old topic's tokens.
        if batch.topic not in self._topic_ids:
            assert self._kafka is not None
            topic_id = self._kafka._cluster.topic_id(batch.topic)  # kafka-python's metadata
            self._topic_ids[batch.topic] = str(topic_id or batch.topic)
        return f"{self._topic_ids[batch.topic]}/{batch.dedup_token}"

    # -- a consumer that stopped fetching ------------------------------------------------
    def _check_stalled(self, consumer: KafkaConsumer, quiet: float) -> None:
        """Raise :class:`_Stalled` when a partition has messages but nothing came for ``quiet`` s.

        A safety net: kafka-python 3.0.12 consumers with the eager assignors stopped fetching
        for good when a rebalance outlived ``poll``'s timeout (docs/records.md). The
        cooperative assignor avoids that case; should another one strand a consumer, a new
        consumer resumes from the committed offsets.
        """
        assigned = list(consumer.assignment())
        if not assigned:
            return
        ends = consumer.end_offsets(assigned)
        behind = {tp: lag for tp in assigned if (lag := ends[tp] - consumer.position(tp)) > 0}
        if not behind:
            return
        log.warning("no records fetched for %.0f s while %d messages wait on partitions %s (%s); "
                    "replacing the consumer", quiet, sum(behind.values()), sorted(tp.partition for tp in behind),
                    _fetch_state(consumer, list(behind)))
        CONSUMER_RESTARTS.inc()
        raise _Stalled

    def _replace_consumer(self, consumer: KafkaConsumer) -> KafkaConsumer:
        """Store and commit what is in hand, leave the group, and join again with a new consumer."""
        self._store_all(consumer)
        consumer.close(autocommit=False)
        self._builders.clear()  # the new consumer starts at the committed offsets
        return self._consumer()

    def _store_all(self, consumer: KafkaConsumer) -> None:
        """Hand off every batch in hand, the open ones too, wait until all are stored (or given
        up), then commit."""
        for builder in self._builders.values():
            self._hand_off(builder.take())
        for lane in self._lanes:
            lane.queue.join()
        self._commit_stored(consumer)

    # -- step 3: commit -----------------------------------------------------------------
    def _commit_stored(self, consumer: KafkaConsumer) -> None:
        """Commit the offsets of stored batches of the partitions this ingester still owns.

        During a rebalance the commit waits for a later call; a partition that moved to
        another ingester is left to its new owner, which rebuilds the stored batches exactly.
        """
        while True:
            try:
                batch = self._stored.get_nowait()
            except queue.Empty:
                break
            tp = TopicPartition(batch.topic, batch.partition)
            if tp not in self._to_commit or self._to_commit[tp].offset < batch.next_offset:
                self._to_commit[tp] = OffsetAndMetadata(batch.next_offset, "", -1)
            self.stats.batches += 1
            self.stats.records += batch.records
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._to_commit.items() if tp in assigned}
        if not offsets:
            return
        try:
            consumer.commit(offsets)
        except RebalanceInProgressError:
            return  # retried after the next poll
        except CommitFailedError as error:
            log.warning("commit refused (%s); the partitions' new owners will commit them", error)
        self._to_commit.clear()

    def _report(self, consumer: KafkaConsumer, elapsed: float) -> None:
        assigned = list(consumer.assignment())
        lag = 0
        if assigned:
            for tp, end in consumer.end_offsets(assigned).items():
                behind = end - (consumer.committed(tp) or 0)
                LAG.set(behind, topic=tp.topic, partition=str(tp.partition))
                lag += behind
        log.info("ingest: %d records in %d batches (%.0f records/s), lag %d messages",
                 self.stats.records, self.stats.batches, self.stats.records / max(elapsed, 1e-9), lag)

    def _revoked(self, revoked: list[TopicPartition]) -> None:
        """Before partitions move: hand every batch in hand to the writers, the open ones too.

        A partition that stays with this ingester keeps its fetch position, so nothing
        consumed may be dropped here. Runs on kafka-python's IO thread, where the consumer may
        not be called, so nothing is committed here: a partition that stays is committed by
        the main loop; the next owner of one that moves rebuilds its stored but uncommitted
        batches exactly (``ingest_batches``) and their tokens make the engine drop them. The
        listener then waits, without blocking that thread, until the writers stored them.
        """
        for tp in revoked:
            builder = self._builders.pop(tp, None)
            if builder is not None:
                self._hand_off(builder.take())

    def _writers_idle(self) -> bool:
        return all(lane.queue.unfinished_tasks == 0 for lane in self._lanes)


def _fetch_state(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> str:
    """kafka-python's private fetch state, for the log line of a stalled consumer (best effort)."""
    try:
        fetcher, subscriptions = consumer._fetcher, consumer._subscription
        names = ("paused", "_pending_revocation", "reset_strategy", "_awaiting_validation")
        states = {tp.partition: {name: getattr(subscriptions.assignment[tp], name, "?") for name in names}
                  for tp in partitions}
        validation = getattr(fetcher, "_validation_task", None)
        return (f"kafka-python: pending fetches to nodes {fetcher._nodes_with_pending_fetch_requests}, "
                f"fetchable {sorted(tp.partition for tp in fetcher._fetchable_partitions())}, "
                f"completed fetches {len(fetcher._completed_fetches)}, partition states {states}, "
                f"validation task done: {getattr(validation, 'is_done', None)}")
    except Exception as error:  # noqa: BLE001 - diagnostics only
        return f"kafka-python state unavailable: {error!r}"


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Stores a revoked partition's batches before it moves, awaiting the writers on
    kafka-python's event loop instead of blocking its IO thread (heartbeats go on)."""

    def __init__(self, ingester: Ingester) -> None:
        self.ingester = ingester
        self.net: Any = None  # set once the consumer exists

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.ingester._revoked(list(revoked))
        while not self.ingester._writers_idle():
            await self.net.sleep(0.01)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned partitions: %s", sorted(tp.partition for tp in assigned))
