"""Batches: a contiguous offset range of one partition, framed and ready to insert.

A batch closes at whichever limit comes first: records, bytes, or age. After a restart or a
rebalance, the batches stored after the committed offset must close exactly where they closed
before (``close_at``, read from ``ingest_batches``), so that their deduplication tokens match
the inserts already stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from ingest.framing import frame, line_head, looks_native


@dataclass
class Batch:
    topic: str
    partition: int
    first_offset: int  # first message of the batch
    last_offset: int = -1  # last message of the batch
    records: int = 0  # framed rows (lines or JSON arrays)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    first_stored_offset: int = -1  # first and last message that framed any row;
    last_stored_offset: int = -1  # the engine records these in ingest_batches
    opened_at: float = 0.0
    native: bool = True  # whether the first stored message held Edgewatch's own records (ingest/writer.py)
    head: bytes = field(init=False, repr=False)  # every row's topic and partition (ingest/framing.py)

    def __post_init__(self) -> None:
        self.head = line_head(self.topic, self.partition)

    def add(self, offset: int, value: bytes | None) -> None:
        pieces, count = frame(self.head, offset, value)
        self.last_offset = offset
        if count:
            self.chunks += pieces
            self.size += len(pieces[0]) + len(pieces[1]) + 1  # prefix, rows, newline
            self.records += count
            if self.first_stored_offset < 0:
                self.first_stored_offset = offset
                self.native = looks_native(value)  # type: ignore[arg-type]  # count > 0: not None
            self.last_stored_offset = offset

    @property
    def dedup_token(self) -> str:
        """Same stored rows -> same token, however the batch was cut around blank messages."""
        return f"{self.topic}/{self.partition}/{self.first_stored_offset}-{self.last_stored_offset}"

    @property
    def next_offset(self) -> int:
        """The offset to commit once this batch is stored."""
        return self.last_offset + 1


class BatchBuilder:
    """Collects one partition's messages into batches. Pure: the caller passes the clock."""

    def __init__(
        self,
        topic: str,
        partition: int,
        max_records: int,
        max_bytes: int,
        max_wait: float,
        close_at: list[int] | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_wait = max_wait
        self.close_at = list(close_at or [])
        self.current: Batch | None = None

    def add(self, offset: int, value: bytes | None, now: float) -> Batch | None:
        """Add a message; returns the batch it closed, if any."""
        if self.current is None:
            self.current = Batch(self.topic, self.partition, offset, opened_at=now)
        batch = self.current
        batch.add(offset, value)
        if self.close_at:
            if offset >= self.close_at[0]:
                self.close_at.pop(0)
                return self.take()
            return None
        if batch.records >= self.max_records or batch.size >= self.max_bytes:
            return self.take()
        return None

    @property
    def rebuilding(self) -> bool:
        """Whether the open batch is one stored before (it closes at ``close_at[0]``)."""
        return bool(self.close_at)

    def due(self, now: float) -> Batch | None:
        """The open batch, if it has waited long enough (never while rebuilding one)."""
        if self.current and not self.close_at and now - self.current.opened_at >= self.max_wait:
            return self.take()
        return None

    def take(self) -> Batch | None:
        batch, self.current = self.current, None
        return batch


def stored_batch_ends(client: Client, topic: str, partition: int, committed: int) -> list[int]:
    """Where the batches stored from ``committed`` on ended, oldest first.

    Non-empty when the ingester stopped between inserts and their Kafka commit; the builder
    then closes its first batches at exactly these offsets.
    """
    result = client.query(
        "SELECT last_offset FROM ingest_batches "
        "WHERE topic = {topic:String} AND partition = {partition:UInt32} "
        "AND first_offset >= {committed:UInt64} ORDER BY first_offset",
        parameters={"topic": topic, "partition": partition, "committed": committed},
    )
    return [int(row[0]) for row in result.result_rows]
