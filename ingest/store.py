"""The store step: writer lanes insert batches into ClickHouse, then hand them to the commit step.

A lane is a thread with its own queue and ClickHouse client (``EDGEWATCH_INGEST_WRITERS``
lanes). A partition always goes to the same lane, so its batches are stored, and reach the
commit step, in offset order. Each insert carries a deduplication token of the topic's id,
the partition and the offsets (ingest/writer.py), so a batch stored twice is kept once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from ingest.batches import Batch
from ingest.step import Refused, Step
from ingest.writer import BatchWriter

QUEUED_PER_LANE = 2
"""Batches waiting in a lane beside the one being written, before ``submit`` refuses more."""


class _Lane:
    """One writer thread with its own queue and ClickHouse client."""

    def __init__(self, name: str, writer: BatchWriter, stored: queue.Queue[Batch], failed: threading.Event) -> None:
        self.queue: queue.Queue[tuple[Batch, str] | None] = queue.Queue()
        self._writer = writer
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


class Store:
    """Stores batches through one lane per writer, then submits them to ``next_step`` (commit).

    - ``submit(batch)`` raises :class:`Refused` while the batch's lane has
      :data:`QUEUED_PER_LANE` batches waiting; :meth:`hand_over` takes a batch whatever its lane
      holds (a revoked partition's, or the ones in hand at stop: at most two per partition).
      Both may be called from kafka-python's IO thread while the ingester's thread waits in poll.
    - ``poll`` submits the batches stored since the last call to ``next_step``, on the caller's
      thread; ``join`` blocks until every lane finished every batch it was given, then does so.
    - A lane gives a batch up only when ``stop`` is set while ClickHouse refuses it; then
      :attr:`failed` is set and no later batch is stored, so nothing after it is committed.
    """

    def __init__(self, writers: list[BatchWriter], topic_id: Callable[[str], str], next_step: Step[Batch]) -> None:
        self._topic_id = topic_id
        self._next = next_step
        self._stored: queue.Queue[Batch] = queue.Queue()
        self._failed = threading.Event()
        self._lanes = [_Lane(f"edgewatch-writer-{i}", writer, self._stored, self._failed)
                       for i, writer in enumerate(writers)]

    @property
    def failed(self) -> bool:
        return self._failed.is_set()

    def _lane(self, partition: int) -> _Lane:
        return self._lanes[partition % len(self._lanes)]

    def idle(self, partition: int) -> bool:
        """Nothing waits in ``partition``'s lane (its writer may be storing one batch)."""
        return self._lane(partition).queue.empty()

    def settled(self) -> bool:
        """Every lane finished every batch it was given (stored it, or gave it up)."""
        return all(lane.queue.unfinished_tasks == 0 for lane in self._lanes)

    def submit(self, batch: Batch) -> None:
        lane = self._lane(batch.partition)
        if lane.queue.qsize() >= QUEUED_PER_LANE:
            raise Refused
        lane.queue.put((batch, self._token(batch)))

    def hand_over(self, batch: Batch) -> None:
        self._lane(batch.partition).queue.put((batch, self._token(batch)))

    def _token(self, batch: Batch) -> str:
        # The topic's id, not only its name: a topic deleted and created again starts its
        # offsets at 0 again and must not collide with the old topic's tokens.
        return f"{self._topic_id(batch.topic)}/{batch.dedup_token}"

    def poll(self) -> None:
        while True:
            try:
                batch = self._stored.get_nowait()
            except queue.Empty:
                break
            self._next.submit(batch)
        self._next.poll()

    def join(self) -> None:
        for lane in self._lanes:
            lane.queue.join()
        self.poll()
        self._next.join()

    def close(self) -> None:
        """End the lanes after the batches they hold (each waited for up to 60 s)."""
        for lane in self._lanes:
            lane.close()
        self._next.close()
