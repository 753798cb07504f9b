"""Issue #15, guarantee 5: Slack down, or answering 429/5xx, for ten minutes while incidents open and
close. Notifications queue (persisted in the real engine), are retried with backoff honouring
Retry-After, and afterwards arrive once each, in order; a restart of the process in between loses
none and sends none twice. Time is explicit (the evaluations of 17 minutes, no sleeping)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from alerts.model import Edge
from alerts.notify.senders import BotSender, Sender, WebhookSender
from alerts.rules import parse_rule
from alerts.service import AlertService
from edgewatch.settings import Settings
from tests.alerts.records import recent_minute, store, traffic
from tests.alerts.slack_server import CHANNEL_ID, SlackStandIn

pytestmark = pytest.mark.clickhouse

T0 = recent_minute() - timedelta(minutes=20)  # the whole story lies in the past, inside the retention
CART = Edge("frontend", "default", "cart", "default")
PAYMENTS = Edge("checkout", "default", "payments", "default")
OUTAGE_S, END_S = 600, 1020
RULES = [parse_rule({"name": "edge-errors", "severity": "critical", "min_requests": 10, "for": "15s",
                     "error_rate": {"above": 0.05, "window": "1m"}})]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def calls(edge: Edge, start: float, end: float, code: int = 200) -> list[dict[str, object]]:
    return traffic(edge, at(start), at(end), every=1.0, code=code)


@pytest.mark.parametrize("kind", ["webhook", "bot"])
def test_a_ten_minute_slack_outage_delivers_everything_once_in_order_across_a_restart(
    ch: Client, slack: SlackStandIn, kind: str,
) -> None:
    # cart fails from 60 s to 300 s, payments from 180 s to 540 s; Slack is down from 0 s to 600 s.
    store(ch, calls(CART, 0, 60) + calls(CART, 60, 300, code=503) + calls(CART, 300, END_S))
    store(ch, calls(PAYMENTS, 0, 180) + calls(PAYMENTS, 180, 540, code=500) + calls(PAYMENTS, 540, END_S))
    sender: Callable[[], Sender] = ((lambda: WebhookSender(slack.webhook_url)) if kind == "webhook" else
                                    (lambda: BotSender("xoxb-test", CHANNEL_ID, slack.api_url)))
    settings = Settings.model_validate({})

    def service() -> AlertService:
        return AlertService(settings, ch, sender=sender(), rules=RULES, clock=lambda: at(0))

    alerting = service()
    for second in range(0, END_S, 5):
        slack.recover()
        if second < OUTAGE_S:  # every attempt fails: a minute rate limited (Retry-After 20 s), a minute unavailable
            if (second // 60) % 2:
                slack.fail_next(429, count=20, retry_after="20")
            else:
                slack.fail_next(503, count=20)
        if second == 300:  # the process restarts during the outage: a new service over the same tables
            alerting.shutdown()
            alerting = service()
        if second % 15 == 0:
            alerting.evaluate_once(at(second))
        else:
            alerting.deliver(at(second))

    texts = slack.texts()  # what was posted, in order (a bot also edits its firing messages to resolved)
    assert [t.split(":")[0] for t in texts] == ["FIRING [critical] frontend → cart",
                                                "FIRING [critical] checkout → payments", "RESOLVED", "RESOLVED"], texts
    assert texts[2].startswith("RESOLVED: frontend → cart") and texts[3].startswith("RESOLVED: checkout → payments")
    failed = [status for status in slack.attempts if status != 200]
    assert 429 in failed and 503 in failed
    edits = len(slack.updates)  # a bot edits each firing message when it resolves: two more requests
    assert len(slack.attempts) == len(failed) + 4 + edits and edits == (2 if kind == "bot" else 0)  # none twice
    assert alerting.queue.queued() == []
    stored = ch.query("SELECT status, count() FROM notifications FINAL GROUP BY status").result_rows
    assert dict(stored) == {"sent": 4}
