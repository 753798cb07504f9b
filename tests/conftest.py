"""Fixtures for tests that use the real Kafka broker and the real ClickHouse engine.

- ``kafka``: the broker's bootstrap address. ``EDGEWATCH_KAFKA_BOOTSTRAP`` if it answers,
  else the project's own broker, started by ``scripts/local-kafka.sh start``.
- ``ch_url``/``ch``: one embedded ClickHouse folder per test session (chDB allows one per
  process), migrated once; ``ch`` truncates every data table before the test.
- ``topic``, ``make_settings``, ``publish``, ``ingest``: a fresh topic per test, settings
  that point at it, publishing raw message values, and the real ingester until caught up.
- ``slack``: a local HTTP server standing in for Slack, recording what it receives.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from edgewatch.clickhouse import connect
from edgewatch.migrate import migrate
from edgewatch.settings import REPO_ROOT, Settings
from ingest.service import Ingester, IngestStats
from tests.alerts.slack_server import SlackStandIn, running

TEST_PARTITIONS = 4


def _reachable(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka() -> str:
    bootstrap = os.environ.get("EDGEWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    if not _reachable(bootstrap):
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "local-kafka.sh"), "start"], check=True)
    _warm_up(bootstrap)
    return bootstrap


def _warm_up(bootstrap: str) -> None:
    """One consumer group round trip, so that a fresh broker has created its offsets topic
    before the first test's group joins (that creation can take seconds)."""
    name = "edgewatch-warm-up"
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(name, b"{}").get(timeout=60)
    producer.close()
    consumer = KafkaConsumer(name, bootstrap_servers=bootstrap, group_id=name, auto_offset_reset="earliest")
    try:
        deadline = time.monotonic() + 60
        while not consumer.poll(timeout_ms=1000, max_records=1):
            assert time.monotonic() < deadline, "the Kafka broker answers, but no consumer group works"
        consumer.commit()
    finally:
        consumer.close()


@pytest.fixture(scope="session")
def ch_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("clickhouse")
    url = f"chdb://{path}"
    migrate(connect(url))
    return url


@pytest.fixture
def ch(ch_url: str) -> Client:
    client = connect(ch_url)
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"
    ).result_rows
    for (name,) in tables:
        client.command(f"TRUNCATE TABLE `{name}`")
    return client


@pytest.fixture
def topic(kafka: str) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(name, num_partitions=TEST_PARTITIONS, replication_factor=1)])
    try:
        yield name
    finally:  # a local broker keeps everything (log.retention.ms=-1): don't pile topics up
        admin.delete_topics([name])
        admin.close()


@pytest.fixture
def make_settings(kafka: str, ch_url: str, topic: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap": kafka,
            "kafka_topic": topic,
            "kafka_group": f"group-{topic}",
            "clickhouse_url": ch_url,
            "batch_max_wait": "200ms",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def publish() -> Callable[..., None]:
    def send(settings: Settings, payloads: list[bytes], partition: int | None = None) -> None:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
        for i, payload in enumerate(payloads):
            target = partition if partition is not None else i % TEST_PARTITIONS
            producer.send(settings.kafka_topic, payload, partition=target)
        producer.flush()
        producer.close()

    return send


@pytest.fixture
def ingest() -> Callable[[Settings], IngestStats]:
    def run(settings: Settings) -> IngestStats:
        return Ingester(settings, lambda: connect(settings.clickhouse_url)).run(until_caught_up=True)

    return run


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    yield from running()
