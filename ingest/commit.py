"""The last step: commit a partition's offsets once its batches are stored.

Batches arrive here only after their insert returned (ingest/store.py), and each partition's
in offset order, so committing ``batch.next_offset`` never skips a message that is not stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import TopicPartition
from kafka.errors import CommitFailedError, FencedInstanceIdError, RebalanceInProgressError, RetriableError

from ingest.batches import Batch
from ingest.kafka import GroupConsumer
from ingest.step import IngestStats

log = logging.getLogger(__name__)

SETTLE_AT_JOIN_S = 10.0
"""How long ``join`` waits for a rebalance in progress to let its commit through."""
SETTLE_POLL_MS = 100


class Fenced(RuntimeError):
    """Another consumer joined the group under this ingester's instance id."""


class Commit:
    """Commits stored batches' offsets for the partitions the consumer still owns.

    ``submit`` never refuses and never blocks; ``poll`` commits what was submitted (a round
    trip to the broker, on the ingester's thread), and during a rebalance or while the broker
    cannot be reached leaves it for a later poll. ``join`` (before the consumer closes or is
    replaced) does not leave it: it settles the group (polls with fetching paused) and commits
    again, for up to :data:`SETTLE_AT_JOIN_S`;
    what is still uncommitted then is logged, and its batches are recognised when stored again
    (their tokens). A partition that moved to another member is left to its new owner, which
    rebuilds the stored batches exactly (``ingest_batches``) and commits them itself. Raises
    :class:`Fenced` when another consumer took this one's instance id.
    """

    def __init__(self, consumer: GroupConsumer, stats: IngestStats, settle_s: float = SETTLE_AT_JOIN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._consumer = consumer
        self._stats = stats
        self._settle_s = settle_s
        self._clock = clock
        self._to_commit: dict[TopicPartition, int] = {}

    def submit(self, batch: Batch) -> None:
        """A stored batch: the next offset after it becomes its partition's offset to commit."""
        tp = TopicPartition(batch.topic, batch.partition)
        self._to_commit[tp] = max(self._to_commit.get(tp, 0), batch.next_offset)
        self._stats.batches += 1
        self._stats.records += batch.records

    def poll(self) -> None:
        self._commit()

    def _commit(self) -> bool:
        """Commit what the consumer still owns; False when a rebalance in progress refused it, or
        the broker could not be reached (kept for the next try)."""
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in self._to_commit.items() if tp in assigned}
        if offsets:
            try:
                self._consumer.commit(offsets)
            except RebalanceInProgressError:
                return False
            except RetriableError as error:
                log.warning("commit of partitions %s not answered (%s); retried at the next poll",
                            sorted(tp.partition for tp in offsets), error)
                return False
            except CommitFailedError as error:
                log.warning("commit refused (%s); the partitions' new owners will commit them", error)
            except FencedInstanceIdError as error:
                s = self._consumer.settings
                raise Fenced(f"another consumer joined group {s.kafka_group!r} as instance id "
                             f"{self._consumer.instance_id!r}: give each ingester its own "
                             "EDGEWATCH_KAFKA_INSTANCE_ID (or leave it unset: the host name)") from error
        self._to_commit.clear()
        return True

    def join(self) -> None:
        deadline = self._clock() + self._settle_s
        while not self._commit():
            if self._clock() >= deadline:
                log.warning("offsets of partitions %s not committed: the group did not settle within %.0f s; "
                            "their batches are stored, and recognised when the next owner stores them again",
                            sorted(tp.partition for tp in self._to_commit), self._settle_s)
                return
            self._consumer.settle(SETTLE_POLL_MS)

    def close(self) -> None:
        self._to_commit.clear()
