"""#15 guarantee 6, bad input: random and malformed payloads through the real decoder.

Messages of good and bad lines mixed (tests/fuzz/payloads.py) are framed as the ingester frames
them (``Batch.add`` -> ingest/framing.py) and stored with its writer into ``ingest_lines``, where
the engine's views decode them; a sample, with a 10 MB message, empty ones and a tombstone, goes
through the real Kafka broker and the real ingester. For every message: nothing raises, every
good record lands (its request id), every bad record is a dead letter whose reason says why, and
the records counted in and out agree (nothing lost, nothing doubled).
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from edgewatch.settings import Settings
from ingest.batches import Batch
from ingest.service import IngestStats
from ingest.writer import BatchWriter
from tests.fuzz import payloads
from tests.fuzz.payloads import REASONS, Line, Message, deep, messages, record, shipped

pytestmark = pytest.mark.clickhouse

TOPIC = f"fuzz-{uuid.uuid4().hex[:8]}"  # dead letters are told apart by topic, requests by offset
_offsets = itertools.count()


def store(ch: Client, values: list[bytes | None]) -> list[int]:
    """Frame ``values`` as consecutive messages of one partition, as the ingester does, and store
    them as one batch with its writer. Returns their offsets."""
    offsets = [next(_offsets) for _ in values]
    batch = Batch(TOPIC, 0, offsets[0])
    for offset, value in zip(offsets, values, strict=True):
        batch.add(offset, value)
    stop = threading.Event()
    stop.set()  # a failed insert returns False at once instead of being retried
    assert BatchWriter(ch, stop).write(batch, batch.dedup_token), "the insert failed: its error is logged above"
    return offsets


def outcomes(ch: Client, topic: str, offsets: list[int]) -> dict[int, tuple[list[str], list[str]]]:
    """Per offset: the request ids stored in ``requests``, the reasons in ``dead_letters``."""
    found: dict[int, tuple[list[str], list[str]]] = {offset: ([], []) for offset in offsets}
    parameters = {"offsets": offsets, "topic": topic}
    for offset, ids in ch.query(
        "SELECT kafka_offset, groupArray(request_id) FROM requests WHERE kafka_offset IN %(offsets)s "
        "GROUP BY kafka_offset", parameters=parameters).result_rows:
        found[offset][0].extend(ids)
    for offset, reasons, empty in ch.query(
        "SELECT kafka_offset, groupArray(reason), countIf(payload = '') FROM dead_letters "
        "WHERE topic = %(topic)s AND kafka_offset IN %(offsets)s GROUP BY kafka_offset",
        parameters=parameters).result_rows:
        assert empty == 0, f"offset {offset}: a dead letter without its record"
        found[offset][1].extend(reasons)
    return found


def check(message: Message, ids: list[str], reasons: list[str]) -> None:
    """Every good record landed, every bad one is a dead letter with a reason, and the counts
    add up (each 'either' record is exactly one of the two)."""
    shown = message.value[:3000]
    assert not (missing := set(message.good) - set(ids)), f"good records lost: {missing} of {shown!r}"
    assert len(reasons) >= message.bad, f"{message.bad} bad records, {len(reasons)} dead letters: {shown!r}"
    expected = len(message.good) + message.bad + message.either
    assert len(ids) + len(reasons) == expected, (
        f"{expected} records in, {len(ids)} stored and {len(reasons)} dead letters out: {reasons} {shown!r}")
    assert not (unexplained := [r for r in reasons if not r.startswith(REASONS)]), unexplained


# 60 cases of up to 3 messages: about 20 s. No shrinking: each case is an insert and two queries,
# and shrinking a failure took minutes; check() names the failing message and its records.
@settings(max_examples=60, deadline=None, database=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(messages(), min_size=1, max_size=3))
def test_random_messages_lose_nothing_and_dead_letter_every_bad_record(ch: Client, batch: list[Message]) -> None:
    offsets = store(ch, [message.value for message in batch])
    found = outcomes(ch, TOPIC, offsets)
    for message, offset in zip(batch, offsets, strict=True):
        check(message, *found[offset])


def good(shape: str = "outbound", wrapper: str = "bare") -> Line:
    request_id = f"sample-{uuid.uuid4().hex[:12]}"
    return Line(shipped(record(shape, request_id), wrapper, (",", ":")), good=(request_id,))


def bad(shape: str, **changes: Any) -> Line:
    return Line(shipped(record(shape, f"bad-{uuid.uuid4().hex[:12]}", **changes), "bare", (",", ":")), bad=1)


def message(*lines: Line, newline: bytes = b"\n") -> Message:
    return Message(newline.join(line.payload for line in lines), lines)


@pytest.mark.parametrize("found", [
    # Epoch milliseconds of 2286, and a time in 3000: stored, the row vanished at once (the
    # tables' 32-bit DateTime keys and TTL wrapped around to the past). Now dead letters.
    message(good(), bad("outbound", start_time=9999999999999), good("native")),
    message(bad("native", timestamp="3000-01-01T00:00:00Z"), good("inbound", "fluent_bit")),
    # A first line that is a JSON array took the whole message for one array (ingest/framing.py):
    # the good records after it went into one dead letter with it.
    message(Line(b"[1, 2]", bad=2), good(), good("external", "merged")),
    message(Line(b"[]"), good("native"), newline=b"\r\n"),
    # A line of spaces (or of tabs, which framing makes spaces) between records was a dead letter.
    message(good(), Line(b"   "), Line(b"\t"), good("native")),
], ids=["epoch-ms-2286", "year-3000", "first-line-an-array", "first-line-an-empty-array", "blank-line"])
def test_what_fuzzing_found(ch: Client, found: Message) -> None:
    [offset] = store(ch, [found.value])
    check(found, *outcomes(ch, TOPIC, [offset])[offset])


def sample() -> Iterator[Line]:
    """Every good shape in every wrapper, every bad value of every required field, every wrong
    shape, invalid UTF-8, a NaN literal, nesting 5,000 deep, good and bad taking turns."""
    def required(shape: str) -> tuple[str, ...]:
        return payloads.REQUIRED["native" if shape == "native" else "envoy"]

    bads = [bad(shape, **{key: value}) for shape in payloads.SHAPES
            for key, values in zip(required(shape), payloads.BAD_VALUES.values(), strict=True)
            for value in values]
    bads += [bad("native", **{key: value}) for key, value in payloads.NATIVE_ONLY]
    bads += [Line(payload, bad=dead) for payload, dead in payloads.WRONG_SHAPES if not payload.startswith(b"[")]
    bads += [Line(good().payload.replace(b"GET", b"G\xff\xfeET", 1), bad=1),
             Line(good("native").payload.replace(b"12.5", b"NaN", 1), bad=1), Line(deep(5000).encode(), bad=1)]
    goods = [good(shape, wrapper) for shape in payloads.SHAPES for wrapper in ("bare", "fluent_bit", "merged")]
    for g, b in zip(itertools.cycle(goods), bads):
        yield g
        yield b


def ten_megabytes() -> Message:
    """A 10 MB message: the sample's lines over and over (fresh request ids each round)."""
    lines: list[Line] = []
    size = 0
    while size < 10 * 1024 * 1024:
        for line in sample():
            lines.append(line)
            size += len(line.payload) + 1
    return message(*lines)


@pytest.mark.kafka
def test_a_sample_through_kafka_and_the_ingester(ch: Client, kafka: str, make_settings: Callable[..., Settings],
                                                 ingest: Callable[[Settings], IngestStats]) -> None:
    """Through the broker (a topic that takes 16 MiB messages) and the real ingester: mixed
    messages, a JSON array, an empty message, a blank one, a tombstone (no value), a 10 MB
    message of mixed lines, a good record with a 10 MB path and a 10 MB line that is no JSON."""
    lines = list(sample())
    huge_path = record("native", "huge-path", path="/" + "p" * (10 * 1024 * 1024))
    sent: list[Message | None] = [message(*lines[i:i + 9]) for i in range(0, len(lines), 9)]
    sent += [message(Line(b"[" + b", ".join(line.payload for line in lines[:12]) + b"]", good=tuple(
                 i for line in lines[:12] for i in line.good), bad=sum(line.bad for line in lines[:12]))),
             Message(b"", ()), Message(b" \n\r\n ", ()), None, ten_megabytes(),
             message(Line(json.dumps(huge_path).encode(), good=("huge-path",))),
             message(Line(b"{" + b"x" * (10 * 1024 * 1024), bad=1))]
    topic = f"fuzz-kafka-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                  topic_configs={"max.message.bytes": str(16 * 1024 * 1024)})])
    try:
        producer = KafkaProducer(bootstrap_servers=kafka, max_request_size=16 * 1024 * 1024)
        for m in sent:
            if m is None:  # a tombstone: a key, no value
                producer.send(topic, key=b"tombstone", value=None, partition=0)
            else:
                producer.send(topic, m.value, partition=0)
        producer.flush()
        producer.close()
        stats = ingest(make_settings(kafka_topic=topic, kafka_group=f"group-{topic}"))
        found = outcomes(ch, topic, list(range(len(sent))))
    finally:
        admin.delete_topics([topic])
        admin.close()
    assert stats.messages == len(sent)  # every message taken, the tombstone and the empty ones too
    for offset, m in enumerate(sent):
        check(m or Message(b"", ()), *found[offset])
    big = ch.query("SELECT length(payload) FROM dead_letters WHERE topic = %(t)s AND kafka_offset = %(o)s",
                   parameters={"t": topic, "o": len(sent) - 1}).result_rows
    assert big == [(65536,)]  # the dead letter keeps the record cut at 64 KiB
    assert sum(len(m.good) for m in sent if m) > 5000  # the 10 MB message's records are in the counts
