"""ingest/batches.py's BatchBuilder: when a batch closes and when it is due (pure, no I/O)."""

from __future__ import annotations

from ingest.batches import BatchBuilder

LINE = b'{"a": 1}'


def builder(**overrides: object) -> BatchBuilder:
    values: dict = {"topic": "t", "partition": 0, "max_records": 100, "max_bytes": 1 << 20, "max_wait": 1.0}
    values.update(overrides)
    return BatchBuilder(**values)


def test_a_batch_closes_at_max_records_and_covers_its_offsets() -> None:
    b = builder(max_records=3)
    assert b.add(10, LINE + b"\n" + LINE, now=0.0) is None
    batch = b.add(11, LINE, now=0.0)
    assert batch is not None and batch.records == 3
    assert (batch.first_offset, batch.last_offset, batch.next_offset) == (10, 11, 12)
    assert b.take() is None


def test_a_batch_closes_at_max_bytes() -> None:
    b = builder(max_bytes=64)
    assert b.add(0, LINE, now=0.0) is None
    batch = b.add(1, LINE * 8, now=0.0)
    assert batch is not None and batch.size >= 64


def test_due_after_max_wait() -> None:
    b = builder()
    b.add(0, LINE, now=5.0)
    assert b.due(5.9) is None
    batch = b.due(6.0)
    assert batch is not None and batch.records == 1
    assert b.due(100.0) is None  # nothing open


def test_never_due_while_rebuilding_a_stored_batch() -> None:
    b = builder(max_records=2, close_at=[3])
    for offset in range(3):
        assert b.add(offset, LINE, now=0.0) is None  # past max_records: the stored batch decides
    assert b.due(100.0) is None
    batch = b.add(3, LINE, now=0.0)
    assert batch is not None and (batch.first_offset, batch.last_offset) == (0, 3)


def test_a_batch_knows_whether_its_first_record_is_native() -> None:
    native = b'{"timestamp": 1, "destination_service": "b", "response_code": 200, "duration_ms": 1}'
    fluent_bit = b'{"log": "{\\"upstream_cluster\\": \\"outbound|80||b\\"}\\n", "stream": "stdout"}'
    b = builder(max_records=2)
    assert b.add(0, b"", now=0.0) is None  # a blank message frames nothing: the next one decides
    batch = b.add(1, native + b"\n" + fluent_bit, now=0.0)
    assert batch is not None and batch.native
    batch = builder(max_records=1).add(0, fluent_bit + b"\n" + native, now=0.0)
    assert batch is not None and not batch.native
