"""Where messages go: Slack through an incoming webhook or a bot token, or the console.

A sender makes exactly one attempt and reports how it went (``SendResult``); retrying,
backoff and ``Retry-After`` are the queue's job, so slack-sdk's own retry handlers are
turned off. Senders know nothing about rules or alerts.

Only the bot can change a message once posted: ``chat.postMessage`` answers with the
message's channel id and ``ts`` (``Posted``, which the queue stores), and ``chat.update``
takes them back. A webhook answers ``ok`` and nothing else, so it only ever posts.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from alerts.notify.message import SlackMessage
from edgewatch.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
# Slack API error codes worth another attempt; any other error is permanent.
_TRANSIENT_ERRORS = {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}


@dataclass(frozen=True)
class Posted:
    """Where Slack put a message: the channel's id and the message's ``ts``."""

    channel: str
    ts: str


@dataclass(frozen=True)
class SendResult:
    """``delivered`` (``posted``: where, when the sender learns it); else ``retry_after``
    (seconds, from a 429) or ``permanent`` (do not retry)."""

    delivered: bool
    error: str = ""
    retry_after: float | None = None
    permanent: bool = False
    posted: Posted | None = None


DELIVERED = SendResult(True)


class Sender(Protocol):
    name: str

    def send(self, message: SlackMessage, thread: Posted | None = None) -> SendResult:
        """One attempt; never raises for delivery problems. ``thread`` is where the incident's
        first message is, when known: the target of ``message.edit`` and ``message.reply``."""
        ...


def _retry_after(headers: Any) -> float:
    getter = getattr(headers, "get", None)
    value = (getter("Retry-After") or getter("retry-after")) if getter else None
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def _classify(status: int, error: str, headers: Any) -> SendResult:
    if status == 429:
        return SendResult(False, f"HTTP 429: {error}", retry_after=_retry_after(headers))
    if status >= 500 or status == 408:
        return SendResult(False, f"HTTP {status}: {error}")
    return SendResult(False, f"HTTP {status}: {error}", permanent=error not in _TRANSIENT_ERRORS)


class WebhookSender:
    """Posts to a Slack incoming webhook (``EDGEWATCH_SLACK_WEBHOOK_URL``)."""

    name = "slack-webhook"

    def __init__(self, url: str) -> None:
        self._client = WebhookClient(url=url, timeout=TIMEOUT_SECONDS, retry_handlers=[])

    def send(self, message: SlackMessage, thread: Posted | None = None) -> SendResult:
        """Posts ``message`` (a webhook can neither edit nor reply in a thread)."""
        try:
            response = self._client.send(text=message.text, blocks=message.blocks)
        except Exception as error:  # connection refused, DNS, TLS, timeout: all worth a retry
            return SendResult(False, f"{type(error).__name__}: {error}")
        if response.status_code == 200:
            return DELIVERED
        return _classify(response.status_code, (response.body or "")[:200], response.headers)


class BotSender:
    """Posts with ``chat.postMessage`` as a bot (``EDGEWATCH_SLACK_BOT_TOKEN`` and ``_CHANNEL``)
    and edits its own messages with ``chat.update``; ``EDGEWATCH_SLACK_API_URL`` replaces
    https://slack.com/api/ (tests, proxies)."""

    name = "slack-bot"

    def __init__(self, token: str, channel: str, api_url: str | None = None) -> None:
        self._client = WebClient(
            token=token, base_url=api_url or WebClient.BASE_URL, timeout=TIMEOUT_SECONDS, retry_handlers=[]
        )
        self._channel = channel

    def send(self, message: SlackMessage, thread: Posted | None = None) -> SendResult:
        """With ``message.edit`` and ``thread``: ``chat.update`` of the incident's message first
        (the same edit again is harmless, so a retry may repeat it), then ``chat.postMessage``,
        in its thread when ``message.reply``. An edit Slack refuses for good (message deleted,
        edit window closed) is logged and the message goes to the channel instead."""
        if message.edit is not None and thread is not None:
            edit = message.edit.content()
            edited = self._call(self._client.chat_update, channel=thread.channel, ts=thread.ts, **edit)
            if not edited.delivered and not edited.permanent:
                return edited
            if not edited.delivered:
                log.warning("cannot edit message %s in %s (%s): posting to the channel", thread.ts, thread.channel,
                            edited.error)
                thread = None
        post = self._client.chat_postMessage
        if message.reply and thread is not None:
            return self._call(post, channel=thread.channel, thread_ts=thread.ts, **message.content())
        return self._call(post, channel=self._channel, **message.content())

    @staticmethod
    def _call(method: Callable[..., SlackResponse], **arguments: Any) -> SendResult:
        try:
            response = method(**arguments)
        except SlackApiError as error:
            response = error.response
            code = response.get("error", "") if isinstance(response.data, dict) else str(response.data)[:200]
            return _classify(response.status_code, str(code), response.headers)
        except Exception as error:
            return SendResult(False, f"{type(error).__name__}: {error}")
        channel, ts = response.get("channel"), response.get("ts")
        return SendResult(True, posted=Posted(str(channel), str(ts)) if channel and ts else None)


class ConsoleSender:
    """Writes each message as one JSON line (``{"text", "blocks"}``) when Slack is not configured."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, message: SlackMessage, thread: Posted | None = None) -> SendResult:
        stream = self._stream or sys.stdout
        stream.write(json.dumps(message.content(), ensure_ascii=False) + "\n")
        stream.flush()
        return DELIVERED


def build_sender(settings: Settings) -> Sender:
    """Webhook if configured, else bot token + channel, else the console; raises ValueError
    for a bot token without a channel."""
    if settings.slack_webhook_url:
        return WebhookSender(settings.slack_webhook_url)
    if settings.slack_bot_token:
        if not settings.slack_channel:
            raise ValueError("EDGEWATCH_SLACK_BOT_TOKEN needs EDGEWATCH_SLACK_CHANNEL (a channel id or #name)")
        return BotSender(settings.slack_bot_token, settings.slack_channel, settings.slack_api_url)
    return ConsoleSender()
