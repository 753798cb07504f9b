"""ingest/commit.py: what the commit step does when the group or the broker refuses a commit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.errors import FencedInstanceIdError, KafkaTimeoutError, RebalanceInProgressError

from ingest.batches import Batch
from ingest.commit import Commit, Fenced
from ingest.step import IngestStats

TP = TopicPartition("t", 0)


class Refusing:
    """A GroupConsumer whose commits raise the given errors in turn, then succeed."""

    settings = SimpleNamespace(kafka_group="g")
    instance_id = "host"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.committed: list[dict[TopicPartition, int]] = []
        self.settles = 0

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.committed.append(dict(offsets))

    def settle(self, timeout_ms: int) -> None:
        self.settles += 1


def stored(next_offset: int) -> Batch:
    batch = Batch("t", 0, next_offset - 1)
    batch.add(next_offset - 1, b'{"a": 1}')
    return batch


def test_a_commit_refused_during_a_rebalance_is_retried_at_stop_until_the_group_settles() -> None:
    consumer = Refusing(*[RebalanceInProgressError()] * 3)
    commit = Commit(consumer, IngestStats())  # type: ignore[arg-type]
    commit.submit(stored(10))
    commit.poll()  # refused: kept for later
    assert consumer.committed == []
    commit.join()
    assert consumer.committed == [{TP: 10}] and consumer.settles == 2


def test_the_retry_at_stop_is_bounded() -> None:
    now = [0.0]
    consumer = Refusing(*[RebalanceInProgressError()] * 1000)
    original = consumer.settle

    def settle(timeout_ms: int) -> None:
        original(timeout_ms)
        now[0] += timeout_ms / 1000

    consumer.settle = settle  # type: ignore[method-assign]
    commit = Commit(consumer, IngestStats(), settle_s=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    commit.submit(stored(10))
    commit.join()  # returns: the batches are stored, and recognised when stored again
    assert consumer.committed == [] and 19 <= consumer.settles <= 21


def test_a_commit_the_broker_does_not_answer_is_kept_for_the_next_poll() -> None:
    consumer = Refusing(KafkaTimeoutError("broker down"))
    commit = Commit(consumer, IngestStats())  # type: ignore[arg-type]
    commit.submit(stored(10))
    commit.poll()
    commit.submit(stored(20))
    commit.poll()
    assert consumer.committed == [{TP: 20}]


def test_a_fenced_instance_id_stops_the_ingester_with_what_to_do() -> None:
    commit = Commit(Refusing(FencedInstanceIdError()), IngestStats())  # type: ignore[arg-type]
    commit.submit(stored(10))
    with pytest.raises(Fenced, match="give each ingester its own EDGEWATCH_KAFKA_INSTANCE_ID"):
        commit.poll()
