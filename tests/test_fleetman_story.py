"""The demo's story as a test: the simulator's driver-monitoring outage, through the real
Kafka broker, ingester and ClickHouse engine, evaluated by the alert service at explicit
times (every 15 s of scenario time, no sleeping) and delivered to a local Slack stand-in.

Expected: exactly one firing message, about staff-service -> driver-monitoring (the external
host), naming the callers up the graph; then exactly one resolution after the recovery. The mesh
has the course's names: callers call the Service fleetman-staff-service, which the workload
staff-service serves, so one message needs Edgewatch to have learned that link from the data.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from alerts.rules import load_rules
from alerts.service import AlertService
from edgewatch.settings import REPO_ROOT, Settings
from simulator.formats import encoder
from simulator.generate import generate
from simulator.scenarios import load_scenario
from tests.alerts.slack_server import SlackStandIn

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

EXTERNAL = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"
STORY_S = 420  # quiet 30 s, degrading 15 s, outage 45-225 s, recovered after


# native: the records name the workload behind each Service; envoy and fluentbit: Istio's access-log
# lines, where only an inbound line's Host header (and the pairs of reports) link the two.
@pytest.mark.parametrize("fmt", ["native", "envoy", "fluentbit"])
def test_outage_fires_once_about_the_root_cause_then_resolves(
    ch: Client, slack: SlackStandIn, make_settings: Callable[..., Settings], publish: Callable[..., None],
    ingest: Callable[[Settings], Any], fmt: str,
) -> None:
    scenario = load_scenario("driver-monitoring-outage")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=15)
    encode = encoder(fmt, scenario.base)  # type: ignore[arg-type]
    reports = list(generate(scenario, start, start + timedelta(seconds=STORY_S), rate=150, seed=5))
    timestamps = [r.timestamp_ms for r in reports]
    assert timestamps == sorted(timestamps)  # generate's promise, which the bisect below relies on
    lines = [encode(r) for r in reports]
    settings = make_settings(slack_webhook_url=slack.webhook_url, batch_max_wait="100ms")
    service = AlertService(settings, ch, rules=load_rules(REPO_ROOT / "alerts" / "rules-demo.yaml"))
    fired_at = resolved_at = None
    published = 0
    # Time moves in steps of 15 s of scenario time: publish what the proxies wrote by then,
    # store it, evaluate at that instant.
    for step in range(1, STORY_S // 15 + 1):
        now = start + timedelta(seconds=15 * step)
        due = lines[published:bisect.bisect_left(timestamps, now.timestamp() * 1000)]
        publish(settings, [b"\n".join(due[i:i + 500]) for i in range(0, len(due), 500)])
        published += len(due)
        ingest(settings)
        assert ch.command("SELECT (SELECT count() FROM requests) + (SELECT count() FROM dead_letters)") == published
        service.evaluate_once(now)
        texts = slack.texts()
        if fired_at is None and any(t.startswith("FIRING") for t in texts):
            fired_at = 15 * step
        if resolved_at is None and any(t.startswith("RESOLVED") for t in texts):
            resolved_at = 15 * step

    assert ch.command("SELECT count() FROM dead_letters") == 0
    texts = slack.texts()
    firing = [t for t in texts if t.startswith("FIRING")]
    resolved = [t for t in texts if t.startswith("RESOLVED")]
    assert len(firing) == 1 and len(resolved) == 1, texts
    assert f"staff-service → {EXTERNAL}" in firing[0]
    assert "api-gateway" in firing[0] and "webapp" in firing[0]  # the callers it takes down
    assert f"staff-service → {EXTERNAL}" in resolved[0]
    assert fired_at is not None and 45 < fired_at <= 120, texts  # the outage starts at 45 s
    assert resolved_at is not None and 225 < resolved_at <= 360, texts  # it recovers at 225 s
