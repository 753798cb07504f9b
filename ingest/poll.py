"""The poll step, the head of the chain: fetch messages from Kafka and submit them one by one.

Backpressure: a message the batching step refuses stays in hand with the rest of its
partition's messages (the other partitions' go on), and nothing more is fetched until every
message in hand was taken. kafka-python's IO thread keeps the group membership meanwhile
(heartbeats; ``max_poll_interval_ms``, 5 minutes). Not ``pause()``: kafka-python 3.0.12
consumers were seen to stop fetching after a resume.

The safety net: kafka-python 3.0.12 consumers with the eager assignors stopped fetching for
good when a rebalance outlived ``poll``'s timeout (docs/records.md). The cooperative assignor
avoids that case; should another one strand a consumer, a partition that has messages while
nothing came for ``stall_after_s`` gets the consumer replaced: what is in hand is stored and
committed, and a new consumer resumes from the committed offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import RetriableError

from edgewatch.metrics import REGISTRY
from ingest.kafka import SESSION_TIMEOUT_MS, GroupConsumer
from ingest.step import IngestStats, Refused, Step

log = logging.getLogger(__name__)

CONSUMER_RESTARTS = REGISTRY.counter(
    "edgewatch_consumer_restarts_total", "Kafka consumers replaced because they stopped fetching while behind.")
STALL_AFTER_S = 15.0
POLL_TIMEOUT_MS = 100
BACKPRESSURE_WAIT_S = 0.02


class Poll:
    """Polls ``consumer`` and submits each message to ``next_step`` (batching), in offset order
    per partition; counts the messages taken in ``stats.messages``.

    ``poll`` blocks up to :data:`POLL_TIMEOUT_MS` in the consumer (rebalances run in there), or
    :data:`BACKPRESSURE_WAIT_S` while messages are refused. ``join`` submits every message in
    hand, waiting for room, then joins the next step: everything fetched is then stored and
    committed. The head of the chain: nothing submits to it.
    """

    def __init__(self, consumer: GroupConsumer, next_step: Step[ConsumerRecord], stats: IngestStats,
                 stall_after_s: float = STALL_AFTER_S, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._consumer = consumer
        self._next = next_step
        self._stats = stats
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._sleep = sleep
        self._in_hand: dict[TopicPartition, list[ConsumerRecord]] = {}
        self._last_records = clock()

    def poll(self) -> None:
        if self._in_hand and not self._submit_in_hand():
            self._sleep(BACKPRESSURE_WAIT_S)
            self._last_records = self._clock()  # refusing is not stalling
        else:
            polled = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
            now = self._clock()
            if polled:
                self._last_records = now
            elif now - self._last_records >= self.stall_after_s:
                if self._stalled(now - self._last_records):
                    self._replace_consumer()
                self._last_records = self._clock()
            self._in_hand = polled
            self._submit_in_hand()
        self._next.poll()

    def _submit_in_hand(self) -> bool:
        """Submit messages in hand until each partition's are all taken or one is refused;
        whether all were taken."""
        submit, left = self._next.submit, {}
        for tp, messages in self._in_hand.items():
            taken = 0
            try:
                for taken, message in enumerate(messages):  # noqa: B007 - read when one is refused
                    submit(message)
                taken = len(messages)
            except Refused:
                left[tp] = messages[taken:]
            self._stats.messages += taken
        self._in_hand = left
        return not left

    def _stalled(self, quiet: float) -> bool:
        """Whether a partition has messages although nothing came for ``quiet`` seconds."""
        assigned = list(self._consumer.assignment())
        if not assigned:
            return False
        try:
            ends = self._consumer.end_offsets(assigned)
        except RetriableError as error:  # the broker is down: nothing to fetch, the consumer reconnects itself
            log.warning("no records fetched for %.0f s, and the broker does not answer (%s)", quiet, error)
            return False
        behind = {tp: lag for tp in assigned if (lag := ends[tp] - self._consumer.position(tp)) > 0}
        if not behind:
            return False
        log.warning("no records fetched for %.0f s while %d messages wait on partitions %s (%s); "
                    "replacing the consumer", quiet, sum(behind.values()), sorted(tp.partition for tp in behind),
                    self._consumer.fetch_state(list(behind)))
        CONSUMER_RESTARTS.inc()
        return True

    def _replace_consumer(self) -> None:
        """Store and commit what is in hand, leave the group, and join it again with a new consumer
        (its revocation takes the batching step's builders: it starts at the committed offsets)."""
        self.join()
        self._consumer.reopen()

    def join(self) -> None:
        while not self._submit_in_hand():
            self._next.poll()
            self._sleep(BACKPRESSURE_WAIT_S)
        self._next.join()

    def close(self) -> None:
        self._in_hand.clear()
        self._next.close()


class CatchUpTimeout(RuntimeError):
    """``until_caught_up`` did not get there within its timeout; the message says how far it got."""


class CatchUp:
    """Whether the consumer fetched everything published before it got its partitions.

    It waits for partitions as long as the group needs them to move: a member that died keeps
    its partitions until its session ends (45 s), unless a consumer under its instance id
    replaces it (ingest/membership.py). ``progress`` says what it waits for, ``expired`` whether
    ``timeout_s`` (None: no limit) passed, and ``timeout_error`` how far it got by then.
    """

    def __init__(self, consumer: GroupConsumer, timeout_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._consumer = consumer
        self._timeout_s = timeout_s
        self._clock = clock
        self._started = clock()
        self._targets: dict[TopicPartition, int] | None = None

    def reached(self) -> bool:
        if self._targets is None and (assigned := self._consumer.assignment()):
            self._targets = self._consumer.end_offsets(list(assigned))
        if self._targets is None:
            return False
        return not self._left()

    def _left(self) -> dict[TopicPartition, int]:
        """Messages still to fetch, by partition (partitions that moved to another member are its)."""
        assert self._targets is not None
        assigned = self._consumer.assignment()
        return {tp: left for tp, end in self._targets.items()
                if tp in assigned and (left := end - self._consumer.position(tp)) > 0}

    def expired(self) -> bool:
        return self._timeout_s is not None and self._clock() - self._started >= self._timeout_s

    def progress(self) -> str:
        elapsed = self._clock() - self._started
        if self._targets is None:
            return f"waiting {elapsed:.0f} s for partitions: {self._why_none()}"
        left, total = sum(self._left().values()), len(self._targets)
        return f"catching up: {left:,} messages left to fetch on {total} partition(s) ({elapsed:.0f} s)"

    def _why_none(self) -> str:
        s = self._consumer.settings
        if not self._consumer.topic_partitions():
            return f"topic {s.kafka_topic!r} does not exist on {s.kafka_bootstrap} (yet)"
        return (f"group {s.kafka_group!r} is rebalancing; a member that stopped without leaving keeps "
                f"its partitions until its session ends ({SESSION_TIMEOUT_MS // 1000} s)")

    def timeout_error(self) -> CatchUpTimeout:
        limit = f"{self._timeout_s:g} s"
        if self._targets is None:
            return CatchUpTimeout(f"no partitions were assigned within {limit} (--timeout): {self._why_none()}")
        return CatchUpTimeout(f"not caught up within {limit} (--timeout): {sum(self._left().values()):,} messages "
                              "were left to fetch; what was stored is committed, run again to go on")
