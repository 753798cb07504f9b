"""ingest/fastrecv.py against real sockets: it must hand kafka-python the same bytes and errors."""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from types import SimpleNamespace

import kafka.errors
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.protocol.api_message import ApiMessage
from kafka.protocol.frame import KafkaBytes

from ingest import fastrecv


def _reader(sock: socket.socket) -> SimpleNamespace:
    """What _sock_recv uses of kafka-python's transport: its non-blocking socket."""
    sock.setblocking(False)
    return SimpleNamespace(_sock=sock)


def test_reads_everything_the_socket_has_in_chunks_of_a_mebibyte() -> None:
    ours, theirs = socket.socketpair()
    payload = bytes(range(256)) * (5 * 4096 + 7)  # about 5 MiB, not a multiple of the chunk
    writer = threading.Thread(target=theirs.sendall, args=(payload,))
    writer.start()
    transport, received = _reader(ours), bytearray()
    while len(received) < len(payload):
        data, error = fastrecv._sock_recv(transport)
        assert error is None
        received += data
    writer.join()
    assert bytes(received) == payload
    data, error = fastrecv._sock_recv(transport)  # nothing pending: no data, no error
    assert (data, error) == (b"", None)


def test_a_closed_peer_is_a_connection_error() -> None:
    ours, theirs = socket.socketpair()
    theirs.sendall(b"last words")
    theirs.close()
    transport = _reader(ours)
    data, error = fastrecv._sock_recv(transport)
    if error is None:  # the close may arrive on the next read
        assert data == b"last words"
        data, error = fastrecv._sock_recv(transport)
    assert isinstance(error, kafka.errors.KafkaConnectionError)


def test_read_returns_bytes_and_moves_on_like_kafka_pythons_own() -> None:
    buffer = KafkaBytes(10)
    buffer.write(b"0123456789")
    buffer.seek(0)
    assert fastrecv._read(buffer, 4) == b"0123"
    assert type(fastrecv._read(buffer, 3)) is bytes
    assert fastrecv._read(buffer) == b"789"
    assert fastrecv._read(buffer, 5) == b""  # past the end: empty, as the original
    assert buffer.tell() == 10


def test_install_is_idempotent_and_uninstall_restores_the_library() -> None:
    from kafka.net.transport import KafkaTCPTransport

    original = KafkaTCPTransport._sock_recv
    fastrecv.uninstall()
    own = KafkaTCPTransport._sock_recv
    try:
        assert fastrecv.install() and fastrecv.install()
        assert KafkaTCPTransport._sock_recv is fastrecv._sock_recv
        assert KafkaBytes.read is fastrecv._read
        assert ApiMessage.decode.__func__ is fastrecv._decode
        fastrecv.uninstall()
        assert KafkaTCPTransport._sock_recv is own and KafkaBytes.read is not fastrecv._read
        assert ApiMessage.decode.__func__ is not fastrecv._decode
    finally:
        if original is fastrecv._sock_recv:
            fastrecv.install()


def _fetch_all(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int, bytes | None, bytes, list]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=1 << 20, fetch_max_bytes=4 << 20)
    assigned = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(assigned)
    got = []
    while any(consumer.position(tp) < ends[tp] for tp in assigned):
        for records in consumer.poll(timeout_ms=1000).values():
            got += [(r.partition, r.offset, r.key, r.value, list(r.headers)) for r in records]
    consumer.close()
    return sorted(got)


def test_a_real_fetch_gives_the_same_records_with_and_without_it(kafka: str, topic: str) -> None:
    """Plain and gzip-compressed batches, keys and headers, from the real broker: every
    record as kafka-python's own code hands it over."""
    for compression in (None, "gzip"):
        producer = KafkaProducer(bootstrap_servers=kafka, linger_ms=20, batch_size=256 << 10,
                                 compression_type=compression)
        for i in range(3000):
            producer.send(topic, os.urandom(i % 700), key=None if i % 3 else f"k{i}".encode(),
                          headers=[("h", str(i).encode())] if i % 5 == 0 else [], partition=i % 2)
        producer.flush()
        producer.close()
    installed = fastrecv.install()
    try:
        fastrecv.uninstall()
        own = _fetch_all(kafka, topic, 2)
        assert fastrecv.install()
        ours = _fetch_all(kafka, topic, 2)
    finally:
        if not installed:
            fastrecv.uninstall()
    assert len(own) == 6000
    assert ours == own


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def test_freed_buffers_stay_on_glibcs_heap_for_reuse() -> None:
    """glibc's defaults give each of these 1 MiB buffers pages of its own and return them when
    freed (100 MB mapped, then nothing kept); after keep_freed_memory they come from the heap
    and stay there for the next ones."""
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _MallInfo2
    assert fastrecv.keep_freed_memory()  # CI runs on glibc Linux
    mapped = libc.mallinfo2().hblkhd
    buffers = [bytearray(1 << 20) for _ in range(100)]
    assert libc.mallinfo2().hblkhd - mapped < 1 << 20
    del buffers
    assert libc.mallinfo2().fordblks >= 100 << 20
