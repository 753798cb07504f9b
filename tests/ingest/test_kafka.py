"""ingest/kafka.py against the installed kafka-python, real sockets and the real broker.

ingest/kafka.py holds every use of kafka-python's internals. When a kafka-python upgrade breaks
one, a test here fails and its message says which assumption broke and what to do
(``ingest.kafka.ASSUMPTIONS`` lists them all); the fast receive path must also hand
kafka-python the same bytes, errors and records as its own code.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import kafka.errors
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer.fetcher import Fetcher
from kafka.errors import RebalanceInProgressError
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport
from kafka.protocol.api_message import ApiMessage
from kafka.protocol.frame import KafkaBytes
from kafka.record import MemoryRecords
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.structs import MemberState

from edgewatch.settings import Settings
from ingest import kafka as adapter

FIX = ("the fast receive path (ingest/kafka.py) no longer behaves like kafka-python's own code: read what "
       "changed in kafka-python and port it, or take its version out of KNOWN_VERSIONS to run without it")


@pytest.fixture(scope="module")
def assigned(kafka: str) -> Iterator[adapter.GroupConsumer]:
    """A GroupConsumer of a fresh 2-partition topic that has its partitions (one group join)."""
    topic = f"test-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    consumer = adapter.GroupConsumer(Settings(kafka_bootstrap=kafka, kafka_topic=topic, kafka_group=f"group-{topic}"))
    try:
        consumer.subscribe(on_revoked=lambda partitions: None, revoked_stored=lambda: True)
        deadline = time.monotonic() + 60
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the consumer got no partitions within 60 s"
            consumer.poll(timeout_ms=100)
        yield consumer
    finally:
        consumer.close()
        admin.delete_topics([topic])
        admin.close()


def test_every_assumption_about_kafka_pythons_internals_holds(assigned: adapter.GroupConsumer) -> None:
    broken = adapter.broken_assumptions(assigned)
    assert not broken, "\n\n".join(broken)


def test_the_topic_id_in_deduplication_tokens_is_the_brokers(kafka: str, assigned: adapter.GroupConsumer) -> None:
    topic = assigned.settings.kafka_topic
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    assert assigned.topic_id(topic) == str(described["topic_id"]), (
        "GroupConsumer.topic_id (kafka-python's _cluster.topic_id) differs from the broker's topic id: "
        "deduplication tokens would change, and batches stored but not committed would be stored twice. "
        "Make GroupConsumer.topic_id return the broker's id as str(UUID) again")


def test_a_broken_assumption_says_which_and_what_to_do(assigned: adapter.GroupConsumer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """As an upgrade would: kafka-python's caller of _sock_recv rewritten, TLS sharing the TCP read."""

    async def rewritten(self: Any) -> None:
        pass

    monkeypatch.setattr(KafkaTCPTransport, "_read_from_sock", rewritten)
    monkeypatch.delattr(KafkaSSLTransport, "_sock_recv")
    broken = adapter.broken_assumptions(assigned)
    assert len(broken) == 2, broken
    assert broken[0].startswith(f"kafka-python {kafka.__version__} broke an assumption of ingest/kafka.py: "
                                "KafkaTCPTransport._read_from_sock")
    assert "its source changed" in broken[0] and "What to do: read the new version; port" in broken[0]
    assert "KafkaSSLTransport defines its own _sock_recv" in broken[1] and "What to do: " in broken[1]


def _reader(sock: socket.socket) -> SimpleNamespace:
    """What _sock_recv uses of kafka-python's transport: its non-blocking socket."""
    sock.setblocking(False)
    return SimpleNamespace(_sock=sock)


RECEIVERS: dict[str, Callable[[Any], tuple[bytes, Exception | None]]] = {
    "the fast path": adapter._sock_recv, "kafka-python's own": adapter.kafka_pythons_own("sock_recv")}


@pytest.mark.parametrize("name", RECEIVERS)
def test_reads_everything_the_socket_has_in_chunks_of_a_mebibyte(name: str) -> None:
    receive = RECEIVERS[name]
    ours, theirs = socket.socketpair()
    payload = bytes(range(256)) * (5 * 4096 + 7)  # about 5 MiB, not a multiple of the chunk
    writer = threading.Thread(target=theirs.sendall, args=(payload,))
    writer.start()
    transport, received = _reader(ours), bytearray()
    while len(received) < len(payload):
        data, error = receive(transport)
        assert error is None, f"{name}: {error!r}; {FIX}"
        received += data
    writer.join()
    assert bytes(received) == payload, f"{name} received other bytes than were sent; {FIX}"
    data, error = receive(transport)  # nothing pending: no data, no error
    assert (data, error) == (b"", None), f"{name}: {(data[:20], error)!r} with nothing pending; {FIX}"


@pytest.mark.parametrize("name", RECEIVERS)
def test_a_closed_peer_is_a_connection_error(name: str) -> None:
    receive = RECEIVERS[name]
    ours, theirs = socket.socketpair()
    theirs.sendall(b"last words")
    theirs.close()
    transport = _reader(ours)
    data, error = receive(transport)
    if error is None:  # the close may arrive on the next read
        assert data == b"last words", f"{name}: {data!r}; {FIX}"
        data, error = receive(transport)
    assert isinstance(error, kafka.errors.KafkaConnectionError), f"{name}: {error!r} for a closed peer; {FIX}"


def _reads(read: Callable[..., bytes]) -> list[object]:
    buffer = KafkaBytes(10)
    buffer.write(b"0123456789")
    buffer.seek(0)
    return [read(buffer, 4), type(read(buffer, 3)), read(buffer), read(buffer, 5), buffer.tell()]


def test_read_returns_bytes_and_moves_on_like_kafka_pythons_own() -> None:
    assert _reads(adapter._read) == [b"0123", bytes, b"789", b"", 10]  # past the end: empty, as the original
    assert _reads(adapter._read) == _reads(adapter.kafka_pythons_own("read")), FIX


def test_install_is_idempotent_and_uninstall_restores_the_library() -> None:
    original = KafkaTCPTransport._sock_recv
    adapter.uninstall_fast_receive()
    own = KafkaTCPTransport._sock_recv
    try:
        assert adapter.install_fast_receive() and adapter.install_fast_receive()
        assert KafkaTCPTransport._sock_recv is adapter._sock_recv
        assert KafkaBytes.read is adapter._read
        assert ApiMessage.decode.__func__ is adapter._decode
        assert Fetcher.PartitionRecords._unpack_records is adapter._unpack_records
        adapter.uninstall_fast_receive()
        assert KafkaTCPTransport._sock_recv is own and KafkaBytes.read is not adapter._read
        assert ApiMessage.decode.__func__ is not adapter._decode
        assert Fetcher.PartitionRecords._unpack_records is not adapter._unpack_records
    finally:
        if original is adapter._sock_recv:
            adapter.install_fast_receive()


def _fetch_all(bootstrap: str, topic: str, partitions: int) -> list[tuple]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=1 << 20, fetch_max_bytes=4 << 20)
    assigned = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(assigned)
    got = []
    while any(consumer.position(tp) < ends[tp] for tp in assigned):
        for records in consumer.poll(timeout_ms=1000).values():
            got += [tuple(r) for r in records]  # every field of the ConsumerRecord
    consumer.close()
    return sorted(got)


def test_a_real_fetch_gives_the_same_records_with_and_without_it(kafka: str, topic: str) -> None:
    """Plain and compressed batches, keys, null values and headers, from the real broker: every
    record as kafka-python's own code hands it over."""
    for compression in (None, "gzip", "lz4"):
        producer = KafkaProducer(bootstrap_servers=kafka, linger_ms=20, batch_size=256 << 10,
                                 compression_type=compression)
        for i in range(3000):
            producer.send(topic, None if i % 102 == 6 else os.urandom(i % 700), key=None if i % 3 else f"k{i}".encode(),
                          headers=[("h", str(i).encode())] if i % 5 == 0 else [], partition=i % 2)
        producer.flush()
        producer.close()
    installed = adapter.install_fast_receive()
    try:
        adapter.uninstall_fast_receive()
        own = _fetch_all(kafka, topic, 2)
        assert adapter.install_fast_receive()
        ours = _fetch_all(kafka, topic, 2)
    finally:
        if not installed:
            adapter.uninstall_fast_receive()
    assert len(own) == 9000
    assert ours == own, f"records fetched through the fast path differ from kafka-python's own; {FIX}"


def _batches(codec: int, count: int = 600, per_batch: int = 200, first: int = 1000) -> bytes:
    """Format-2 record batches as a fetch response holds them: keys, null values, headers, long values."""
    data = b""
    for start in range(0, count, per_batch):
        builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False, producer_id=-1,
                                            producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
        for i in range(start, start + per_batch):
            builder.append(i - start, timestamp=1_700_000_000_000 + i * 7, key=b"k%d" % i if i % 3 == 0 else None,
                           value=None if i % 97 == 5 else os.urandom(i * 13 % 3000),
                           headers=[("h", b"%d" % i), ("none", None)] if i % 5 == 0 else [])
        batch = bytearray(builder.build())
        batch[:8] = (first + start).to_bytes(8, "big")  # the base offset (outside the CRC)
        data += bytes(batch)
    return data


def _unpacked(data: bytes) -> list[tuple]:
    records = Fetcher.PartitionRecords(1000, TopicPartition("t", 3), MemoryRecords(data), None, None, check_crcs=True)
    return [tuple(record) for record in records.take()] + [(records.next_fetch_offset, records.records_read,
                                                             records.bytes_read)]


@pytest.mark.parametrize("codec", [0, 1, 3, 4], ids=["none", "gzip", "lz4", "zstd"])
def test_the_fast_record_path_hands_out_kafka_pythons_records(codec: int) -> None:
    installed = adapter.install_fast_receive()
    try:
        data = _batches(codec)
        adapter.uninstall_fast_receive()
        own = _unpacked(data)
        assert adapter.install_fast_receive()
        assert _unpacked(data) == own, FIX
        assert len(own) == 601
    finally:
        if not installed:
            adapter.uninstall_fast_receive()


def test_a_cut_batch_is_a_corrupt_record_error_as_in_kafka_python() -> None:
    data = _batches(0, count=10, per_batch=10)
    cut = bytearray(data)
    cut[-40:] = b"\xff" * 40  # the last record's bytes garbled (after the CRC check: checks off)
    installed = adapter.install_fast_receive()
    try:
        records = Fetcher.PartitionRecords(1000, TopicPartition("t", 3), MemoryRecords(bytes(cut)), None, None,
                                           check_crcs=False)
        with pytest.raises(kafka.errors.CorruptRecordError):
            records.take()
            records.take()
    finally:
        if not installed:
            adapter.uninstall_fast_receive()


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def test_freed_buffers_stay_on_glibcs_heap_for_reuse() -> None:
    """glibc's defaults give each of these 1 MiB buffers pages of its own and return them when
    freed (100 MB mapped, then nothing kept); after keep_freed_memory they come from the heap
    and stay there for the next ones."""
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _MallInfo2
    assert adapter.keep_freed_memory()  # CI runs on glibc Linux
    mapped = libc.mallinfo2().hblkhd
    buffers = [bytearray(1 << 20) for _ in range(100)]
    assert libc.mallinfo2().hblkhd - mapped < 1 << 20
    del buffers
    assert libc.mallinfo2().fordblks >= 100 << 20


def _stable(consumer: adapter.GroupConsumer, deadline_s: float = 30.0) -> None:
    """Joined, with the topic's partitions in the assignment's metadata snapshot: a member that
    joined before the topic's metadata arrived joins again when it does (a fresh topic)."""
    deadline = time.monotonic() + deadline_s
    coordinator = consumer._consumer._coordinator
    while (coordinator.state != MemberState.STABLE or not consumer.assignment()
           or not coordinator._assignment_snapshot or coordinator.need_rejoin()):
        assert time.monotonic() < deadline, "the consumer did not join within 30 s"
        consumer.poll(timeout_ms=100)


def test_a_join_left_in_flight_is_finished_by_the_next_poll(kafka: str, topic: str) -> None:
    """The stranded join of kafka-python 3.0.12 (GroupConsumer._finish_stranded_join), made to
    happen: the leader sees new metadata, its poll's timer runs out during the join, and the
    join's own assignment stops the member needing one. kafka-python's own polls then leave it
    REBALANCING, and every commit raises; the adapter's poll finishes the join."""
    consumer = adapter.GroupConsumer(Settings(kafka_bootstrap=kafka, kafka_topic=topic, kafka_group=f"group-{topic}"))
    try:
        consumer.subscribe(on_revoked=lambda partitions: None, revoked_stored=lambda: True)
        _stable(consumer)
        coordinator = consumer._consumer._coordinator
        coordinator._assignment_snapshot = {"a topic that changed": 1}  # as a metadata change leaves it
        deadline = time.monotonic() + 30
        while coordinator.state != MemberState.REBALANCING or coordinator.need_rejoin():
            assert time.monotonic() < deadline, "could not strand the join (the broker answered each within 1 ms)"
            consumer._consumer.poll(timeout_ms=1)  # kafka-python's own poll: the timer runs out mid-join
        for _ in range(10):
            consumer._consumer.poll(timeout_ms=100)
        assert coordinator.state == MemberState.REBALANCING, "kafka-python finishes such joins itself now: " \
            "GroupConsumer._finish_stranded_join may go (see its Assumption in ingest/kafka.py)"
        offsets = {tp: 0 for tp in consumer.assignment()}
        with pytest.raises(RebalanceInProgressError):
            consumer.commit(offsets)
        for _ in range(10):
            consumer.poll(timeout_ms=100)
        assert coordinator.state == MemberState.STABLE
        consumer.commit(offsets)  # raises no more
    finally:
        consumer.close()
