"""The notification queue against the real engine and a local Slack stand-in: retries with
backoff, Retry-After, order, persistence across restarts, nothing sent twice; an incident's
update waits for its firing message and, with a bot, edits it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from alerts.model import Alert, Edge, Status
from alerts.notify.message import SlackMessage, render
from alerts.notify.plan import Notice, plan
from alerts.notify.queue import NotificationQueue, backoff
from alerts.notify.senders import BotSender, WebhookSender
from alerts.rootcause import attribute
from edgewatch.services import ServiceMap
from tests.alerts.records import recent_minute
from tests.alerts.slack_server import CHANNEL_ID, SlackStandIn

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


ROOT_EDGE = Edge("staff-service", "default", "vendor.example.com", "", "external")
CALLER_EDGE = Edge("webapp", "default", "staff-service", "default", "service")


def incident_notices(queue: NotificationQueue, now: datetime, *callers: Edge) -> list[tuple[Notice, SlackMessage]]:
    """Plan against ``queue``'s log with a root alert on ROOT_EDGE and errors on ``callers``
    (symptoms of it), and render, as the evaluator does."""
    alerts = [Alert("edge-timeouts", "timeout_rate", "critical", ROOT_EDGE, Status.FIRING, T0, T0, 0.6, 0.02, 10)]
    for edge in callers:
        alerts.append(Alert("edge-errors", "error_rate", "critical", edge, Status.FIRING, now, now, 0.4, 0.05, 10))
    notices = plan(attribute(alerts, ServiceMap([])), set(), queue.incidents, {}, now)
    return [(n, render(n, None, "http://x", now)) for n in notices]


def bot(slack: SlackStandIn) -> BotSender:
    return BotSender("xoxb-test", "#alerts", slack.api_url)


def test_update_waits_for_its_firing_then_edits_it_across_a_restart(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, bot(slack))
    slack.fail_next(503, method="chat.postMessage")  # Slack is down when the incident opens
    queue.enqueue(incident_notices(queue, at(0)), at(0))
    assert queue.deliver_due(at(0)) == 0
    [(update, _)] = incident_notices(queue, at(15), CALLER_EDGE)  # a caller joins before the firing went out
    assert update.kind == "update"
    queue.enqueue([(update, render(update, None, "http://x", at(15)))], at(15))
    assert queue.deliver_due(at(0.5)) == 0 and slack.updates == [] and slack.attempts == [503]

    restarted = NotificationQueue(ch, bot(slack))
    assert [o.incident.kind for o in restarted.queued()] == ["firing", "update"]
    assert restarted.incidents[ROOT_EDGE.key].affected == (CALLER_EDGE,)
    assert restarted.deliver_due(at(20)) == 2
    [page] = slack.channel_view()
    [edit] = slack.updates
    assert (edit["channel"], edit["ts"]) == (CHANNEL_ID, page["ts"])
    assert page["text"].startswith("FIRING [critical]") and "webapp (new)" in page["text"]
    assert slack.messages[1]["thread_ts"] == page["ts"] and slack.messages[1]["text"].startswith("UPDATE: webapp")
    assert incident_notices(restarted, at(30), CALLER_EDGE) == []  # planned once


def test_where_the_firing_went_is_stored_and_used_after_a_restart(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, bot(slack))
    queue.enqueue(incident_notices(queue, at(0)), at(0))
    assert queue.deliver_due(at(0)) == 1
    stored = ch.query("SELECT slack_channel, slack_ts FROM notifications FINAL WHERE kind = 'firing'")
    [(channel, ts)] = stored.result_rows
    assert channel == CHANNEL_ID and ts == slack.channel_view()[0]["ts"]

    restarted = NotificationQueue(ch, bot(slack))
    restarted.enqueue(incident_notices(restarted, at(60), CALLER_EDGE), at(60))
    assert restarted.deliver_due(at(60)) == 1
    assert [(u["channel"], u["ts"]) for u in slack.updates] == [(CHANNEL_ID, ts)]

    again = NotificationQueue(ch, bot(slack))
    assert incident_notices(again, at(120)) == []  # the root alone: nothing new
    resolved = plan([], set(), again.incidents, {}, at(180))
    again.enqueue([(n, render(n, None, "http://x", at(180))) for n in resolved], at(180))
    assert again.deliver_due(at(180)) == 1
    assert [u["ts"] for u in slack.updates] == [ts, ts]
    assert [m["text"].split(":")[0] for m in slack.channel_view()] == ["RESOLVED", "RESOLVED"]  # the page, edited


def test_webhook_update_is_a_follow_up_after_the_firing(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, WebhookSender(slack.webhook_url))
    queue.enqueue(incident_notices(queue, at(0)), at(0))
    queue.enqueue(incident_notices(queue, at(15), CALLER_EDGE), at(15))
    assert queue.deliver_due(at(15)) == 2
    first, follow_up = slack.texts()
    assert first.startswith("FIRING [critical] staff-service → vendor.example.com")
    assert follow_up == "UPDATE: webapp joins the open incident staff-service → vendor.example.com " + (
        f"(firing since {T0:%H:%M} UTC)"
    )


def test_update_after_a_firing_that_never_went_out_is_posted(ch: Client, slack: SlackStandIn) -> None:
    queue = NotificationQueue(ch, bot(slack))
    slack.refuse_next("chat.postMessage", "channel_not_found")
    queue.enqueue(incident_notices(queue, at(0)), at(0))
    queue.enqueue(incident_notices(queue, at(15), CALLER_EDGE), at(15))
    assert queue.deliver_due(at(15)) == 1  # the firing failed for good; the update still says it
    [note] = slack.messages
    assert slack.updates == [] and note["text"].startswith("UPDATE: webapp joins") and "thread_ts" not in note
