"""End to end through the real Kafka broker and the real ClickHouse engine."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from kafka.admin import KafkaAdminClient, NewTopic

from edgewatch.clickhouse import connect
from edgewatch.settings import Settings
from ingest.batches import Batch
from ingest.kafka import GroupConsumer
from ingest.service import Ingester
from ingest.store import QUEUED_PER_LANE, Store
from ingest.writer import BatchWriter

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)


def native_line(i: int) -> bytes:
    return json.dumps({
        "timestamp": (BASE + timedelta(milliseconds=97 * i)).isoformat().replace("+00:00", "Z"),
        "source_workload": f"caller-{i % 3}", "destination_service": f"svc-{i % 5}",
        "response_code": (200, 200, 503, 404, 504)[i % 5], "response_flags": "UT" if i % 5 == 4 else "-",
        "duration_ms": 5 + i % 50, "request_id": f"n-{i}",
    }).encode()


def envoy_line(i: int) -> bytes:
    return json.dumps({
        "start_time": (BASE + timedelta(milliseconds=89 * i)).isoformat().replace("+00:00", "Z"),
        "method": "GET", "path": "/p", "protocol": "HTTP/1.1", "response_code": (200, 500)[i % 2],
        "response_flags": "-", "duration": i % 30, "request_id": f"e-{i}",
        "upstream_cluster": "outbound|8080||svc-env.fleet.svc.cluster.local", "authority": "svc-env:8080",
        "kubernetes": {"namespace_name": "fleet", "labels": {"app": "envoy-caller"}},
    }).encode()


def clients(settings: Settings) -> Callable[[], Client]:
    return lambda: connect(settings.clickhouse_url)


MALFORMED = [b"{not json", b"[1, 2", b'{"timestamp": "x", "destination_service": "a", "response_code": 1, '
             b'"duration_ms": 1}', b'{"destination_service": "a"}', b"true"]


def mixed_messages(total: int, bad: int, seed: int = 3) -> list[bytes]:
    """``total`` records (``bad`` of them malformed) as single, NDJSON and JSON-array messages."""
    rng = random.Random(seed)
    records = [native_line(i) if i % 2 else envoy_line(i) for i in range(total - bad)]
    records += [MALFORMED[i % len(MALFORMED)] for i in range(bad)]
    rng.shuffle(records)
    messages, i = [], 0
    while i < len(records):
        kind, size = rng.choice(("single", "ndjson", "array")), rng.randint(1, 300)
        chunk = records[i:i + (1 if kind == "single" else size)]
        i += len(chunk)
        if kind == "array" and not any(r in MALFORMED for r in chunk):
            messages.append(b"[" + b",".join(chunk) + b"]")
        else:
            messages.append(b"\n".join(chunk))
    return messages


def test_10000_records_both_formats_with_100_malformed(ch: Client, make_settings, publish, ingest) -> None:
    settings = make_settings()
    publish(settings, mixed_messages(10_000, 100))
    ingest(settings)

    assert ch.command("SELECT count() FROM requests") == 9_900
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 9_900
    letters = ch.query("SELECT reason, count() FROM dead_letters GROUP BY reason ORDER BY reason").result_rows
    assert sum(n for _, n in letters) == 100
    assert {reason.split(":")[0] for reason, _ in letters} == {
        "invalid JSON", "not a JSON object", "timestamp", "missing required field"}
    assert ch.command(f"SELECT countIf(topic != '{settings.kafka_topic}') FROM dead_letters") == 0

    raw = ch.query("""
        SELECT toStartOfMinute(timestamp) m, source_workload, destination_service, count(),
               countIf(response_code >= 500 OR response_code = 0),
               countIf(response_flags = 'UT' OR response_code = 504),
               countIf(response_code BETWEEN 400 AND 499)
        FROM requests WHERE reporter = 'source' GROUP BY ALL ORDER BY ALL""").result_rows
    rollup = ch.query("""
        SELECT minute, source_workload, destination_service, sum(requests), sum(errors), sum(timeouts),
               sum(client_errors)
        FROM edge_minute GROUP BY ALL ORDER BY ALL""").result_rows
    assert rollup == raw
    codes = dict(ch.query("SELECT response_code, count() FROM requests GROUP BY 1").result_rows)
    rolled_codes = ch.command("SELECT toString(sumMap(status_codes)) FROM edge_minute")
    assert rolled_codes == str(dict(sorted(codes.items()))).replace(" ", "").replace("{", "{").replace("'", "")


def test_restart_mid_stream_loses_and_duplicates_nothing(ch: Client, make_settings, publish, ingest) -> None:
    settings = make_settings(batch_max_records=500)
    messages = [b"\n".join(native_line(i * 50 + j) for j in range(50)) for i in range(200)]  # 10,000 records
    publish(settings, messages[:100])
    stop = threading.Event()
    first = Ingester(settings, clients(settings))
    worker = threading.Thread(target=first.run, kwargs={"stop": stop})
    worker.start()
    deadline = time.monotonic() + 60
    while ch.command("SELECT count() FROM requests") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    publish(settings, messages[100:150])
    stop.set()  # mid-stream: batches in hand are stored and committed, the rest is left in Kafka
    worker.join(timeout=60)
    assert not worker.is_alive()
    publish(settings, messages[150:])
    ingest(settings)
    assert ch.command("SELECT count() FROM requests") == 10_000
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 10_000


def _stores_two_batches_then_crashes(stop: threading.Event) -> type[Ingester]:
    """An ingester that stores its first two batches and sets ``stop``, drops the rest, and
    hands no stored batch on to the commit step: a crash between insert and Kafka commit."""

    class StoresTwoBatches(Store):
        handed = 0

        def submit(self, batch: Batch) -> None:
            self.hand_over(batch)

        def hand_over(self, batch: Batch) -> None:
            if self.handed < 2:
                self.handed += 1
                super().hand_over(batch)
                if self.handed == 2:
                    stop.set()

        def poll(self) -> None:
            pass

    class CrashesBeforeCommit(Ingester):
        store_type = StoresTwoBatches

    return CrashesBeforeCommit


def test_batch_stored_but_not_committed_is_not_stored_twice(ch: Client, make_settings, publish, ingest) -> None:
    settings = make_settings(batch_max_records=700)
    messages = [b"\n".join(native_line(i * 100 + j) for j in range(100)) for i in range(40)]
    publish(settings, messages, partition=0)
    stop = threading.Event()
    _stores_two_batches_then_crashes(stop)(settings, clients(settings)).run(stop=stop)
    stored_first = ch.command("SELECT count() FROM requests")
    assert stored_first == 1_400  # two batches of 7 messages of 100 records
    # A restart with other batch limits must still rebuild the stored batches exactly.
    ingest(settings.model_copy(update={"batch_max_records": 3_000}))
    assert ch.command("SELECT count() FROM requests") == 4_000
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 4_000


def test_a_stop_while_rebuilding_a_stored_batch_stores_no_part_of_it_again(ch: Client, make_settings, publish,
                                                                          ingest) -> None:
    settings = make_settings(batch_max_records=700)
    messages = [b"\n".join(native_line(i * 100 + j) for j in range(100)) for i in range(40)]
    publish(settings, messages, partition=0)
    crashed = threading.Event()
    _stores_two_batches_then_crashes(crashed)(settings, clients(settings)).run(stop=crashed)
    assert ch.command("SELECT count() FROM requests") == 1_400
    stop = threading.Event()

    class StopsAfterThreeMessages(GroupConsumer):
        def poll(self, timeout_ms: int):  # type: ignore[no-untyped-def]
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=3)
            if polled:
                stop.set()  # in the middle of the first stored batch, which is being rebuilt
            return polled

    class StoppedWhileRebuilding(Ingester):
        consumer_type = StopsAfterThreeMessages

    StoppedWhileRebuilding(settings, clients(settings)).run(stop=stop)
    assert ch.command("SELECT count() FROM requests") == 1_400
    ingest(settings)
    assert ch.command("SELECT count() FROM requests") == 4_000
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 4_000


def test_a_store_that_cannot_keep_up_stops_the_fetching(ch: Client, make_settings, publish) -> None:
    """While ClickHouse takes no inserts, the ingester takes no more messages than its lane and
    the batching step hold (QUEUED_PER_LANE batches waiting, one being written, one closed
    batch and one open per partition), however many wait in Kafka; then it stores them all, once."""
    settings = make_settings(batch_max_records=100, ingest_writers=1)
    messages = [b"\n".join(native_line(i * 10 + j) for j in range(10)) for i in range(300)]  # 10 per batch
    publish(settings, messages, partition=0)
    ingester, stop = Ingester(settings, clients(settings)), threading.Event()
    worker = threading.Thread(target=ingester.run, kwargs={"stop": stop})
    ch.command("DETACH TABLE ingest_lines")  # inserts fail and are retried, as with a server that is down
    try:
        try:
            worker.start()
            deadline = time.monotonic() + 60
            while ingester.stats.messages == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(3.0)
            taken = ingester.stats.messages
            assert 0 < taken <= (QUEUED_PER_LANE + 3) * 10, f"took {taken} of 300 messages with nothing stored"
        finally:
            ch.command("ATTACH TABLE ingest_lines")
        deadline = time.monotonic() + 90
        while ch.command("SELECT count() FROM requests") < 3_000 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert ch.command("SELECT count() FROM requests") == 3_000
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 3_000
    assert ingester.stats.messages == 300


def test_one_client_per_writer_lane_and_one_for_the_ingesters_own_queries(ch: Client, make_settings,
                                                                          publish) -> None:
    settings = make_settings(ingest_writers=3)
    publish(settings, [native_line(i) for i in range(8)])
    opened: list[Client] = []

    def connect_counted() -> Client:
        opened.append(connect(settings.clickhouse_url))
        return opened[-1]

    Ingester(settings, connect_counted).run(until_caught_up=True)
    assert len(opened) == 4 and len({id(client) for client in opened}) == 4
    assert ch.command("SELECT count() FROM requests") == 8


class _FirstConsumerStalls(GroupConsumer):
    """Its first KafkaConsumer stops fetching after a poll with records, as kafka-python 3.0.12
    consumers were seen to do; the ingester must notice and carry on with a new one."""

    def __init__(self, settings: Settings, instance_id: str | None = None) -> None:
        self.consumers = 1
        self.polls_with_records = 0
        super().__init__(settings, instance_id)

    def poll(self, timeout_ms: int):  # type: ignore[no-untyped-def]
        if self.consumers == 1 and self.polls_with_records >= 1:
            time.sleep(0.1)
            return {}
        polled = super().poll(timeout_ms)
        self.polls_with_records += bool(polled)
        return polled

    def reopen(self) -> None:
        super().reopen()
        self.consumers += 1


class _IngesterWhoseFirstConsumerStalls(Ingester):
    consumer_type = _FirstConsumerStalls


def test_a_consumer_that_stops_fetching_is_replaced(ch: Client, make_settings, publish) -> None:
    settings = make_settings(batch_max_records=300)
    messages = [b"\n".join(native_line(i * 10 + j) for j in range(10)) for i in range(400)]  # 4,000 records
    publish(settings, messages[:200])
    ingester = _IngesterWhoseFirstConsumerStalls(settings, clients(settings))
    ingester.stall_after_s = 2.0
    stop = threading.Event()
    worker = threading.Thread(target=ingester.run, kwargs={"stop": stop})
    worker.start()
    deadline = time.monotonic() + 60
    while ch.command("SELECT count() FROM requests") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    publish(settings, messages[200:])  # the first consumer, stalled by now, is behind
    while ch.command("SELECT count() FROM requests") < 4_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert isinstance(ingester.consumer, _FirstConsumerStalls)
    assert ingester.consumer.consumers == 2  # the stalled one, then one that fetched the rest
    assert ch.command("SELECT count() FROM requests") == 4_000
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 4_000


class _CountsReplacements(GroupConsumer):
    replacements = 0

    def reopen(self) -> None:
        self.replacements += 1
        super().reopen()


class _IngesterCountingReplacements(Ingester):
    consumer_type = _CountsReplacements


def test_joining_with_a_backlog_does_not_strand_the_consumer(kafka: str, ch: Client, make_settings,
                                                             publish) -> None:
    """A group joins fresh topics with a backlog; the leader soon rejoins (new metadata) while its
    writers are busy. With kafka-python's eager rebalance this left the partitions "pending
    revocation" for good in about half of these rounds (docs/records.md); none may stall."""
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    group, stored = f"group-{uuid.uuid4().hex[:8]}", 0
    for round_ in range(3):
        topic = f"test-{uuid.uuid4().hex[:10]}"
        admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
        settings = make_settings(kafka_topic=topic, kafka_group=group, batch_max_wait="1s")
        padding = b', "path": "/' + b"p" * 300 + b'"}'  # records of about 450 bytes, as a proxy's
        publish(settings, [b"\n".join(native_line(round_ * 100_000 + i * 500 + j)[:-1] + padding for j in range(500))
                           for i in range(200)])  # 100,000 records, 45 MB
        ingester = _IngesterCountingReplacements(settings, clients(settings))
        ingester.stall_after_s = 5.0
        ingester.run(until_caught_up=True)
        stored += 100_000
        assert isinstance(ingester.consumer, _CountsReplacements)
        assert ingester.consumer.replacements == 0, f"round {round_}: the consumer stopped fetching"
        assert ch.command("SELECT count() FROM requests") == stored
        admin.delete_topics([topic])
    admin.close()


class _Running:
    """An ingester running in a thread of this process until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.ingester, self._stop = Ingester(settings, clients(settings)), threading.Event()
        self._thread = threading.Thread(target=self.ingester.run, kwargs={"stop": self._stop})
        self._thread.start()

    def partitions(self) -> int:
        consumer = self.ingester.consumer
        return len(consumer.assignment()) if consumer is not None and self._thread.is_alive() else 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()


def _wait_for(what: str, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f} s"
        time.sleep(0.1)


def test_two_ingesters_in_one_group_share_the_partitions(ch: Client, make_settings, publish) -> None:
    """... and go on sharing them, losing and doubling nothing, while one of them stops and
    starts again and a third joins, each while messages come in (docs/reliability.md, 2)."""
    settings = make_settings()
    messages = [b"\n".join(native_line(i * 20 + j) for j in range(20)) for i in range(400)]  # 8,000 records
    running = [_Running(settings), _Running(settings)]
    try:
        sizes: list[int] = []

        def shared() -> bool:
            nonlocal sizes
            sizes = [r.partitions() for r in running]
            return sizes == [2, 2]

        _wait_for(f"the group did not share the 4 partitions: {sizes}", shared)
        publish(settings, messages[:100])
        _wait_for("nothing stored", lambda: ch.command("SELECT count() FROM requests") > 0, 90)
        running[1].stop()  # mid-stream: its partitions move to the first
        publish(settings, messages[100:200])
        running.append(_Running(settings))  # the same ingester started again
        _wait_for("the restarted ingester got no partitions", lambda: running[2].partitions() > 0)
        publish(settings, messages[200:300])
        running.append(_Running(settings))  # a third joins
        publish(settings, messages[300:])
        _wait_for("the third ingester got no partitions", lambda: running[3].partitions() > 0)
        _wait_for("not all 8,000 records stored", lambda: ch.command("SELECT count() FROM requests") >= 8_000, 90)
    finally:
        for r in running:
            r.stop()
    assert ch.command("SELECT count() FROM requests") == 8_000
    assert ch.command("SELECT uniqExact(request_id) FROM requests") == 8_000
    assert all(r.ingester.stats.messages > 0 for r in running[:3]), [r.ingester.stats for r in running]
    assert sum(r.ingester.stats.messages for r in running) >= 400


def test_writer_retries_until_clickhouse_takes_the_batch(ch: Client) -> None:
    batch = Batch("t", 0, 5)
    batch.add(5, native_line(1))
    ch.command("DETACH TABLE ingest_lines")  # inserts now fail, as with a server that is down
    result: list[bool] = []
    writer = BatchWriter(ch, threading.Event(), max_backoff=0.2)
    worker = threading.Thread(target=lambda: result.append(writer.write(batch, "retry-test")))
    worker.start()
    time.sleep(1.0)
    assert not result  # still retrying, nothing skipped
    ch.command("ATTACH TABLE ingest_lines")
    worker.join(timeout=30)
    assert result == [True]
    assert ch.command("SELECT count() FROM requests") == 1


def test_writer_gives_up_only_when_stopped(ch: Client) -> None:
    batch = Batch("t", 0, 5)
    batch.add(5, native_line(1))
    ch.command("DETACH TABLE ingest_lines")
    try:
        stop = threading.Event()
        stop.set()
        assert BatchWriter(ch, stop, max_backoff=0.1).write(batch, "stopped") is False
    finally:
        ch.command("ATTACH TABLE ingest_lines")
    assert ch.command("SELECT count() FROM requests") == 0

