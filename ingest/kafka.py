"""kafka-python behind one adapter: the group consumer the ingester polls, and its fast receive path.

Every use of kafka-python's internals (names starting with ``_``) is in this module and nowhere
else; :data:`ASSUMPTIONS` names each one, and tests/ingest/test_kafka.py checks them all against
the installed kafka-python and the real broker, so an upgrade that breaks one fails there,
saying which and what to do, instead of in production.

:class:`GroupConsumer`: one topic, one group, offsets committed by hand, cooperative sticky
rebalances with a listener that waits for the writers without blocking kafka-python's IO
thread; static membership (KIP-345) under the instance id of ingest/membership.py; a join
that kafka-python left in flight finished at the next poll; the topic's id for deduplication
tokens; kafka-python's fetch state for the log line of a stalled consumer.

The fast receive path (:func:`install_fast_receive`). kafka-python 3.0 reads a readable socket
4 KiB per ``recv`` call, in Python, and copies every piece into the response buffer; decoding a
fetch response then copies the whole response once more, its records once more, and each record
batch once more. For the ingester's fetches (tens of MB per response) that was most of the
consumer's CPU (bench/ingest.py, "consume only"; docs/records.md, "Speed"). So:

- :func:`_sock_recv` reads up to 1 MiB per call and stops at a short read, instead of looping
  until ``recv`` raises ``BlockingIOError``; it returns ``(data, error)`` as the original does
  (empty data and an error when the peer closed); TLS connections keep their own method;
- :func:`_read` copies a slice of a buffer once (through a memoryview), not twice, and returns
  ``bytes`` as the original;
- :func:`_decode` decodes a received response from a view of its buffer, not from a copy;
- :func:`_unpack_records` hands out the records of a fetched batch with one function per batch
  (:func:`_batch_records`) instead of kafka-python's three calls and two objects per record: for
  messages of one record each (Fluent Bit's Kafka output) kafka-python spent 7 us a record there,
  3.9 us after (bench/ingest.py, fluentbit; the same ConsumerRecords, tests/ingest/test_kafka.py);
- :func:`keep_freed_memory` stops glibc from returning every freed response buffer to the
  kernel: a fresh buffer of tens of MB otherwise costs a page fault per 4 KiB on first write.
"""

from __future__ import annotations

import ctypes
import hashlib
import inspect
import logging
import os
import platform
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kafka
import kafka.errors as kafka_errors
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import MemberToRemove
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.base import BaseCoordinator
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport
from kafka.protocol.api_message import ApiMessage
from kafka.protocol.consumer import IsolationLevel
from kafka.protocol.frame import KafkaBytes
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.util import decode_varint
from kafka.structs import MemberState, OffsetAndMetadata

from edgewatch.settings import Settings

log = logging.getLogger(__name__)

SESSION_TIMEOUT_MS = 45_000
CALL_TIMEOUT_MS = 10_000
"""How long a broker round trip of the poll loop (offsets, commit) may block; a broker that
is down then raises KafkaTimeoutError (a RetriableError) instead of after kafka-python's 30 s."""
LEAVE_TIMEOUT_MS = 5_000
"""How long a stopping static member tries to leave the group (the broker may be down)."""


class GroupConsumer:
    """``settings.kafka_topic`` in group ``settings.kafka_group``: kafka-python's KafkaConsumer
    as the ingester uses it. Not thread-safe: one thread calls it (the ingester's).

    The consumer joins the group at the first :meth:`poll` after :meth:`subscribe`.
    ``on_revoked(partitions)`` runs on kafka-python's IO thread while the ingester's thread is
    inside :meth:`poll` or :meth:`close` (rebalances happen only there); it must not call the
    consumer. The listener then waits, on kafka-python's event loop (heartbeats go on), until
    ``revoked_stored()`` is true, and only then lets the partitions go.

    With an ``instance_id`` the consumer is a static member: a new consumer under the same id
    (the same replica, restarted after a crash) takes its partitions at once, and :meth:`close`
    removes it from the group by that id. Without one it is a dynamic member, as before.
    """

    def __init__(self, settings: Settings, instance_id: str | None = None) -> None:
        self.settings = settings
        self.instance_id = instance_id
        self._topic_ids: dict[str, str] = {}
        self._rebalance: tuple[Callable[[list[TopicPartition]], None], Callable[[], bool]] | None = None
        self._consumer = self._open()

    def _open(self) -> KafkaConsumer:
        s = self.settings
        consumer = KafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap.split(","),
            group_id=s.kafka_group,
            group_instance_id=self.instance_id,
            # Unique in the process: two consumers with one client_id in a process starve one.
            client_id=f"edgewatch-ingest-{os.getpid()}-{id(self):x}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            max_poll_records=2000,
            # A topic created just before the consumer joined is otherwise only seen at the
            # next metadata refresh (5 minutes by default).
            metadata_max_age_ms=10_000,
            # Kafka's own default since 3.0; kafka-python's 10 s drops a busy process from the
            # group when its IO thread misses a few heartbeats. A member that dies keeps its
            # partitions this long, unless a consumer under its instance id replaces it.
            session_timeout_ms=SESSION_TIMEOUT_MS,
            # Incremental rebalances (KIP-429): only partitions that move are revoked, after the
            # SyncGroup. With the eager assignors, a revocation that waited for the writers
            # outlived poll()'s timeout and kafka-python 3.0.12 then never applied the new
            # assignment (docs/records.md, "A consumer that stops fetching").
            partition_assignment_strategy=[CooperativeStickyAssignor],
        )
        # Know the topic's partitions before joining the group: a group leader without them
        # assigns nothing, and the group only rebalances at the next metadata refresh.
        if not consumer.partitions_for_topic(s.kafka_topic):
            log.warning("topic %s has no partitions yet on %s; waiting for it to be created",
                        s.kafka_topic, s.kafka_bootstrap)
        if self._rebalance is not None:
            self._subscribe(consumer)
        return consumer

    def subscribe(self, on_revoked: Callable[[list[TopicPartition]], None], revoked_stored: Callable[[], bool]) -> None:
        """Subscribe to the topic, with these rebalance callbacks (kept when :meth:`reopen` replaces the consumer)."""
        self._rebalance = on_revoked, revoked_stored
        self._subscribe(self._consumer)

    def _subscribe(self, consumer: KafkaConsumer) -> None:
        assert self._rebalance is not None
        # consumer._net: kafka-python's event loop, whose sleep the listener awaits
        listener = _Listener(*self._rebalance, sleep=consumer._net.sleep)
        consumer.subscribe([self.settings.kafka_topic], listener=listener)

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Fetched messages by partition (empty after ``timeout_ms``); rebalances happen in here."""
        self._finish_stranded_join()
        return self._consumer.poll(timeout_ms=timeout_ms)

    def _finish_stranded_join(self) -> None:
        """Make this poll finish a join that kafka-python 3.0.12 would leave unfinished for good.

        ``join_group_async`` leaves its join task in flight when poll's timer runs out, and the
        next poll awaits it again only while ``need_rejoin()`` holds. A join the leader started
        because the topic's metadata changed stops needing one inside that very task (its
        assignment takes the new metadata's snapshot): no later poll awaits the task, and the
        member stays REBALANCING with heartbeats off. It goes on fetching, but every commit
        raises RebalanceInProgressError (4 of 20 fresh groups of tests/ingest/test_commit.py's
        shape; docs/reliability.md), and the broker drops it when its session ends.
        ``request_rejoin()`` makes the poll await the task, or join again if it ended unseen.
        """
        coordinator = self._consumer._coordinator
        if coordinator.state is MemberState.REBALANCING and not coordinator.need_rejoin():
            log.info("group %s: finishing a join that kafka-python left in flight", self.settings.kafka_group)
            coordinator.request_rejoin()

    def settle(self, timeout_ms: int) -> None:
        """Poll without taking messages, so that a rebalance in progress can finish.

        Every assigned partition is paused, for good: only before :meth:`close` or
        :meth:`reopen`. Messages fetched before are dropped, uncommitted (fetched again later).
        """
        self._consumer.pause(*self._consumer.assignment())
        self.poll(timeout_ms)

    def assignment(self) -> set[TopicPartition]:
        return self._consumer.assignment()

    def topic_partitions(self) -> set[int]:
        """The topic's partitions as the consumer's metadata knows them (none: no such topic yet)."""
        return self._consumer.partitions_for_topic(self.settings.kafka_topic) or set()

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Raises kafka-python's RetriableError (KafkaTimeoutError: the broker is unreachable)."""
        return self._consumer.end_offsets(partitions, timeout_ms=CALL_TIMEOUT_MS)

    def position(self, partition: TopicPartition) -> int:
        """The offset of the next message that poll will return for ``partition``."""
        return self._consumer.position(partition)

    def committed(self, partition: TopicPartition) -> int | None:
        """Raises kafka-python's RetriableError (KafkaTimeoutError: the broker is unreachable)."""
        return self._consumer.committed(partition, timeout_ms=CALL_TIMEOUT_MS)

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offset to read of each partition; blocks until the broker answered.

        Raises kafka-python's ``RebalanceInProgressError`` (try again after the next poll),
        ``CommitFailedError`` (the partitions moved to another member) and
        ``FencedInstanceIdError`` (another consumer joined under this one's instance id), and
        ``RetriableError``s such as ``KafkaTimeoutError`` (the broker is unreachable: try again).
        """
        self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()},
                              timeout_ms=CALL_TIMEOUT_MS)

    def topic_id(self, topic: str) -> str:
        """The topic's UUID as a string (its name when the broker predates topic ids, KIP-516).

        A topic deleted and created again gets a new id while its offsets start at 0 again.
        """
        if topic not in self._topic_ids:
            self._topic_ids[topic] = str(self._consumer._cluster.topic_id(topic) or topic)
        return self._topic_ids[topic]

    def fetch_state(self, partitions: list[TopicPartition]) -> str:
        """kafka-python's private fetch state, for the log line of a stalled consumer (best effort)."""
        try:
            fetcher, subscriptions = self._consumer._fetcher, self._consumer._subscription
            states = {tp.partition: {name: getattr(subscriptions.assignment[tp], name, "?")
                                     for name in PARTITION_STATE_FIELDS}
                      for tp in partitions}
            validation = getattr(fetcher, "_validation_task", None)
            return (f"kafka-python: pending fetches to nodes {fetcher._nodes_with_pending_fetch_requests}, "
                    f"fetchable {sorted(tp.partition for tp in fetcher._fetchable_partitions())}, "
                    f"completed fetches {len(fetcher._completed_fetches)}, partition states {states}, "
                    f"validation task done: {getattr(validation, 'is_done', None)}")
        except Exception as error:  # noqa: BLE001 - diagnostics only
            return f"kafka-python state unavailable: {error!r}"

    def reopen(self) -> None:
        """Join the group again with a new KafkaConsumer, from the committed offsets: a dynamic
        member leaves and joins; a static one stays, and the new consumer takes its place."""
        self._consumer.close(autocommit=False)
        self._consumer = self._open()

    def close(self) -> None:
        """Leave the group; revokes every partition first (``on_revoked``). Commits nothing.

        A static member does not leave by closing (KIP-345: only the end of its session removes
        it), so it is then removed by its instance id: a replica that stops for good (scaled
        down, replaced by a pod of another name) must not hold its partitions for the session.
        Blocks up to :data:`LEAVE_TIMEOUT_MS` more for that; failing is logged, not raised.
        """
        self._consumer.close(autocommit=False)
        if self.instance_id is not None:
            self._leave_by_instance_id()

    def _leave_by_instance_id(self) -> None:
        s = self.settings
        admin: KafkaAdminClient | None = None
        try:
            admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap.split(","),
                                     client_id=f"edgewatch-ingest-{os.getpid()}-{id(self):x}-leave",
                                     bootstrap_timeout_ms=LEAVE_TIMEOUT_MS, request_timeout_ms=LEAVE_TIMEOUT_MS)
            member = MemberToRemove(group_instance_id=self.instance_id, reason="edgewatch ingest stopped")
            errors = admin.remove_group_members(s.kafka_group, [member])
        except kafka_errors.KafkaError as error:
            log.warning("could not leave group %s as %s (%s): its partitions move when its session ends (%d s)",
                        s.kafka_group, self.instance_id, error, SESSION_TIMEOUT_MS // 1000)
            return
        finally:
            if admin is not None:
                admin.close()
        # UnknownMemberIdError: it never joined, or the broker already dropped it
        failed = {name: error for name, error in errors.items()
                  if error not in (kafka_errors.NoError, kafka_errors.UnknownMemberIdError)}
        if failed:
            log.warning("leaving group %s as %s: %s", s.kafka_group, self.instance_id, failed)


PARTITION_STATE_FIELDS = ("paused", "_pending_revocation", "reset_strategy", "_awaiting_validation")
"""The fields of kafka-python's per-partition subscription state that a stalled consumer logs."""


class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Hands a revoked partition's batches on, then awaits their storing on kafka-python's event
    loop instead of blocking its IO thread (where ``commit()`` would raise, and heartbeats stop)."""

    def __init__(self, on_revoked: Callable[[list[TopicPartition]], None], revoked_stored: Callable[[], bool],
                 sleep: Callable[[float], Any]) -> None:
        self._on_revoked = on_revoked
        self._revoked_stored = revoked_stored
        self._sleep = sleep

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._on_revoked(list(revoked))
        while not self._revoked_stored():
            await self._sleep(0.01)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("assigned partitions: %s", sorted(tp.partition for tp in assigned))


# -- the fast receive path -------------------------------------------------------------
CHUNK = 1 << 20
KNOWN_VERSIONS = ("3.0.",)


def _sock_recv(self: KafkaTCPTransport) -> tuple[bytes, Exception | None]:
    pieces: list[bytes] = []
    error: Exception | None = None
    while True:
        try:
            data = self._sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            break
        except Exception as e:  # what the original does: close the connection, with the reason
            log.exception("%s: error receiving network data, closing socket", self)
            error = kafka_errors.KafkaConnectionError(e)
            break
        if not data:
            error = kafka_errors.KafkaConnectionError("socket disconnected")
            break
        pieces.append(data)
        if len(data) < CHUNK:  # drained what the kernel had
            break
    return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), error


def _read(self: KafkaBytes, nbytes: int | None = None) -> bytes:
    start = self._idx
    self._idx = len(self) if nbytes is None else min(start + nbytes, len(self))
    return bytes(memoryview(self)[start:self._idx])


def _decode(cls: type[ApiMessage], data: Any, *args: Any, **kwargs: Any) -> Any:
    if type(data) is KafkaBytes:  # a received response: the original copies the rest of it out
        data = memoryview(data)[data.tell():]
    return _ORIGINAL["decode"].__func__(cls, data, *args, **kwargs)


# -- the fast record path -------------------------------------------------------------------
def _unpack_records(self: Any, tp: TopicPartition, records: Any, key_deserializer: Any,
                    value_deserializer: Any) -> Any:
    """kafka-python's ``PartitionRecords._unpack_records`` (3.0.12), with the records of a
    message-format-2 data batch read by :func:`_batch_records` when nothing deserializes keys
    or values (the ingester's consumer); every other case is kafka-python's own code. The
    batch-level logic (CRC, leader epoch, aborted transactions, control batches, the next
    fetch offset) is the original's, line for line."""
    if key_deserializer is not None or value_deserializer is not None:
        yield from _ORIGINAL["unpack"](self, tp, records, key_deserializer, value_deserializer)
        return
    try:
        batch = records.next_batch()
        last_batch = None
        while batch is not None:
            last_batch = batch
            if self.check_crcs and not batch.validate_crc():
                raise kafka_errors.CorruptRecordError(
                    f"Record batch for partition {self.topic_partition} at offset {batch.base_offset} failed crc check")
            if batch.magic == 2:
                self.leader_epoch = batch.leader_epoch
                if self.isolation_level == IsolationLevel.READ_COMMITTED and batch.has_producer_id():
                    self._consume_aborted_transactions_up_to(batch.last_offset)
                    producer_id = batch.producer_id
                    if self._contains_abort_marker(batch):
                        self.aborted_producer_ids.discard(producer_id)
                    elif self._is_batch_aborted(batch):
                        self.next_fetch_offset = batch.next_offset
                        batch = records.next_batch()
                        continue
                if batch.is_control_batch:
                    self.next_fetch_offset = batch.next_offset
                    batch = records.next_batch()
                    continue
            if type(batch) is DefaultRecordBatch:
                yield from _batch_records(self, tp, batch)
            else:  # the legacy formats (magic 0 and 1; gone from Kafka 4 brokers): the original's loop
                yield from _legacy_records(self, tp, batch)
            batch = records.next_batch()
        else:
            if last_batch and last_batch.magic == 2:
                self.next_fetch_offset = last_batch.next_offset
            self.drain()
    except StopIteration:  # as the original: a StopIteration raised inside is an error
        log.exception("StopIteration raised unpacking messageset")
        raise RuntimeError("StopIteration raised unpacking messageset") from None


def _legacy_records(self: Any, tp: TopicPartition, batch: Any) -> Any:
    """kafka-python's own per-record loop, for a batch in a legacy message format."""
    for record in batch:
        if self.check_crcs and not record.validate_crc():
            raise kafka_errors.CorruptRecordError(
                f"Record for partition {self.topic_partition} at offset {record.offset} failed crc check")
        key, value, headers = record.key, record.value, record.headers
        self.records_read += 1
        self.bytes_read += record.size_in_bytes
        self.next_fetch_offset = record.offset + 1
        yield ConsumerRecord(
            tp.topic, tp.partition, self.leader_epoch, record.offset, record.timestamp, record.timestamp_type,
            key, value, headers, record.checksum, len(key) if key is not None else -1,
            len(value) if value is not None else -1,
            sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers) if headers else -1)


def _batch_records(self: Any, tp: TopicPartition, batch: DefaultRecordBatch) -> Any:
    """The ConsumerRecords of a format-2 data batch, as kafka-python's own loop yields them
    (``DefaultRecordBatch._read_msg`` per record, then ``ConsumerRecord``), in one function:
    a varint of one or two bytes (every field of a record under 8 KiB) decoded inline, no record object in
    between, no per-record CRC call (always true in format 2). About half of kafka-python's CPU
    per record for messages of one record (bench/ingest.py, fluentbit)."""
    iter(batch)  # decompresses the batch, as kafka-python's iteration does
    buf: bytearray = batch._buffer
    view = memoryview(buf)
    pos: int = batch._pos
    header = batch._header_data
    base_offset, first_timestamp, max_timestamp = header[0], header[7], header[8]
    timestamp_type = batch.timestamp_type
    log_append = timestamp_type == DefaultRecordBatch.LOG_APPEND_TIME
    topic, partition = tp.topic, tp.partition
    try:
        while batch._next_record_index < batch._num_records:
            b = buf[pos]
            if b < 0x80:
                length, pos = (b >> 1) ^ -(b & 1), pos + 1
            elif buf[pos + 1] < 0x80:  # two bytes: a record of 64 bytes to 8 KiB
                b = (b & 0x7F) | buf[pos + 1] << 7
                length, pos = (b >> 1) ^ -(b & 1), pos + 2
            else:
                length, pos = decode_varint(buf, pos)
            start = pos
            pos = pos + 1 if buf[pos] < 0x80 else decode_varint(buf, pos)[1]  # attributes: unused
            b = buf[pos]
            if b < 0x80:
                timestamp_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
            else:
                timestamp_delta, pos = decode_varint(buf, pos)
            b = buf[pos]
            if b < 0x80:
                offset_delta, pos = (b >> 1) ^ -(b & 1), pos + 1
            else:
                offset_delta, pos = decode_varint(buf, pos)
            b = buf[pos]
            if b < 0x80:
                key_size, pos = (b >> 1) ^ -(b & 1), pos + 1
            else:
                key_size, pos = decode_varint(buf, pos)
            key = None
            if key_size >= 0:
                key, pos = bytes(view[pos:pos + key_size]), pos + key_size
            b = buf[pos]
            if b < 0x80:
                value_size, pos = (b >> 1) ^ -(b & 1), pos + 1
            elif buf[pos + 1] < 0x80:
                b = (b & 0x7F) | buf[pos + 1] << 7
                value_size, pos = (b >> 1) ^ -(b & 1), pos + 2
            else:
                value_size, pos = decode_varint(buf, pos)
            value = None
            if value_size >= 0:
                value, pos = bytes(view[pos:pos + value_size]), pos + value_size
            headers: list[tuple[str, bytes | None]] = []
            header_size = -1
            if buf[pos] == 0:  # no headers, nearly always
                pos += 1
            else:
                count, pos = decode_varint(buf, pos)
                if count < 0:
                    raise kafka_errors.CorruptRecordError(f"Found invalid number of record headers {count}")
                for _ in range(count):
                    h_key_size, pos = decode_varint(buf, pos)
                    if h_key_size < 0:
                        raise kafka_errors.CorruptRecordError(f"Invalid negative header key size {h_key_size}")
                    h_key = buf[pos:pos + h_key_size].decode("utf-8")
                    pos += h_key_size
                    h_value_size, pos = decode_varint(buf, pos)
                    h_value = None
                    if h_value_size >= 0:
                        h_value, pos = bytes(view[pos:pos + h_value_size]), pos + h_value_size
                    headers.append((h_key, h_value))
                if headers:
                    header_size = sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers)
            if pos - start != length:
                raise kafka_errors.CorruptRecordError(
                    f"Invalid record size: expected to read {length} bytes in record payload, "
                    f"but instead read {pos - start}")
            batch._pos = pos
            batch._next_record_index += 1
            offset = base_offset + offset_delta
            self.records_read += 1
            self.bytes_read += length
            self.next_fetch_offset = offset + 1
            yield ConsumerRecord(topic, partition, self.leader_epoch, offset,
                                 max_timestamp if log_append else first_timestamp + timestamp_delta, timestamp_type,
                                 key, value, headers, None, len(key) if key is not None else -1,
                                 len(value) if value is not None else -1, header_size)
    except (ValueError, IndexError) as error:
        raise kafka_errors.CorruptRecordError(f"Found invalid record structure: {error!r}") from None
    if pos != len(buf):
        raise kafka_errors.CorruptRecordError(f"{len(buf) - pos} unconsumed bytes after all records consumed")


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20
"""Allocations from this size on get pages of their own. glibc's default starts at 128 KiB and
only adapts upwards as such buffers are freed; a fixed value also stops that adapting. 32 MiB
holds a fetch response of 4 partitions at 8 MiB each (GroupConsumer's fetch settings)."""
TRIM_THRESHOLD = 512 << 20
"""Freed memory at the top of the heap kept for reuse, at most."""


def keep_freed_memory() -> bool:
    """Have glibc keep freed buffers of up to :data:`MMAP_THRESHOLD` on its heap for reuse,
    and trim the heap only beyond :data:`TRIM_THRESHOLD`; False (and nothing changed) unless
    the C library is glibc. Process-wide, but the embedded engine allocates with its own
    jemalloc, so this touches Python's objects only."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


_ORIGINAL: dict[str, Any] = {}
_PartitionRecords: Any = Fetcher.PartitionRecords


def install_fast_receive() -> bool:
    """Apply the fast receive path to kafka-python (process-wide, idempotent); False, with a log
    line, on a version it was not written against."""
    if not kafka.__version__.startswith(KNOWN_VERSIONS):
        log.info("kafka-python %s: keeping its own socket reads (fast path written for %s)",
                 kafka.__version__, ", ".join(v + "x" for v in KNOWN_VERSIONS))
        return False
    if not _ORIGINAL:
        _ORIGINAL.update(sock_recv=KafkaTCPTransport._sock_recv, read=KafkaBytes.read,
                         decode=ApiMessage.__dict__["decode"], unpack=_PartitionRecords._unpack_records)
        KafkaTCPTransport._sock_recv = _sock_recv  # type: ignore[method-assign]
        KafkaBytes.read = _read  # type: ignore[method-assign]
        ApiMessage.decode = classmethod(_decode)  # type: ignore[method-assign, assignment]
        _PartitionRecords._unpack_records = _unpack_records
    return True


def uninstall_fast_receive() -> None:
    """Restore kafka-python's own methods (for tests and comparisons)."""
    if _ORIGINAL:
        KafkaTCPTransport._sock_recv = _ORIGINAL.pop("sock_recv")  # type: ignore[method-assign]
        KafkaBytes.read = _ORIGINAL.pop("read")  # type: ignore[method-assign]
        ApiMessage.decode = _ORIGINAL.pop("decode")  # type: ignore[method-assign]
        _PartitionRecords._unpack_records = _ORIGINAL.pop("unpack")


def kafka_pythons_own(name: str) -> Any:
    """kafka-python's own function behind a patched name (``sock_recv``, ``read``, ``decode``),
    installed or not: what :data:`ASSUMPTIONS` fingerprints."""
    own = _ORIGINAL.get(name) or {"sock_recv": KafkaTCPTransport._sock_recv, "read": KafkaBytes.read,
                                  "decode": ApiMessage.__dict__["decode"],
                                  "unpack": _PartitionRecords._unpack_records}[name]
    return own.__func__ if isinstance(own, classmethod) else own


# -- what this module assumes of kafka-python's internals ----------------------------------
@dataclass(frozen=True)
class Assumption:
    """One thing this module relies on in kafka-python's internals."""

    what: str
    needed_by: str
    remedy: str
    check: Callable[[KafkaConsumer, str], None]
    """Raises when it no longer holds; given a consumer subscribed to a topic, and the topic."""


def _signature_is(function: Callable[..., Any], *names: str) -> None:
    got = tuple(inspect.signature(function).parameters)
    assert got == names, f"its parameters are ({', '.join(got)}), not ({', '.join(names)})"


def _source_is(function: Callable[..., Any], fingerprint: str) -> None:
    got = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
    assert got == fingerprint, f"its source changed (fingerprint {got}; this module was written against {fingerprint})"


def _fetch_state_fields(consumer: KafkaConsumer, topic: str) -> None:
    fetcher = consumer._fetcher
    assert isinstance(fetcher._nodes_with_pending_fetch_requests, set), "_nodes_with_pending_fetch_requests"
    assert all(isinstance(tp, TopicPartition) for tp in fetcher._fetchable_partitions()), "_fetchable_partitions"
    assert len(fetcher._completed_fetches) >= 0
    assert consumer.assignment(), "no partitions assigned: nothing to look at"
    for tp in consumer.assignment():
        state = consumer._subscription.assignment[tp]
        missing = [name for name in PARTITION_STATE_FIELDS if not hasattr(state, name)]
        assert not missing, f"the partition state has no {', '.join(missing)}"


def _topic_id_is_a_uuid(consumer: KafkaConsumer, topic: str) -> None:
    _signature_is(consumer._cluster.topic_id, "topic_name")
    value = consumer._cluster.topic_id(topic)
    assert isinstance(value, uuid.UUID), f"it gave {value!r} for topic {topic!r}, not a UUID"


def _record_batch_layout(consumer: KafkaConsumer, topic: str) -> None:
    _source_is(DefaultRecordBatch._read_msg, "b203a6ee5e4f423b")
    _source_is(DefaultRecordBatch.__iter__, "b4a70014a33bed92")
    _source_is(DefaultRecordBatch.__init__, "8df1286ebd1e7110")


def _join_state_is_readable(consumer: KafkaConsumer, topic: str) -> None:
    coordinator = consumer._coordinator
    states = (MemberState.UNJOINED, MemberState.REBALANCING, MemberState.STABLE)
    assert coordinator.state in states, f"_coordinator.state is {coordinator.state!r}, not one of {states}"
    _signature_is(coordinator.need_rejoin)
    _signature_is(coordinator.request_rejoin)
    _source_is(BaseCoordinator.join_group_async, "f9b7d8038dabf04d")


def _tls_keeps_its_own(consumer: KafkaConsumer, topic: str) -> None:
    assert "_sock_recv" in KafkaSSLTransport.__dict__, "KafkaSSLTransport inherits _sock_recv now"


_PORT = ("port what changed into this module's replacement and update the fingerprint; until then the "
         "ingester works without the fast path: take the version out of KNOWN_VERSIONS, and "
         "install_fast_receive keeps kafka-python's own code (bench/ingest.py's 'consume only' shows the cost)")

ASSUMPTIONS = (
    Assumption("KafkaConsumer._net.sleep(delay), an awaitable of kafka-python's event loop",
               "the rebalance listener, which waits for the writers without blocking the IO thread",
               "find the event loop's sleep in the new kafka-python and hand it to _Listener in "
               "GroupConsumer._subscribe; a blocking wait stops heartbeats (docs/records.md)",
               lambda consumer, topic: _signature_is(consumer._net.sleep, "delay")),
    Assumption("KafkaConsumer._coordinator.state (one of MemberState's), need_rejoin(), request_rejoin(); "
               "BaseCoordinator.join_group_async as written in kafka-python 3.0.12",
               "GroupConsumer._finish_stranded_join, without which a join left in flight keeps the member "
               "REBALANCING for good and no offset is ever committed",
               "read the new join_group_async: if a join left in flight is now awaited whatever need_rejoin() "
               "says, drop _finish_stranded_join; else port it to the new names. "
               "tests/ingest/test_kafka.py::test_a_join_left_in_flight_is_finished_by_the_next_poll tells",
               _join_state_is_readable),
    Assumption("KafkaConsumer._cluster.topic_id(topic_name) -> uuid.UUID",
               "deduplication tokens (topic id, partition, offsets): a restart must form the tokens of the "
               "batches it stored before",
               "get the topic id elsewhere in GroupConsumer.topic_id (KafkaAdminClient.describe_topics has it), "
               "as the same str(UUID): another form stores batches stored but not committed a second time",
               _topic_id_is_a_uuid),
    Assumption(f"KafkaConsumer._fetcher (_nodes_with_pending_fetch_requests, _fetchable_partitions(), "
               f"_completed_fetches) and _subscription.assignment[tp].{{{', '.join(PARTITION_STATE_FIELDS)}}}",
               "the log line of a stalled consumer (diagnostics only)",
               "adjust GroupConsumer.fetch_state and PARTITION_STATE_FIELDS to the new names",
               _fetch_state_fields),
    Assumption("KafkaTCPTransport._sock_recv(self) -> (data, error), as written in kafka-python 3.0.12",
               "the fast receive path, which replaces it", "read the new version; " + _PORT,
               lambda consumer, topic: _source_is(kafka_pythons_own("sock_recv"), "2594a6a62ec5a3e5")),
    Assumption("KafkaTCPTransport._read_from_sock, its caller: unpacks (data, error), reads self._sock",
               "the fast receive path's _sock_recv, which must fit its caller", "read the new version; " + _PORT,
               lambda consumer, topic: _source_is(KafkaTCPTransport._read_from_sock, "572fe643c70751bf")),
    Assumption("KafkaSSLTransport defines its own _sock_recv",
               "TLS connections: the fast path patches the plain TCP transport only (TLS reads raise "
               "SSLWantReadError, which it does not handle)",
               "make install_fast_receive leave TLS transports alone another way (or patch them knowingly)",
               _tls_keeps_its_own),
    Assumption("KafkaBytes.read(self, nbytes=None) over its position _idx, as written in kafka-python 3.0.12",
               "the fast receive path, which replaces it", "read the new version; " + _PORT,
               lambda consumer, topic: _source_is(kafka_pythons_own("read"), "21580870f9dff4aa")),
    Assumption("ApiMessage.decode(cls, data, ...) classmethod, decoding from a memoryview",
               "the fast receive path, which hands it a view of the received buffer", "read the new version; " + _PORT,
               lambda consumer, topic: _source_is(kafka_pythons_own("decode"), "66539bd58d53a4a8")),
    Assumption("Fetcher.PartitionRecords._unpack_records(self, tp, records, key_deserializer, value_deserializer), "
               "as written in kafka-python 3.0.12",
               "the fast record path, which replaces it (its batch-level logic is the original's)",
               "read the new version; " + _PORT,
               lambda consumer, topic: _source_is(kafka_pythons_own("unpack"), "d91ccce28d83483f")),
    Assumption("DefaultRecordBatch: _buffer, _pos, _header_data (base offset [0], first and max timestamp [7], [8]), "
               "_num_records, _next_record_index; __iter__ decompresses; _read_msg's record layout, as in 3.0.12",
               "the fast record path's _batch_records, which reads a batch's records itself",
               "read the new version; " + _PORT,
               _record_batch_layout),
)
"""Every assumption this module makes of kafka-python's internals; kept beside the code that makes them."""


def broken_assumptions(consumer: GroupConsumer) -> list[str]:
    """One message per assumption of :data:`ASSUMPTIONS` that the installed kafka-python breaks:
    what broke, what needs it, what to do. ``consumer`` should have its partitions assigned."""
    broken = []
    for assumption in ASSUMPTIONS:
        try:
            assumption.check(consumer._consumer, consumer.settings.kafka_topic)
        except Exception as error:  # noqa: BLE001 - each broken assumption is reported, not raised
            broken.append(f"kafka-python {kafka.__version__} broke an assumption of ingest/kafka.py: "
                          f"{assumption.what}: {error!r}. Needed by {assumption.needed_by}. "
                          f"What to do: {assumption.remedy}.")
    return broken
