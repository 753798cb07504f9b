"""Faster socket reads for kafka-python's plain-TCP connections.

kafka-python 3.0 reads a readable socket 4 KiB per ``recv`` call, in Python, and copies every
piece into the response buffer, then slices the finished response out with two more copies.
For the ingester's fetches (tens of MB per response) that was most of the consumer's CPU;
bench/ingest.py prints both ("consume only"; docs/records.md, "Speed").

- :func:`_sock_recv` reads up to 1 MiB per call, and stops as soon as the socket has no more
  (a short read), instead of looping until ``recv`` raises ``BlockingIOError``.
- :func:`_read` copies a slice of the response once (through a memoryview), not twice.

Both keep the library's contracts: ``_sock_recv`` returns ``(data, error)`` exactly as the
original does (empty data and an error when the peer closed; TLS connections keep their own
method), and ``read`` returns ``bytes``. :func:`install` applies them only to the kafka-python
versions they were written against, and says so in the log otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import kafka
import kafka.errors as kafka_errors
from kafka.net.transport import KafkaTCPTransport
from kafka.protocol.frame import KafkaBytes

log = logging.getLogger(__name__)

CHUNK = 1 << 20
KNOWN_VERSIONS = ("3.0.",)


def _sock_recv(self: KafkaTCPTransport) -> tuple[bytes, Exception | None]:
    pieces: list[bytes] = []
    error: Exception | None = None
    while True:
        try:
            data = self._sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            break
        except Exception as e:  # what the original does: close the connection, with the reason
            log.exception("%s: error receiving network data, closing socket", self)
            error = kafka_errors.KafkaConnectionError(e)
            break
        if not data:
            error = kafka_errors.KafkaConnectionError("socket disconnected")
            break
        pieces.append(data)
        if len(data) < CHUNK:  # drained what the kernel had
            break
    return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), error


def _read(self: KafkaBytes, nbytes: int | None = None) -> bytes:
    start = self._idx
    self._idx = len(self) if nbytes is None else min(start + nbytes, len(self))
    return bytes(memoryview(self)[start:self._idx])


_ORIGINAL: dict[str, Any] = {}


def install() -> bool:
    """Apply both changes (idempotent); False, with a log line, on an unknown kafka-python."""
    if not kafka.__version__.startswith(KNOWN_VERSIONS):
        log.info("kafka-python %s: keeping its own socket reads (fast path written for %s)",
                 kafka.__version__, ", ".join(v + "x" for v in KNOWN_VERSIONS))
        return False
    if not _ORIGINAL:
        _ORIGINAL.update(sock_recv=KafkaTCPTransport._sock_recv, read=KafkaBytes.read)
        KafkaTCPTransport._sock_recv = _sock_recv  # type: ignore[method-assign]
        KafkaBytes.read = _read  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    """Restore kafka-python's own methods (for tests and comparisons)."""
    if _ORIGINAL:
        KafkaTCPTransport._sock_recv = _ORIGINAL.pop("sock_recv")  # type: ignore[method-assign]
        KafkaBytes.read = _ORIGINAL.pop("read")  # type: ignore[method-assign]
