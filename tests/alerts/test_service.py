"""The service's wiring: the schedule, the grid clock, rules removed between runs, run_forever."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from alerts.notify.senders import ConsoleSender
from alerts.rules import load_rules
from alerts.service import AlertService, grid_time, run_forever
from edgewatch.migrate import set_raw_retention
from edgewatch.settings import Settings
from tests.alerts.records import WEBAPP, recent_minute, store, traffic

B = recent_minute()


def test_grid_time_rounds_down_to_the_interval() -> None:
    moment = datetime(2026, 11, 26, 12, 0, 44, 999000, tzinfo=UTC)
    assert grid_time(moment, 15) == datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)
    assert grid_time(moment.replace(second=45, microsecond=2000), 15) == datetime(2026, 11, 26, 12, 0, 45, tzinfo=UTC)


@pytest.mark.clickhouse
def test_scheduler_runs_one_instance_of_each_job_and_evaluates_on_the_grid(ch: Client) -> None:
    clock_now = B + timedelta(seconds=37)
    settings = Settings(clickhouse_url="chdb:///unused", eval_interval="15s")
    service = AlertService(settings, ch, sender=ConsoleSender(), clock=lambda: clock_now)
    service.start()
    try:
        jobs = {job.id: job for job in service._scheduler.get_jobs()}  # type: ignore[union-attr]
        assert jobs.keys() == {"evaluate", "deliver"}
        assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())  # never overlapping
        assert jobs["evaluate"].trigger.interval == timedelta(seconds=15)  # EDGEWATCH_EVAL_INTERVAL
        assert jobs["evaluate"].trigger.start_date == B + timedelta(seconds=30)
    finally:
        service.shutdown()
    store(ch, traffic(WEBAPP, B, B + timedelta(seconds=30), code=503))
    service._evaluate_tick()  # what the job runs: evaluates at the grid time
    assert {a.active_since for a in service.evaluator.alerts} == {B + timedelta(seconds=30)}


@pytest.mark.clickhouse
def test_alerts_of_a_removed_rule_end(ch: Client) -> None:
    store(ch, traffic(WEBAPP, B, B + timedelta(seconds=30), code=503))
    settings = Settings(clickhouse_url="chdb:///unused")
    rules = [r for r in load_rules() if r.name in ("edge-errors", "edge-timeouts")]
    AlertService(settings, ch, rules=rules, sender=ConsoleSender()).evaluate_once(B + timedelta(seconds=30))
    fewer = AlertService(settings, ch, rules=rules[1:], sender=ConsoleSender())
    assert {a.rule for a in fewer.evaluator.alerts} == {"edge-errors"}
    evaluation = fewer.evaluate_once(B + timedelta(seconds=45))
    assert [(e.kind, e.alert.rule) for e in evaluation.events] == [("cleared", "edge-errors")]
    assert AlertService(settings, ch, rules=rules, sender=ConsoleSender()).evaluator.alerts == []


@pytest.mark.clickhouse
def test_run_forever_migrates_starts_and_stops(ch: Client, ch_url: str) -> None:
    threads = set(threading.enumerate())
    stop = threading.Event()
    stop.set()
    try:
        run_forever(Settings(clickhouse_url=ch_url, raw_ttl_days=3), stop)
        retention = ch.command(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'requests'"
        )
        assert "toIntervalDay(3)" in str(retention)  # migrate ran with the process's settings
    finally:
        set_raw_retention(ch, Settings.model_fields["raw_ttl_days"].default)
    assert set(threading.enumerate()) <= threads  # the scheduler and its workers are gone


@pytest.mark.clickhouse
def test_bot_token_without_channel_is_refused(ch: Client) -> None:
    with pytest.raises(ValueError, match="EDGEWATCH_SLACK_CHANNEL"):
        AlertService(Settings(clickhouse_url="chdb:///unused", slack_bot_token="xoxb-1"), ch)
