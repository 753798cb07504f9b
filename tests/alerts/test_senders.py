"""Senders against the local Slack stand-in: what each one posts, and how a bot edits the
incident's message (``chat.update`` with the channel id and ``ts`` that ``chat.postMessage``
answered) and replies in its thread."""

from __future__ import annotations

import io
import json

from alerts.notify.message import SlackMessage
from alerts.notify.senders import BotSender, ConsoleSender, Posted, WebhookSender
from tests.alerts.slack_server import CHANNEL_ID, SlackStandIn

PAGE = SlackMessage("FIRING [critical] a → b", [{"type": "section", "text": {"type": "mrkdwn", "text": "page"}}])
NOW = SlackMessage("FIRING [critical] a → b (affected callers: c (new))", [{"type": "divider"}])
UPDATE = SlackMessage("UPDATE: c joins the open incident a → b (firing since 12:00 UTC)", [], edit=NOW, reply=True)
RESOLVED = SlackMessage("RESOLVED: a → b (edge-errors) after 7m 5s", [], edit=SlackMessage("RESOLVED: a → b", []))


def bot(slack: SlackStandIn) -> BotSender:
    return BotSender("xoxb-test", "#alerts", slack.api_url)


def test_bot_post_reports_where_slack_put_the_message(slack: SlackStandIn) -> None:
    result = bot(slack).send(PAGE)
    assert result.delivered and result.posted is not None
    assert result.posted.channel == CHANNEL_ID  # the id, which chat.update needs, not "#alerts"
    assert slack.messages[0]["channel"] == "#alerts" and slack.messages[0]["text"] == PAGE.text
    assert [m["ts"] for m in slack.channel_view()] == [result.posted.ts]


def test_bot_update_edits_the_first_message_then_replies_in_its_thread(slack: SlackStandIn) -> None:
    sender = bot(slack)
    first = sender.send(PAGE).posted
    assert first is not None
    result = sender.send(UPDATE, first)
    assert result.delivered
    [edit] = slack.updates
    assert (edit["channel"], edit["ts"]) == (first.channel, first.ts)
    assert edit["text"] == NOW.text and edit["blocks"] == NOW.blocks
    reply = slack.messages[1]
    assert reply["thread_ts"] == first.ts and reply["text"] == UPDATE.text
    [shown] = slack.channel_view()  # one message in the channel, reading as it does now
    assert shown["text"] == NOW.text and shown["edited"]


def test_bot_resolved_edits_the_first_message_and_posts_to_the_channel(slack: SlackStandIn) -> None:
    sender = bot(slack)
    first = sender.send(PAGE).posted
    assert sender.send(RESOLVED, first).delivered
    assert [m["text"] for m in slack.channel_view()] == ["RESOLVED: a → b", RESOLVED.text]
    assert "thread_ts" not in slack.messages[1]


def test_bot_edit_that_fails_for_now_is_retried_whole(slack: SlackStandIn) -> None:
    sender = bot(slack)
    first = sender.send(PAGE).posted
    slack.fail_next(503, method="chat.update")
    result = sender.send(UPDATE, first)
    assert not result.delivered and not result.permanent
    assert len(slack.messages) == 1  # no reply before the edit went through
    assert sender.send(UPDATE, first).delivered and len(slack.updates) == 1 and len(slack.messages) == 2


def test_bot_edit_refused_for_good_posts_the_note_to_the_channel(slack: SlackStandIn) -> None:
    sender = bot(slack)
    first = sender.send(PAGE).posted
    slack.refuse_next("chat.update", "message_not_found")  # someone deleted it
    assert sender.send(UPDATE, first).delivered
    assert slack.updates == []
    assert slack.messages[1]["text"] == UPDATE.text and "thread_ts" not in slack.messages[1]


def test_bot_without_the_first_message_posts_the_note(slack: SlackStandIn) -> None:
    assert bot(slack).send(UPDATE, None).delivered
    assert slack.updates == [] and slack.texts() == [UPDATE.text]
    assert bot(slack).send(UPDATE, Posted(CHANNEL_ID, "1.000001")).delivered is True  # unknown: refused, then posted
    assert slack.texts() == [UPDATE.text, UPDATE.text]


def test_webhook_posts_the_follow_up_and_never_edits(slack: SlackStandIn) -> None:
    sender = WebhookSender(slack.webhook_url)
    result = sender.send(UPDATE, Posted(CHANNEL_ID, "1.000001"))
    assert result.delivered and result.posted is None
    assert slack.texts() == ["UPDATE: c joins the open incident a → b (firing since 12:00 UTC)"]
    assert set(slack.messages[0]) == {"text", "blocks"} and slack.updates == []


def test_console_prints_the_note_like_any_message() -> None:
    stream = io.StringIO()
    assert ConsoleSender(stream).send(UPDATE).delivered
    assert json.loads(stream.getvalue()) == {"text": UPDATE.text, "blocks": []}
