"""A SIGKILLed ``edgewatch ingest`` and what comes after it (docs/reliability.md, section 1).

The replacement of a killed ingester (same host, or same EDGEWATCH_KAFKA_INSTANCE_ID) is the
same static group member (KIP-345): it takes the dead one's partitions at once instead of
after its 45 s session. ``--until-caught-up`` started beside a dead member of another id waits
for the session, saying so, and gives up after ``--timeout``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from edgewatch.settings import Settings
from tests.api.records import call
from tests.conftest import TEST_PARTITIONS
from tests.reliability.processes import Offsets, ingest_env, kill, query_folder, start_ingest

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

REPLACEMENT_STORES_WITHIN_S = 20.0


def payloads(messages: int, records: int = 10) -> list[bytes]:
    now = datetime.now(UTC)
    return [b"\n".join(orjson.dumps(call(now - timedelta(seconds=5), "web", "api")) for _ in range(records))
            for _ in range(messages)]


def _ingest_and_kill(settings: Settings, env: dict[str, str], log: Path, offsets: Offsets,
                     publish: Callable[..., None]) -> int:
    """An ingester stores 4 messages and is SIGKILLed; returns the messages committed."""
    publish(settings, payloads(TEST_PARTITIONS))
    first = start_ingest(env, log)
    try:
        deadline = time.monotonic() + 90
        while offsets.committed() < TEST_PARTITIONS:
            assert first.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
    finally:
        kill(first)
    return offsets.committed()


def test_the_replacement_of_a_killed_ingester_stores_new_records_within_20_s(
    tmp_path: Path, make_settings: Callable[..., Settings], publish: Callable[..., None],
) -> None:
    settings = make_settings()
    env, log, offsets = ingest_env(settings, tmp_path / "ch"), tmp_path / "ingest.log", Offsets(settings)
    try:
        committed = _ingest_and_kill(settings, env, log, offsets, publish)
        started = time.monotonic()
        replacement = start_ingest(env, log)
        try:
            publish(settings, payloads(TEST_PARTITIONS))
            offsets.wait_committed_beyond(committed, 60, alive=lambda: replacement.poll() is None)
            while offsets.committed() < 2 * TEST_PARTITIONS:  # every partition, not only a first one
                assert time.monotonic() - started < 60, log.read_text()[-3000:]
                time.sleep(0.1)
            seconds = time.monotonic() - started
            print(f"the replacement stored new records on every partition {seconds:.1f} s after its start")
            assert seconds < REPLACEMENT_STORES_WITHIN_S, log.read_text()[-3000:]
            replacement.send_signal(signal.SIGTERM)
            assert replacement.wait(timeout=60) == -signal.SIGTERM
        finally:
            if replacement.poll() is None:
                kill(replacement)
    finally:
        offsets.close()
    rows, distinct = query_folder(tmp_path / "ch", ["SELECT count(), uniqExact(request_id) FROM requests"])[0]
    assert (int(rows), int(distinct)) == (80, 80)


def test_until_caught_up_after_a_crash_on_the_same_host_is_done_at_once(
    tmp_path: Path, make_settings: Callable[..., Settings], publish: Callable[..., None],
) -> None:
    settings = make_settings()
    env, log, offsets = ingest_env(settings, tmp_path / "ch"), tmp_path / "ingest.log", Offsets(settings)
    try:
        _ingest_and_kill(settings, env, log, offsets, publish)
        publish(settings, payloads(TEST_PARTITIONS))
        started = time.monotonic()
        catch_up = start_ingest(env, log, "--until-caught-up", "--timeout", "60s")
        assert catch_up.wait(timeout=120) == 0, log.read_text()[-3000:]
        assert time.monotonic() - started < REPLACEMENT_STORES_WITHIN_S, log.read_text()[-3000:]
        assert offsets.committed() == 2 * TEST_PARTITIONS
    finally:
        offsets.close()


def test_until_caught_up_waits_for_a_dead_members_partitions_with_progress_and_a_timeout(
    tmp_path: Path, make_settings: Callable[..., Settings], publish: Callable[..., None],
) -> None:
    """The dead member was another replica (another instance id): its partitions are free only
    when its session ends. A --timeout shorter than that ends with what it waited for."""
    settings = make_settings()
    folder = tmp_path / "ch"
    offsets = Offsets(settings)
    log = tmp_path / "ingest.log"
    try:
        _ingest_and_kill(settings, ingest_env(settings, folder, EDGEWATCH_KAFKA_INSTANCE_ID="replica-a"), log,
                         offsets, publish)
        other = ingest_env(settings, folder, EDGEWATCH_KAFKA_INSTANCE_ID="replica-b")
        catch_up = start_ingest(other, log, "--until-caught-up", "--timeout", "12s")
        assert catch_up.wait(timeout=120) == 1
    finally:
        offsets.close()
    text = log.read_text()
    assert "edgewatch ingest: waiting 5 s for partitions: group" in text, text[-3000:]
    assert "keeps its partitions until its session ends (45 s)" in text
    assert "edgewatch: no partitions were assigned within 12 s (--timeout)" in text


@pytest.mark.slow
def test_until_caught_up_without_a_timeout_waits_out_the_dead_members_session(
    tmp_path: Path, make_settings: Callable[..., Settings], publish: Callable[..., None],
) -> None:
    settings = make_settings()
    folder = tmp_path / "ch"
    offsets = Offsets(settings)
    log = tmp_path / "ingest.log"
    try:
        _ingest_and_kill(settings, ingest_env(settings, folder, EDGEWATCH_KAFKA_INSTANCE_ID="replica-a"), log,
                         offsets, publish)
        publish(settings, payloads(TEST_PARTITIONS))
        started = time.monotonic()
        other = ingest_env(settings, folder, EDGEWATCH_KAFKA_INSTANCE_ID="replica-b")
        catch_up = start_ingest(other, log, "--until-caught-up")
        assert catch_up.wait(timeout=180) == 0, log.read_text()[-3000:]
        waited = time.monotonic() - started
        assert offsets.committed() == 2 * TEST_PARTITIONS
    finally:
        offsets.close()
    print(f"--until-caught-up waited {waited:.0f} s for the dead member's partitions")
    assert waited > 30  # the session, not something else, was waited for
