"""What the ingester's steps share: the contract between two steps, and what they count.

The ingester is a chain (getsentry/arroyo's processing-strategy shape):

    poll (ingest/poll.py) -> batching (ingest/batching.py) -> store (ingest/store.py) -> commit (ingest/commit.py)

Each step takes work with ``submit`` and hands what it made to the next step's ``submit``;
``poll`` does the step's own timed work and polls the next step; ``join`` hands on everything
the step holds and waits until the steps after it finished it (the batches stored, their
offsets committed); ``close`` drops what the step still holds and ends its threads.

A step refuses work it has no room for by raising :class:`Refused`: the step before keeps the
item and offers it again later, and the poll step fetches nothing meanwhile. That is the
backpressure, instead of buffers that grow.

Steps call each other only through this contract, so a step that measures the others (CPU time
per step) or logs them fits between two of them without changing either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

T_contra = TypeVar("T_contra", contravariant=True)


class Refused(Exception):
    """The step has no room for this item now; offer it again later (do not fetch more meanwhile)."""


class Step(Protocol[T_contra]):
    def submit(self, item: T_contra) -> None:
        """Take ``item``, or raise :class:`Refused` (then nothing of it was taken)."""

    def poll(self) -> None:
        """Do the step's timed work without blocking for long, then poll the next step."""

    def join(self) -> None:
        """Hand on everything held and block until the following steps finished it.

        No timeout: a batch is retried until stored, never dropped, while the ingester runs;
        the ingester's stop event is what ends a retry (ingest/writer.py)."""

    def close(self) -> None:
        """Drop what is still held (uncommitted, so fetched again by the partition's next
        owner) and end the step's threads."""


@dataclass
class IngestStats:
    """What one ``Ingester.run`` did so far; each step counts its part as it goes."""

    batches: int = 0  # stored (counted by the commit step)
    records: int = 0  # framed rows: lines, or whole JSON-array messages
    messages: int = 0  # taken by the batching step (counted by the poll step)
