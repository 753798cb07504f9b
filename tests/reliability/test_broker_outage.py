"""Guarantee 4 of docs/reliability.md: the broker is down for 30 s and comes back. ``edgewatch
up`` stays up throughout: the API answers from ClickHouse, the alert rules are evaluated, and
the ingester reconnects and goes on from its committed offsets (nothing lost, nothing twice).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from edgewatch.settings import REPO_ROOT
from tests.api.records import call
from tests.api.test_http import free_port, wait_until_up
from tests.conftest import TEST_PARTITIONS
from tests.reliability.broker import SecondBroker

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.slow]

OUTAGE_S = 30.0
TOPIC = "outage-requests"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[SecondBroker]:
    second = SecondBroker(tmp_path / "broker")
    second.start()
    try:
        admin = KafkaAdminClient(bootstrap_servers=second.bootstrap)
        admin.create_topics([NewTopic(TOPIC, num_partitions=TEST_PARTITIONS, replication_factor=1)])
        admin.close()
        yield second
    finally:
        second.stop()


def publish(bootstrap: str, calls: int) -> None:
    now = datetime.now(UTC)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for m in range(TEST_PARTITIONS):
        lines = (orjson.dumps(call(now - timedelta(seconds=5), "web", "api")) for _ in range(calls // TEST_PARTITIONS))
        producer.send(TOPIC, b"\n".join(lines), partition=m)
    producer.flush()
    producer.close()


def edge_requests(url: str) -> int:
    answer = httpx.get(f"{url}/api/v1/edges", params={"window": "10m"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return sum(edge["requests"] for edge in answer.json()["edges"])


def evaluations(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(int(float(line.split()[-1])) for line in text.splitlines()
               if line.startswith("edgewatch_alert_evaluation_seconds_count"))


def test_a_broker_outage_of_30_s_loses_nothing_and_stops_neither_the_api_nor_the_alerts(
    tmp_path: Path, broker: SecondBroker,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "EDGEWATCH_KAFKA_BOOTSTRAP": broker.bootstrap, "EDGEWATCH_KAFKA_TOPIC": TOPIC,
           "EDGEWATCH_KAFKA_GROUP": "outage", "EDGEWATCH_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
           "EDGEWATCH_BATCH_MAX_WAIT": "200ms", "EDGEWATCH_API_PORT": str(port), "EDGEWATCH_EVAL_INTERVAL": "2s",
           "EDGEWATCH_LOG_LEVEL": "INFO"}
    log = tmp_path / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "launch.cli", "up"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=out)

    def wait_for(what: str, done: object, timeout_s: float) -> float:
        started = time.monotonic()
        while not done():  # type: ignore[operator]
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - started < timeout_s, f"{what} within {timeout_s:.0f} s\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        return time.monotonic() - started

    try:
        wait_until_up(url, timeout=120)
        publish(broker.bootstrap, 40)
        wait_for("the first 40 calls not stored", lambda: edge_requests(url) == 40, 90)
        broker.stop()
        down_since, evaluated = time.monotonic(), evaluations(url)
        while time.monotonic() - down_since < OUTAGE_S:
            assert process.poll() is None, log.read_text()[-3000:]
            assert edge_requests(url) == 40  # the API answers from ClickHouse
            time.sleep(2.0)
        assert evaluations(url) - evaluated >= OUTAGE_S / 2 / 2, "the alert rules were not evaluated meanwhile"
        broker.start()
        back = time.monotonic()
        publish(broker.bootstrap, 40)
        resumed = wait_for("the 40 calls published after the outage not stored", lambda: edge_requests(url) >= 80, 120)
        time.sleep(3.0)  # anything stored twice would show by now
        assert edge_requests(url) == 80
        print(f"\nbroker down {OUTAGE_S:.0f} s; the records published after it came back were stored "
              f"{resumed:.1f} s later ({time.monotonic() - back:.0f} s after its restart, checks included)")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == -signal.SIGTERM, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
