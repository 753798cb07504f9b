"""A local HTTP server standing in for Slack: records every POST and answers as scripted.

It serves an incoming webhook (``/webhook``, answers ``ok``) and the Web API methods Edgewatch
calls, shaped like Slack's:

- ``/api/chat.postMessage`` answers ``{"ok": true, "channel": <id>, "ts": <ts>, "message"}``;
  a channel given by name (``#alerts``) is answered with an id, as Slack does, and a
  ``thread_ts`` naming no message is refused (``thread_not_found``);
- ``/api/chat.update`` takes ``channel`` (the id) and ``ts`` of a posted message and answers
  ``{"ok": true, "channel", "ts", "text", "message"}``; any other pair is refused
  (``message_not_found``, or ``channel_not_found`` for a name).

``messages`` holds what was posted (webhook and chat.postMessage, thread replies included),
``updates`` the chat.update requests, ``channel_view()`` each message as the channel shows
it now (after its edits). ``fail_next(status, count, retry_after, method)`` makes the next
``count`` requests (of ``method`` only, when given) fail with an HTTP status, to play an
outage or rate limiting; ``refuse_next(method, error)`` answers one with ``{"ok": false,
"error"}``, as Slack refuses. ``attempts`` holds the HTTP status of every request; failed
and refused requests are recorded there only.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

CHANNEL_ID = "C0EDGEWATCH"


@dataclass
class _Failure:
    status: int
    retry_after: str | None = None
    method: str | None = None  # None: any request
    error: str | None = None  # set: HTTP 200 with {"ok": false, "error"}


@dataclass
class _Script:
    failures: list[_Failure] = field(default_factory=list)

    def take(self, method: str) -> _Failure | None:
        for i, failure in enumerate(self.failures):
            if failure.method in (None, method):
                return self.failures.pop(i)
        return None


class SlackStandIn:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.attempts: list[int] = []
        self._posted: dict[tuple[str, str], dict[str, Any]] = {}  # (channel id, ts) -> as shown now
        self._ts = itertools.count(1)
        self._script = _Script()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/webhook"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None, method: str | None = None) -> None:
        with self._lock:
            self._script.failures.extend([_Failure(status, retry_after, method)] * count)

    def recover(self) -> None:
        """Forget the failures still scripted: Slack answers again."""
        with self._lock:
            self._script.failures.clear()

    def refuse_next(self, method: str, error: str) -> None:
        with self._lock:
            self._script.failures.append(_Failure(200, method=method, error=error))

    def texts(self) -> list[str]:
        with self._lock:
            return [m.get("text", "") for m in self.messages]

    def channel_view(self) -> list[dict[str, Any]]:
        """The bot's messages as the channel shows them now, in posting order."""
        with self._lock:
            return [dict(m) for m in self._posted.values()]

    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """The Web API's reply to a request that is not scripted to fail (caller holds the lock)."""
        channel = body.get("channel", "")
        if method == "chat.postMessage":
            channel_id = CHANNEL_ID if channel.startswith("#") else channel
            thread = body.get("thread_ts")
            if thread is not None and (channel_id, thread) not in self._posted:
                return {"ok": False, "error": "thread_not_found"}
            ts = f"1700000000.{next(self._ts):06d}"
            message = {"type": "message", "text": body.get("text", ""), "blocks": body.get("blocks", []), "ts": ts}
            if thread is None:
                self._posted[(channel_id, ts)] = message
            else:
                message["thread_ts"] = thread
            self.messages.append(body)
            return {"ok": True, "channel": channel_id, "ts": ts, "message": message}
        if method == "chat.update":
            shown = self._posted.get((channel, body.get("ts", "")))
            if shown is None:
                return {"ok": False, "error": "channel_not_found" if channel.startswith("#") else "message_not_found"}
            shown.update(text=body.get("text", ""), blocks=body.get("blocks", []), edited=True)
            self.updates.append(body)
            return {"ok": True, "channel": channel, "ts": shown["ts"], "text": shown["text"], "message": dict(shown)}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                body = _decode(raw, self.headers.get("Content-Type", ""))
                api = self.path.startswith("/api/")
                method = self.path.removeprefix("/api/") if api else "webhook"
                with stand_in._lock:
                    failure = stand_in._script.take(method)
                    if failure is not None and failure.error is not None:
                        reply: dict[str, Any] | None = {"ok": False, "error": failure.error}
                    elif failure is not None:
                        reply = None
                    elif api:
                        reply = stand_in._answer(method, body)
                    else:
                        stand_in.messages.append(body)
                        reply = {}
                    stand_in.attempts.append(failure.status if failure is not None else 200)
                if failure is not None and failure.error is None:
                    self.send_response(failure.status)
                    if failure.retry_after is not None:
                        self.send_header("Retry-After", failure.retry_after)
                    self.end_headers()
                    reason = b"unavailable" if failure.status >= 500 else b"no_service"
                    self.wfile.write(b"rate_limited" if failure.status == 429 else reason)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if api else "text/plain")
                self.end_headers()
                self.wfile.write(json.dumps(reply).encode() if api else b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        return Handler


def _decode(body: str, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        return dict(json.loads(body))
    fields: dict[str, Any] = {k: v[0] for k, v in parse_qs(body).items()}
    if "blocks" in fields:
        fields["blocks"] = json.loads(fields["blocks"])
    return fields


def running() -> Iterator[SlackStandIn]:
    """Generator for a pytest fixture: a started server, stopped afterwards."""
    server = SlackStandIn().start()
    try:
        yield server
    finally:
        server.stop()
