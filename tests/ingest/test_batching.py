"""ingest/batching.py's step contract against a recording store: refusals, revocation, due batches."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kafka import TopicPartition

from edgewatch.settings import Settings
from ingest.batches import Batch
from ingest.batching import Batching
from ingest.step import Refused

LINE = b'{"a": 1}'


class RecordingStore:
    """Stands in for ingest/store.py: takes batches until told it is full."""

    def __init__(self) -> None:
        self.full = False
        self.lane_idle = True
        self.submitted: list[Batch] = []
        self.handed: list[Batch] = []

    def submit(self, batch: Batch) -> None:
        if self.full:
            raise Refused
        self.submitted.append(batch)

    def hand_over(self, batch: Batch) -> None:
        self.handed.append(batch)

    def idle(self, partition: int) -> bool:
        return self.lane_idle

    def settled(self) -> bool:
        return True

    def poll(self) -> None:
        pass

    def join(self) -> None:
        pass

    def close(self) -> None:
        pass


def message(partition: int, offset: int) -> SimpleNamespace:
    return SimpleNamespace(topic="t", partition=partition, offset=offset, value=LINE)


def offsets(batches: list[Batch]) -> list[tuple[int, int, int]]:
    return [(b.partition, b.first_offset, b.last_offset) for b in batches]


class Steps:
    def __init__(self, stored_ends: dict[int, list[int]] | None = None, **settings: object) -> None:
        self.now = 0.0
        self.store = RecordingStore()
        self.rebuilt_from: list[tuple[int, int]] = []

        def stored_batch_ends(topic: str, partition: int, committed: int) -> list[int]:
            self.rebuilt_from.append((partition, committed))
            return list((stored_ends or {}).get(partition, []))

        values: dict[str, object] = {"batch_max_records": 2, "batch_max_wait": "1s"} | settings
        self.batching = Batching(Settings(**values), stored_batch_ends, self.store,  # type: ignore[arg-type]
                                 clock=lambda: self.now)


def test_a_batch_the_store_refuses_waits_and_its_partition_takes_nothing_more() -> None:
    steps = Steps()
    steps.store.full = True
    steps.batching.submit(message(0, 10))
    steps.batching.submit(message(0, 11))  # closes 10-11; refused, so it waits in the step
    with pytest.raises(Refused):
        steps.batching.submit(message(0, 12))  # not taken: offered again later
    steps.batching.submit(message(1, 0))  # another partition goes on
    assert steps.store.submitted == []
    steps.store.full = False
    steps.batching.submit(message(0, 12))
    assert offsets(steps.store.submitted) == [(0, 10, 11)]
    steps.batching.submit(message(0, 13))
    assert offsets(steps.store.submitted) == [(0, 10, 11), (0, 12, 13)]


def test_poll_offers_a_waiting_batch_again() -> None:
    steps = Steps()
    steps.store.full = True
    steps.batching.submit(message(0, 0))
    steps.batching.submit(message(0, 1))
    steps.batching.poll()
    assert steps.store.submitted == []
    steps.store.full = False
    steps.batching.poll()
    assert offsets(steps.store.submitted) == [(0, 0, 1)]


def test_an_open_batch_goes_when_due_and_its_lane_is_idle() -> None:
    steps = Steps(batch_max_records=100)
    steps.batching.submit(message(0, 0))
    steps.now = 0.5
    steps.batching.poll()
    assert steps.store.submitted == []  # not due yet
    steps.now, steps.store.lane_idle = 1.0, False
    steps.batching.poll()
    assert steps.store.submitted == []  # due, but its writer is busy: it keeps growing
    steps.batching.submit(message(0, 1))
    steps.store.lane_idle = True
    steps.batching.poll()
    assert offsets(steps.store.submitted) == [(0, 0, 1)]


def test_revoke_hands_on_waiting_and_open_batches_and_forgets_the_partitions() -> None:
    steps = Steps()
    steps.store.full = True
    for offset in range(2):
        steps.batching.submit(message(0, offset))  # 0-1 closed, waiting for room
    steps.batching.submit(message(1, 0))  # open
    steps.batching.submit(message(2, 0))  # open, stays
    steps.batching.revoke([TopicPartition("t", 0), TopicPartition("t", 1)])
    assert offsets(steps.store.handed) == [(0, 0, 1), (1, 0, 0)]
    steps.store.full = False
    steps.batching.submit(message(0, 7))  # assigned again later: starts from its committed offset
    assert steps.rebuilt_from == [(0, 0), (1, 0), (2, 0), (0, 7)]
    steps.batching.join()
    assert offsets(steps.store.handed) == [(0, 0, 1), (1, 0, 0), (2, 0, 0), (0, 7, 7)]


def test_after_close_nothing_is_handed_on_and_revocations_need_no_wait() -> None:
    steps = Steps(batch_max_records=100)
    steps.batching.submit(message(0, 0))
    steps.batching.close()
    steps.batching.revoke([TopicPartition("t", 0)])
    assert steps.store.handed == [] and steps.batching.revoked_stored()


def test_a_batch_being_rebuilt_is_not_handed_on_in_part() -> None:
    """Its rows are stored already under the whole batch's token: a part of it would get a token
    of its own and be stored a second time. Its offsets are not committed, so the next owner
    rebuilds it whole."""
    steps = Steps(stored_ends={0: [5]})
    for offset in range(3):
        steps.batching.submit(message(0, offset))
    steps.batching.join()
    assert steps.store.handed == [] and steps.store.submitted == []
