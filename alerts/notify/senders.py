"""Where messages go: Slack through an incoming webhook or a bot token, or the console.

A sender makes exactly one attempt and reports how it went (``SendResult``); retrying,
backoff and ``Retry-After`` are the queue's job, so slack-sdk's own retry handlers are
turned off. Senders know nothing about rules or alerts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from alerts.notify.message import SlackMessage
from edgewatch.settings import Settings

TIMEOUT_SECONDS = 10
# Slack API error codes worth another attempt; any other error is permanent.
_TRANSIENT_ERRORS = {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}


@dataclass(frozen=True)
class SendResult:
    """``delivered``; else ``retry_after`` (seconds, from a 429) or ``permanent`` (do not retry)."""

    delivered: bool
    error: str = ""
    retry_after: float | None = None
    permanent: bool = False


DELIVERED = SendResult(True)


class Sender(Protocol):
    name: str

    def send(self, message: SlackMessage) -> SendResult:
        """One attempt; never raises for delivery problems."""
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

    def send(self, message: SlackMessage) -> SendResult:
        try:
            response = self._client.send(text=message.text, blocks=message.blocks)
        except Exception as error:  # connection refused, DNS, TLS, timeout: all worth a retry
            return SendResult(False, f"{type(error).__name__}: {error}")
        if response.status_code == 200:
            return DELIVERED
        return _classify(response.status_code, (response.body or "")[:200], response.headers)


class BotSender:
    """Posts with ``chat.postMessage`` as a bot (``EDGEWATCH_SLACK_BOT_TOKEN`` and ``_CHANNEL``);
    ``EDGEWATCH_SLACK_API_URL`` replaces https://slack.com/api/ (tests, proxies)."""

    name = "slack-bot"

    def __init__(self, token: str, channel: str, api_url: str | None = None) -> None:
        self._client = WebClient(
            token=token, base_url=api_url or WebClient.BASE_URL, timeout=TIMEOUT_SECONDS, retry_handlers=[]
        )
        self._channel = channel

    def send(self, message: SlackMessage) -> SendResult:
        try:
            self._client.chat_postMessage(channel=self._channel, text=message.text, blocks=message.blocks)
        except SlackApiError as error:
            response = error.response
            code = response.get("error", "") if isinstance(response.data, dict) else str(response.data)[:200]
            return _classify(response.status_code, str(code), response.headers)
        except Exception as error:
            return SendResult(False, f"{type(error).__name__}: {error}")
        return DELIVERED


class ConsoleSender:
    """Writes each message as one JSON line (``{"text", "blocks"}``) when Slack is not configured."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, message: SlackMessage) -> SendResult:
        stream = self._stream or sys.stdout
        stream.write(message.to_json() + "\n")
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
