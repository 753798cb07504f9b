"""Real ``edgewatch ingest`` processes for the reliability tests, and what they stored.

Each test gives its ingesters an embedded engine folder of their own (chDB: one process per
folder; a SIGKILLed process's lock goes with it). While they run, what they stored shows in
the group's committed offsets: the ingester commits a batch's offsets only once the batch is
stored. Afterwards :func:`query_folder` reads the folder in a process of its own, since this
test process may hold the session's folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from edgewatch.settings import REPO_ROOT, Settings


def ingest_env(settings: Settings, folder: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "EDGEWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "EDGEWATCH_KAFKA_TOPIC": settings.kafka_topic, "EDGEWATCH_KAFKA_GROUP": settings.kafka_group,
            "EDGEWATCH_CLICKHOUSE_URL": f"chdb://{folder}", "EDGEWATCH_BATCH_MAX_WAIT": "200ms",
            "EDGEWATCH_LOG_LEVEL": "INFO", **extra}


def start_ingest(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``edgewatch ingest ARGS`` in the background, its stderr appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "launch.cli", "ingest", *args], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=out)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


class Offsets:
    """The topic's committed and end offsets, read from outside the group."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)

    def committed(self) -> int:
        """Messages committed by the group, summed over the topic's partitions."""
        s = self._settings
        found = self._admin.list_group_offsets({s.kafka_group: None}).get(s.kafka_group, {})
        return sum(meta.offset for tp, meta in found.items() if tp.topic == s.kafka_topic and meta.offset > 0)

    def wait_committed_beyond(self, committed: int, timeout_s: float,
                              alive: Callable[[], bool] = lambda: True) -> float:
        """Seconds until more than ``committed`` messages are committed; AssertionError after ``timeout_s``."""
        started = time.monotonic()
        while self.committed() <= committed:
            assert alive(), "the ingester ended"
            assert time.monotonic() - started < timeout_s, f"nothing beyond {committed} committed in {timeout_s} s"
            time.sleep(0.1)
        return time.monotonic() - started

    def close(self) -> None:
        self._admin.close()


def published(settings: Settings, partitions: int) -> int:
    """Messages in the topic: the sum of its partitions' end offsets."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        return sum(consumer.end_offsets([TopicPartition(settings.kafka_topic, p) for p in range(partitions)]).values())
    finally:
        consumer.close()


_QUERY = """
import json, sys
from edgewatch.clickhouse import connect
client = connect(sys.argv[1])
print(json.dumps([[str(v) for v in client.query(q).result_rows[0]] for q in json.loads(sys.argv[2])]))
"""


def query_folder(folder: Path, queries: list[str]) -> list[list[str]]:
    """The first row of each query, its values as strings, run on the engine folder by a process of its own."""
    done = subprocess.run([sys.executable, "-c", _QUERY, f"chdb://{folder}", json.dumps(queries)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])
