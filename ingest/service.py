"""The ingester: Kafka consumer group -> batches -> ClickHouse -> offset commit, as a chain of steps.

    poll (ingest/poll.py)          fetch, and hold what the next step refuses (backpressure)
    -> batching (ingest/batching.py) one builder per partition, cuts rebuilt after a restart
    -> store (ingest/store.py)      writer lanes, one per EDGEWATCH_INGEST_WRITERS, retried until stored
    -> commit (ingest/commit.py)    a partition's offsets, only after its batches were stored

Offsets travel with the batches; ingest/step.py has the contract between two steps and
ingest/kafka.py everything that touches kafka-python's internals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from clickhouse_connect.driver.client import Client
from kafka.errors import RetriableError

from edgewatch.memory import release_freed_heap
from edgewatch.metrics import REGISTRY
from edgewatch.settings import Settings
from ingest.batches import stored_batch_ends
from ingest.batching import Batching
from ingest.commit import Commit
from ingest.health import IngestHealth
from ingest.kafka import GroupConsumer, install_fast_receive, keep_freed_memory
from ingest.membership import InstanceClaim
from ingest.poll import STALL_AFTER_S, CatchUp, Poll
from ingest.step import IngestStats
from ingest.store import Store
from ingest.writer import BatchWriter

log = logging.getLogger(__name__)

LAG = REGISTRY.gauge("edgewatch_consumer_lag", "Messages published but not yet stored, per partition.")
REPORT_EVERY_S = 10.0
PROGRESS_EVERY_S = 5.0

__all__ = ["IngestStats", "Ingester"]


class Ingester:
    """Consumes ``settings.kafka_topic`` in group ``settings.kafka_group`` into ClickHouse.

    ``connect()`` opens a new ClickHouse client on each call: one per writer lane and one for
    the ingester's own queries. ``run`` blocks until ``stop`` is set, or with
    ``until_caught_up`` until everything published before it got its partitions is stored and
    committed; it waits for the partitions as long as the group needs, calling ``progress``
    with what it waits for every :data:`PROGRESS_EVERY_S`, and raises CatchUpTimeout (after
    storing and committing what it holds) once ``timeout_s`` passed. On stop it stores and
    commits the batches in hand first. A batch whose insert keeps failing is retried, never
    skipped; ``health`` says so meanwhile. The consumer is a static group member under the
    instance id of ingest/membership.py (InstanceIdInUse when it is taken). Raises
    kafka-python's errors, and ingest.commit.Fenced when another consumer took the id.
    """

    consumer_type: type[GroupConsumer] = GroupConsumer  # the tests put misbehaving ones here
    store_type: type[Store] = Store

    def __init__(self, settings: Settings, connect: Callable[[], Client]) -> None:
        self.settings = settings
        self._connect = connect
        self.client = connect()
        self.stats = IngestStats()
        self.health = IngestHealth()
        self.stall_after_s = STALL_AFTER_S
        self.consumer: GroupConsumer | None = None
        self.instance_id: str | None = None

    def run(self, stop: threading.Event | None = None, until_caught_up: bool = False,
            timeout_s: float | None = None, progress: Callable[[str], None] = log.info) -> IngestStats:
        stop = threading.Event() if stop is None else stop
        install_fast_receive()  # process-wide and idempotent: once, not for every consumer
        keep_freed_memory()
        s = self.settings
        with InstanceClaim(s) as self.instance_id:
            self.consumer = consumer = self.consumer_type(s, self.instance_id)
            writers = [BatchWriter(self._connect(), stop, health=self.health, name=f"lane-{i}")
                       for i in range(s.ingest_writers)]
            store = self.store_type(writers, consumer.topic_id, Commit(consumer, self.stats))
            batching = Batching(s, partial(stored_batch_ends, self.client), store)
            consumer.subscribe(on_revoked=batching.revoke, revoked_stored=batching.revoked_stored)
            poll = Poll(consumer, batching, self.stats, self.stall_after_s)
            catch_up = CatchUp(consumer, timeout_s) if until_caught_up else None
            started = last_report = last_progress = time.monotonic()
            try:
                while not stop.is_set() and not store.failed:
                    poll.poll()
                    if catch_up is not None:
                        if catch_up.reached():
                            break
                        if catch_up.expired():
                            poll.join()
                            raise catch_up.timeout_error()
                    now = time.monotonic()
                    if catch_up is not None and now - last_progress >= PROGRESS_EVERY_S:
                        last_progress = now
                        progress(catch_up.progress())
                    if now - last_report >= REPORT_EVERY_S:
                        last_report = now
                        self._report(consumer, now - started)
                poll.join()
            finally:
                poll.close()
                consumer.close()
        return self.stats

    def _report(self, consumer: GroupConsumer, elapsed: float) -> None:
        release_freed_heap()
        assigned = list(consumer.assignment())
        lag = 0
        try:
            if assigned:
                for tp, end in consumer.end_offsets(assigned).items():
                    behind = end - (consumer.committed(tp) or 0)
                    LAG.set(behind, topic=tp.topic, partition=str(tp.partition))
                    lag += behind
        except RetriableError as error:  # the broker is down; the consumer reconnects by itself
            log.warning("ingest: %d records in %d batches; lag unknown: the broker at %s does not answer (%s)",
                        self.stats.records, self.stats.batches, self.settings.kafka_bootstrap, error)
            return
        log.info("ingest: %d records in %d batches (%.0f records/s), lag %d messages",
                 self.stats.records, self.stats.batches, self.stats.records / max(elapsed, 1e-9), lag)
