"""The ``edgewatch`` command: its help, and each command's start and stop on the real engine
(``up`` on the real broker as well)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from argparse import Namespace
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from clickhouse_connect.driver.client import Client

from edgewatch.migrate import set_raw_retention
from edgewatch.settings import REPO_ROOT, Settings
from launch.cli import build_parser, cmd_alerts, cmd_ingest, main
from launch.lifecycle import StopRequest
from tests.api.records import call
from tests.api.test_http import free_port, wait_until_up

COMMANDS = ["migrate", "ingest", "produce", "api", "alerts", "up", "simulate"]


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in COMMANDS)
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0, name
        assert capsys.readouterr().out.startswith(f"usage: edgewatch {name}")


def test_the_module_runs_as_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "launch.cli", "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: edgewatch")


@pytest.mark.clickhouse
def test_migrate_reports_an_up_to_date_schema(ch_url: str, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EDGEWATCH_CLICKHOUSE_URL", ch_url)
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out == "schema is up to date\n"


@pytest.mark.clickhouse
def test_a_folder_in_use_is_refused_with_what_to_do(ch: Client, ch_url: str) -> None:
    """This test process holds the session's engine folder; another process may not open it."""
    env = {**os.environ, "EDGEWATCH_CLICKHOUSE_URL": ch_url}
    done = subprocess.run([sys.executable, "-m", "launch.cli", "migrate"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "edgewatch: the embedded ClickHouse folder" in done.stderr and "`edgewatch up`" in done.stderr


@pytest.mark.clickhouse
@pytest.mark.parametrize("command", ["api", "alerts"])
def test_a_broken_mesh_config_at_start_stops_with_the_file_and_the_problem(
    command: str, ch: Client, ch_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "mesh.yaml"
    broken.write_text("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\n"
                      "spec: {hosts: [x], http: [{timeout: soon}]}\n")
    monkeypatch.setenv("EDGEWATCH_CLICKHOUSE_URL", ch_url)
    monkeypatch.setenv("EDGEWATCH_MESH_CONFIG", str(broken))
    assert main([command]) == 1
    error = capsys.readouterr().err
    assert error.startswith("edgewatch: EDGEWATCH_MESH_CONFIG: ") and str(broken) in error and "timeout" in error


@pytest.mark.clickhouse
def test_alerts_command_migrates_starts_and_stops(ch: Client, ch_url: str) -> None:
    threads = set(threading.enumerate())
    stop = StopRequest()
    stop.set()
    try:
        assert cmd_alerts(Settings(clickhouse_url=ch_url, raw_ttl_days=3), Namespace(), stop) == 0
        retention = ch.command(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'requests'"
        )
        assert "toIntervalDay(3)" in str(retention)  # migrate ran with the process's settings
    finally:
        set_raw_retention(ch, Settings.model_fields["raw_ttl_days"].default)
    assert set(threading.enumerate()) <= threads  # the scheduler and its workers are gone


def test_the_compose_commands_still_parse() -> None:
    assert build_parser().parse_args(["ingest", "--until-caught-up"]).until_caught_up
    assert build_parser().parse_args(["up", "--host", "0.0.0.0", "--port", "9000"]).port == 9000


def test_ingest_timeout_is_a_duration_and_goes_with_until_caught_up(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["ingest", "--until-caught-up", "--timeout", "5m"])
    assert args.timeout == 300.0
    assert build_parser().parse_args(["ingest", "--until-caught-up"]).timeout is None  # no limit
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "--until-caught-up", "--timeout", "soon"])
    assert "'soon' is not a duration" in capsys.readouterr().err
    alone = build_parser().parse_args(["ingest", "--timeout", "10s"])
    assert cmd_ingest(Settings(clickhouse_url="chdb:///unused"), alone, StopRequest()) == 2
    assert "--timeout goes with --until-caught-up" in capsys.readouterr().err


@pytest.mark.kafka
@pytest.mark.clickhouse
def test_up_runs_every_part_and_stops_them_in_reverse_order_on_sigterm(
    tmp_path: Path, make_settings: Callable[..., Settings], publish: Callable[..., None],
) -> None:
    settings = make_settings()
    now = datetime.now(UTC)
    records = [orjson.dumps(call(now - timedelta(seconds=5 + i), "web", "api")) for i in range(40)]
    payloads = [b"\n".join(records[i:i + 10]) for i in range(0, 40, 10)]
    publish(settings, payloads)
    port = free_port()
    env = {**os.environ, "EDGEWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "EDGEWATCH_KAFKA_TOPIC": settings.kafka_topic, "EDGEWATCH_KAFKA_GROUP": settings.kafka_group,
           "EDGEWATCH_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "EDGEWATCH_BATCH_MAX_WAIT": "200ms",
           "EDGEWATCH_API_PORT": str(port), "EDGEWATCH_LOG_LEVEL": "INFO"}
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "launch.cli", "up"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, timeout=60)
        assert httpx.get(f"{url}/readyz").json()["status"] == "ready"
        deadline = time.monotonic() + 60
        while (edges := [(e["source"], e["destination"], e["requests"]) for e in
                         httpx.get(f"{url}/api/v1/edges", params={"window": "5m"}).json()["edges"]]) != [
                ("web", "api", 40)]:
            assert time.monotonic() < deadline, f"the ingester has not stored all 40 calls within 60 s: {edges}"
            time.sleep(0.5)
        assert httpx.get(f"{url}/api/v1/alerts").json() == {"alerts": []}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    text = log_path.read_text()
    stops = [text.index(f"stopping {name}\n") for name in ("API", "ingester", "settler", "alerts")]
    assert stops == sorted(stops), text
    assert "edgewatch up: stopped" in text


@pytest.mark.kafka
@pytest.mark.clickhouse
def test_ingest_serves_its_health_endpoints_on_the_ingest_port(
    tmp_path: Path, make_settings: Callable[..., Settings],
) -> None:
    from tests.reliability.processes import ingest_env, start_ingest

    settings = make_settings()
    port = free_port()
    log = tmp_path / "ingest.log"
    process = start_ingest(ingest_env(settings, tmp_path / "ch", EDGEWATCH_INGEST_PORT=str(port)), log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, timeout=60)
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready"}
        assert "\nedgewatch_ingest_ready 1" in "\n" + httpx.get(f"{url}/metrics").text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    assert "stopping ingester's health endpoints\n" in log.read_text()
