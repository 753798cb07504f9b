"""A local HTTP server standing in for Slack: records every POST and answers as scripted.

It serves both an incoming webhook (``/webhook``, answers ``ok``) and the Web API
(``/api/chat.postMessage``, answers ``{"ok": true}``). ``fail_next(status, count,
retry_after)`` makes the next ``count`` requests fail, to play an outage or rate limiting;
failed requests are recorded in ``attempts`` but not in ``messages``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class _Script:
    failures: list[tuple[int, str | None]] = field(default_factory=list)


class SlackStandIn:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.attempts: list[int] = []
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

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        with self._lock:
            self._script.failures.extend([(status, retry_after)] * count)

    def texts(self) -> list[str]:
        with self._lock:
            return [m.get("text", "") for m in self.messages]

    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                with stand_in._lock:
                    failure = stand_in._script.failures.pop(0) if stand_in._script.failures else None
                    stand_in.attempts.append(failure[0] if failure else 200)
                    if failure is None:
                        stand_in.messages.append(_decode(body, self.headers.get("Content-Type", "")))
                if failure is not None:
                    status, retry_after = failure
                    self.send_response(status)
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                    self.end_headers()
                    reason = b"unavailable" if status >= 500 else b"no_service"
                    self.wfile.write(b"rate_limited" if status == 429 else reason)
                    return
                api = self.path.startswith("/api/")
                reply = json.dumps({"ok": True}).encode() if api else b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if api else "text/plain")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        return Handler


def _decode(body: str, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        return dict(json.loads(body))
    from urllib.parse import parse_qs

    fields = {k: v[0] for k, v in parse_qs(body).items()}
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
