"""The last step: commit a partition's offsets once its batches are stored.

Batches arrive here only after their insert returned (ingest/store.py), and each partition's
in offset order, so committing ``batch.next_offset`` never skips a message that is not stored.
"""

from __future__ import annotations

import logging

from kafka import TopicPartition
from kafka.errors import CommitFailedError, RebalanceInProgressError

from ingest.batches import Batch
from ingest.kafka import GroupConsumer
from ingest.step import IngestStats

log = logging.getLogger(__name__)


class Commit:
    """Commits stored batches' offsets for the partitions the consumer still owns.

    ``submit`` never refuses and never blocks; ``poll`` and ``join`` commit what was submitted
    (a round trip to the broker, on the ingester's thread). During a rebalance the commit waits
    for a later call; a partition that moved to another member is left to its new owner, which
    rebuilds the stored batches exactly (``ingest_batches``) and commits them itself.
    """

    def __init__(self, consumer: GroupConsumer, stats: IngestStats) -> None:
        self._consumer = consumer
        self._stats = stats
        self._to_commit: dict[TopicPartition, int] = {}

    def submit(self, batch: Batch) -> None:
        """A stored batch: the next offset after it becomes its partition's offset to commit."""
        tp = TopicPartition(batch.topic, batch.partition)
        self._to_commit[tp] = max(self._to_commit.get(tp, 0), batch.next_offset)
        self._stats.batches += 1
        self._stats.records += batch.records

    def poll(self) -> None:
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in self._to_commit.items() if tp in assigned}
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
        except RebalanceInProgressError:
            return  # retried after the next poll
        except CommitFailedError as error:
            log.warning("commit refused (%s); the partitions' new owners will commit them", error)
        self._to_commit.clear()

    def join(self) -> None:
        self.poll()

    def close(self) -> None:
        self._to_commit.clear()
