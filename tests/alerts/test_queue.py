"""The notification queue against the real engine and a local Slack stand-in: retries with
backoff, Retry-After, order, persistence across restarts, nothing sent twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from alerts.model import Alert, Edge, Status
from alerts.notify.message import SlackMessage
from alerts.notify.plan import Notice, plan
from alerts.notify.queue import NotificationQueue, backoff
from alerts.notify.senders import WebhookSender
from tests.alerts.records import recent_minute
from tests.alerts.slack_server import SlackStandIn

pytestmark = pytest.mark.clickhouse

T0 = recent_minute()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def notice(source: str) -> Notice:
    edge = Edge(source, "default", "db", "default")
    alert = Alert("edge-errors", "error_rate", "critical", edge, Status.FIRING, T0, T0, 0.5, 0.05, 10)
    return plan([alert], set(), {}, {}, T0)[0]


def items(*sources: str) -> list[tuple[Notice, SlackMessage | None]]:
    return [(notice(s), SlackMessage(f"about {s}")) for s in sources]


def test_backoff_doubles_up_to_five_minutes() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 10, 30)] == [1, 2, 4, 8, 300, 300]


def test_outage_then_recovery_delivers_everything_once_in_order(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender(slack.webhook_url))
    queue.enqueue(items("a", "b"), at(0))
    slack.fail_next(500, count=2)
    assert queue.deliver_due(at(0)) == 0  # 500: retry in 1 s
    assert queue.deliver_due(at(0.5)) == 0 and slack.attempts == [500]  # not due yet
    assert queue.deliver_due(at(1)) == 0  # 500 again: retry in 2 s
    assert queue.deliver_due(at(2.9)) == 0 and slack.attempts == [500, 500]
    assert queue.deliver_due(at(3)) == 2
    assert slack.texts() == ["about a", "about b"]
    assert queue.deliver_due(at(60)) == 0 and queue.queued() == []


def test_rate_limited_waits_for_retry_after(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender(slack.webhook_url))
    queue.enqueue(items("a"), at(0))
    slack.fail_next(429, retry_after="30")
    queue.deliver_due(at(0))
    assert queue.queued()[0].next_attempt_at == at(30)
    assert queue.deliver_due(at(29)) == 0
    assert queue.deliver_due(at(30)) == 1


def test_refused_message_is_skipped_not_retried(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender(slack.webhook_url))
    queue.enqueue(items("a", "b"), at(0))
    slack.fail_next(404)
    assert queue.deliver_due(at(0)) == 1
    assert slack.texts() == ["about b"] and slack.attempts == [404, 200]


def test_connection_refused_is_retried(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender("http://127.0.0.1:9/nothing-listens"))
    queue.enqueue(items("a"), at(0))
    assert queue.deliver_due(at(0)) == 0
    assert queue.queued()[0].attempts == 1 and "URLError" in queue.queued()[0].last_error


def test_queue_and_log_survive_a_restart_and_nothing_is_sent_twice(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender(slack.webhook_url))
    queue.enqueue(items("a", "b"), at(0))
    slack.fail_next(500)
    queue.deliver_due(at(0))

    restarted = NotificationQueue(ch, WebhookSender(slack.webhook_url))
    assert [o.id for o in restarted.queued()] == [o.id for o in queue.queued()]
    assert restarted.queued()[0].attempts == 1
    assert set(restarted.incidents) == {notice("a").incident.edge.key, notice("b").incident.edge.key}
    assert restarted.deliver_due(at(1)) == 2

    again = NotificationQueue(ch, WebhookSender(slack.webhook_url))
    assert again.queued() == []
    assert again.enqueue(items("a"), at(5)) == []  # the same notice id is never queued twice
    assert again.deliver_due(at(10)) == 0
    assert slack.texts() == ["about a", "about b"]


def test_bounded_queue_drops_the_oldest(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender(slack.webhook_url), max_queued=2)
    queue.enqueue(items("a", "b", "c"), at(0))
    assert queue.deliver_due(at(0)) == 2
    assert slack.texts() == ["about b", "about c"]


def test_messages_too_old_expire(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender(slack.webhook_url), max_age=timedelta(hours=1))
    queue.enqueue(items("a"), at(0))
    assert queue.deliver_due(at(3601)) == 0
    assert queue.queued() == [] and slack.attempts == []
