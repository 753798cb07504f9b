"""The batching step: each partition's messages become batches, cut where they were cut before.

One ``BatchBuilder`` (ingest/batches.py) per partition frames the messages and closes a batch at
its limits. A partition's first builder since it was assigned starts from its committed offset
and first closes its batches exactly where the batches stored but not yet committed closed
(``ingest_batches``), so that their deduplication tokens match the inserts already stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from edgewatch.settings import Settings
from ingest.batches import Batch, BatchBuilder
from ingest.step import Refused
from ingest.store import Store

log = logging.getLogger(__name__)

StoredBatchEnds = Callable[[str, int, int], list[int]]
"""``(topic, partition, committed offset) -> last offsets`` of the batches stored from there
(``ingest.batches.stored_batch_ends`` with the ingester's own client)."""


class Batching:
    """Builds batches per partition of the ingester's one topic and submits them to the store step.

    ``submit(message)`` raises :class:`~ingest.step.Refused` while this partition's last closed
    batch still waits for room in the store; the message was not taken then. ``poll`` offers
    such batches again, and hands on the open batches that waited ``batch_max_wait`` once their
    lane is idle: while the writer is busy a batch keeps growing (bigger batches under load,
    fewer inserts). ``revoke`` runs on kafka-python's IO thread while the ingester's thread
    waits in the consumer's poll, so the two never touch the builders at once.
    """

    def __init__(self, settings: Settings, stored_batch_ends: StoredBatchEnds, store: Store,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._stored_batch_ends = stored_batch_ends
        self._store = store
        self._clock = clock
        # By partition number: the ingester subscribes to one topic, and a TopicPartition per
        # message cost 0.6 us, about a tenth of the step's time for a message of one record.
        self._builders: dict[int, BatchBuilder] = {}
        self._waiting: dict[int, Batch] = {}  # closed, refused by the store so far
        self._dropping = False

    def submit(self, message: ConsumerRecord) -> None:
        partition = message.partition
        if partition in self._waiting:
            self._store.submit(self._waiting[partition])  # Refused: the message is not taken
            del self._waiting[partition]
        builder = self._builders.get(partition) or self._new_builder(message.topic, partition, message.offset)
        batch = builder.add(message.offset, message.value, self._clock())
        if batch is not None:
            self._waiting[partition] = batch
            self._offer(partition)

    def _offer(self, partition: int) -> None:
        try:
            self._store.submit(self._waiting[partition])
        except Refused:
            return
        del self._waiting[partition]

    def _new_builder(self, topic: str, partition: int, first_offset: int) -> BatchBuilder:
        """A partition's first message since it was assigned is at its committed offset."""
        close_at = self._stored_batch_ends(topic, partition, first_offset)
        if close_at:
            log.info("%s/%d: rebuilding %d stored but uncommitted batch(es) from offset %d",
                     topic, partition, len(close_at), first_offset)
        s = self.settings
        builder = BatchBuilder(topic, partition, s.batch_max_records, s.batch_max_bytes,
                               s.batch_max_wait_seconds, close_at=close_at)
        self._builders[partition] = builder
        return builder

    def poll(self) -> None:
        for partition in list(self._waiting):
            self._offer(partition)
        now = self._clock()
        for partition, builder in self._builders.items():
            if partition not in self._waiting and self._store.idle(partition) and (batch := builder.due(now)):
                self._store.submit(batch)  # an idle lane has room
        self._store.poll()

    def revoke(self, partitions: list[TopicPartition]) -> None:
        """Before partitions move: hand every batch in hand to the store, the open ones too
        (but a part of a batch being rebuilt: see ``_hand_over``), and forget the partitions.

        Nothing is committed here (the consumer may not be called from its IO thread): whoever
        gets a partition next, this consumer included, starts at its committed offset,
        rebuilds its stored but uncommitted batches exactly, and their tokens make the engine
        drop them.
        """
        if self._dropping:
            return
        for tp in partitions:
            self._hand_over(tp.partition)
            self._builders.pop(tp.partition, None)

    def _hand_over(self, partition: int) -> None:
        waiting = self._waiting.pop(partition, None)  # a waiting batch and an open one never coexist
        if waiting is not None:
            self._store.hand_over(waiting)
        builder = self._builders.get(partition)
        if builder is not None and (batch := builder.take()) is not None and not builder.rebuilding:
            self._store.hand_over(batch)
        # A part of a batch stored before is dropped: under a token of its own it would be
        # stored a second time. Its offsets are not committed, so the partition starts again
        # from its committed offset (new owner, new consumer or restart) and rebuilds it whole.

    def revoked_stored(self) -> bool:
        """Whether what ``revoke`` handed on is stored (or dropped, after ``close``)."""
        return self._dropping or self._store.settled()

    def join(self) -> None:
        """Hand every batch in hand to the store (see ``revoke``) and join the store. Only
        before the consumer leaves or rejoins the group, as a part of a rebuilt batch is
        dropped here and its partition must start again from its committed offset."""
        for partition in list(self._builders):
            self._hand_over(partition)
        self._store.join()

    def close(self) -> None:
        """Drop the batches in hand, and from now on those of revoked partitions too (their
        offsets are not committed: the partitions' next owners fetch them again)."""
        self._dropping = True
        self._builders.clear()
        self._waiting.clear()
        self._store.close()
