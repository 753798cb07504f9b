"""``BodyLimitMiddleware``: request bodies over a size limit are refused with 413 before any
route sees them (``EDGEWATCH_API_MAX_BODY_BYTES``, 1 MiB by default)."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """413 with a message for a body of more than ``max_bytes``: at once when ``Content-Length``
    says so, else as soon as the bytes received pass the limit (a chunked upload that lies about
    nothing but keeps going). The body is read whole before the app is called, so at most
    ``max_bytes`` of it are held per request; the app then receives it as one message.
    A client that disconnects while sending gets no answer (there is no one to answer).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> Message:
            nonlocal whole
            if whole is not None:
                message, whole = whole, None
                return message
            return await receive()  # after the body: waits for the disconnect, as the server's would

        await self.app(scope, replay, send)

    @staticmethod
    def _declared(scope: Scope) -> int:
        """The ``Content-Length`` header's value; 0 when absent or not a number (the server
        refuses a malformed one before we are called; the count while reading still binds)."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body too large: at most {self.max_bytes} bytes (EDGEWATCH_API_MAX_BODY_BYTES)"},
            status_code=413,
        )
        await response(scope, receive, send)
