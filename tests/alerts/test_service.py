"""The service's wiring: the schedule, the grid clock, rules removed between runs.

``edgewatch alerts`` (migrate, start, stop) is tested with the other commands, in tests/launch/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from alerts.notify.senders import ConsoleSender
from alerts.rules import load_rules
from alerts.service import AlertService, grid_time
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
def test_bot_token_without_channel_is_refused(ch: Client) -> None:
    with pytest.raises(ValueError, match="EDGEWATCH_SLACK_CHANNEL"):
        AlertService(Settings(clickhouse_url="chdb:///unused", slack_bot_token="xoxb-1"), ch)
