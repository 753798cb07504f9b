"""The API through real HTTP: uvicorn on a free port, and ``edgewatch api`` in its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from api.app import create_app
from edgewatch.clickhouse import connect
from edgewatch.migrate import migrate
from edgewatch.settings import REPO_ROOT, Settings
from tests.api.records import call, ingest_lines

pytestmark = pytest.mark.clickhouse


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up within {timeout} s")


@pytest.fixture
def served(ch: Client, ch_url: str) -> Iterator[str]:
    """The app over the test engine, served by uvicorn in a thread."""
    port = free_port()
    settings = Settings(clickhouse_url=ch_url, api_token="s3cret")
    server = uvicorn.Server(uvicorn.Config(create_app(settings, ch), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_numbers_readiness_and_metrics_over_http(ch: Client, served: str) -> None:
    """The token and parameter checks are test_params.py's."""
    now = datetime.now(UTC)
    records = [call(now - timedelta(seconds=20 + i), "web", "api", 500 if i < 2 else 200) for i in range(30)]
    ch.raw_insert("ingest_lines", None, ingest_lines(records), fmt="TSVRaw")

    auth = {"Authorization": "Bearer s3cret"}
    body = httpx.get(f"{served}/api/v1/edges", params={"window": "2m"}, headers=auth).json()
    [edge] = body["edges"]
    assert (edge["source"], edge["destination"], edge["requests"], edge["errors"]) == ("web", "api", 30, 2)
    assert edge["health"] == "degraded"  # 6.7% server errors

    assert httpx.get(f"{served}/readyz").json()["status"] == "ready"
    metrics = httpx.get(f"{served}/metrics").text
    assert "edgewatch_api_request_duration_seconds" in metrics
    tracked = next(line for line in metrics.splitlines()
                   if line.startswith('edgewatch_engine_memory_bytes{part="tracked"}'))
    assert float(tracked.rpartition(" ")[2]) > 0
    assert 'edgewatch_heap_bytes{part="held"}' in metrics


def test_readiness_names_the_migrations_not_applied(ch: Client, served: str) -> None:
    """``/readyz`` of an API over a database that misses a migration (its record removed)."""
    ch.command("DELETE FROM schema_migrations WHERE version = 4")
    try:
        not_ready = httpx.get(f"{served}/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["reason"] == "migrations not applied: 0004_alerts; run `edgewatch migrate`"
    finally:
        migrate(ch)  # the statements are idempotent; this records 0004 again
    assert httpx.get(f"{served}/readyz").json()["status"] == "ready"


def test_api_command_applies_the_schema_and_runs_until_sigterm(tmp_path: Path) -> None:
    """``edgewatch api`` in its own process (its own engine folder): it migrates before it
    serves, like the other commands. On SIGTERM uvicorn shuts down gracefully, then the process
    ends by the signal so the exit status tells why."""
    port = free_port()
    env = {**os.environ, "EDGEWATCH_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "EDGEWATCH_LOG_LEVEL": "INFO"}
    process = subprocess.Popen([sys.executable, "-m", "launch.cli", "api", "--port", str(port)], cwd=REPO_ROOT,
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        assert httpx.get(f"{url}/readyz").json()["status"] == "ready"
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=15)
        assert process.returncode == -signal.SIGTERM
        assert "Finished server process" in log
    finally:
        if process.poll() is None:
            process.kill()


def test_a_query_over_its_memory_limit_is_a_503_that_says_so(ch: Client, ch_url: str) -> None:
    """What a reader of launch/database.py gets when a window needs more than EDGEWATCH_QUERY_MAX_MEMORY
    (here 100 KB, with every allocation counted at once)."""
    now = datetime.now(UTC)
    ch.raw_insert("ingest_lines", None, ingest_lines(
        [call(now - timedelta(seconds=5 + i / 100), f"web-{i % 40}", "api") for i in range(5000)]), fmt="TSVRaw")
    tight = connect(ch_url, settings={"max_memory_usage": 100_000, "max_untracked_memory": 1024})
    api = TestClient(create_app(Settings(clickhouse_url=ch_url), tight))
    refused = api.get("/api/v1/requests", params={"window": "2m"})
    assert refused.status_code == 503
    assert "EDGEWATCH_QUERY_MAX_MEMORY" in refused.json()["detail"]
    assert "MEMORY_LIMIT_EXCEEDED" in refused.json()["detail"]
