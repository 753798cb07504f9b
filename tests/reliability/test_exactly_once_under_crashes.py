"""Guarantee 1 of docs/reliability.md: every record stored exactly once although the ingester
is SIGKILLed at random moments while records stream in.

Each killed ingester is replaced at once (same host: the same static member, ingest/membership.py);
after the last kill, ``edgewatch ingest --until-caught-up`` stores what is left. Then ``requests``
and every rollup hold each of the producer's records once: count, distinct request ids and their
range (together: exactly the set sent), and a checksum over them. CI streams 100,000 records
with 6 kills; EDGEWATCH_RELIABILITY_FULL=1 streams 500,000 with 8 (the figures of the docs).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from edgewatch.settings import Settings
from tests.api.records import call
from tests.conftest import TEST_PARTITIONS
from tests.reliability.processes import Offsets, ingest_env, kill, published, query_folder, start_ingest

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.slow]

FULL = os.environ.get("EDGEWATCH_RELIABILITY_FULL") == "1"
RECORDS = 500_000 if FULL else 100_000
KILLS = 8 if FULL else 6
STREAM_S = 90.0 if FULL else 40.0
RECORDS_PER_MESSAGE = 500
# edge_10min has a row for every 10 minutes starting at every minute: those starting at
# minutes 0, 10, 20... tile the time, so they count each call once
ROLLUPS = ("edge_minute", "edge_hour", "edge_10min WHERE toMinute(start) % 10 = 0")


def stream(settings: Settings, done: threading.Event) -> None:
    """RECORDS records with request ids ``crash-0`` ... over STREAM_S seconds, round robin on the partitions."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    messages = RECORDS // RECORDS_PER_MESSAGE
    started, now = time.monotonic(), datetime.now(UTC)
    for m in range(messages):
        first = m * RECORDS_PER_MESSAGE
        lines = (orjson.dumps(call(now - timedelta(seconds=i % 600), f"client-{i % 7}", f"server-{i % 5}",
                                  code=200 if i % 11 else 503, duration_ms=float(i % 1000),
                                  request_id=f"crash-{i}"))
                 for i in range(first, first + RECORDS_PER_MESSAGE))
        producer.send(settings.kafka_topic, b"\n".join(lines), partition=m % TEST_PARTITIONS)
        time.sleep(max(0.0, started + STREAM_S * (m + 1) / messages - time.monotonic()))
    producer.flush()
    producer.close()
    done.set()


def test_every_record_is_stored_exactly_once_although_the_ingester_is_killed_at_random_moments(
    tmp_path: Path, make_settings: Callable[..., Settings],
) -> None:
    seed = int(os.environ.get("EDGEWATCH_RELIABILITY_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    settings = make_settings()
    folder, log = tmp_path / "ch", tmp_path / "ingest.log"
    env = ingest_env(settings, folder)
    offsets = Offsets(settings)
    streamed = threading.Event()
    producer = threading.Thread(target=stream, args=(settings, streamed), daemon=True)
    producer.start()
    resumed: list[float] = []  # seconds from a start until it stored something new
    behind_at_kill: list[int] = []  # messages published but not committed when killed
    try:
        for _ in range(KILLS):
            before = offsets.committed()
            started = time.monotonic()
            ingester = start_ingest(env, log)
            try:
                offsets.wait_committed_beyond(before, 60, alive=lambda process=ingester: process.poll() is None)
                resumed.append(time.monotonic() - started)
                time.sleep(rng.uniform(0.2, 3.0))
                behind_at_kill.append(published(settings, TEST_PARTITIONS) - offsets.committed())
            finally:
                kill(ingester)
        producer.join(timeout=STREAM_S + 120)
        assert streamed.is_set(), "the producer did not finish"
        started = time.monotonic()
        last = start_ingest(env, log, "--until-caught-up", "--timeout", "5m")
        assert last.wait(timeout=360) == 0, log.read_text()[-3000:]
        caught_up_s = time.monotonic() - started
        assert offsets.committed() == published(settings, TEST_PARTITIONS) == RECORDS // RECORDS_PER_MESSAGE
    finally:
        offsets.close()
        if producer.is_alive():
            producer.join(timeout=STREAM_S + 60)
    n = RECORDS
    raw = query_folder(folder, [
        "SELECT count(), uniqExact(request_id), min(toUInt64(substring(request_id, 7))), "
        "max(toUInt64(substring(request_id, 7))), sum(toUInt64(substring(request_id, 7))), "
        "sum(cityHash64(request_id)), sum(duration_ms) FROM requests",
        *(f"SELECT sum(requests), sum(duration_sum_ms) FROM {table}" for table in ROLLUPS),
        "SELECT count() FROM dead_letters",
    ])
    rows, distinct, low, high, id_sum, _checksum, durations = raw[0]
    assert (int(rows), int(distinct), int(low), int(high), int(id_sum)) == (n, n, 0, n - 1, n * (n - 1) // 2)
    for table, (requests, duration_sum) in zip(ROLLUPS, raw[1:4], strict=True):
        assert (int(requests), float(duration_sum)) == (n, float(durations)), table
    assert raw[4] == ["0"]
    during_inserts = sum(1 for behind in behind_at_kill if behind > 0)
    print(f"\nseed {seed}: {KILLS} kills survived ({during_inserts} with messages in hand), {n:,} records stored "
          f"once each (checksum {raw[0][5]}); seconds from each start to its first stored batch (the first "
          f"start, then after each kill): {', '.join(f'{s:.1f}' for s in resumed)}; "
          f"the last run caught up in {caught_up_s:.1f} s")
    assert during_inserts >= KILLS // 2, behind_at_kill
