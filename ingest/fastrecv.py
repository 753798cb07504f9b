"""Fewer copies and faster socket reads in kafka-python's fetch path.

kafka-python 3.0 reads a readable socket 4 KiB per ``recv`` call, in Python, and copies every
piece into the response buffer; decoding a fetch response then copies the whole response
once more, its records once more, and each record batch once more before the values are
sliced out. For the ingester's fetches (tens of MB per response) that was most of the
consumer's CPU; bench/ingest.py prints it ("consume only"; docs/records.md, "Speed").

- :func:`_sock_recv` reads up to 1 MiB per call, and stops as soon as the socket has no more
  (a short read), instead of looping until ``recv`` raises ``BlockingIOError``.
- :func:`_read` copies a slice of a buffer once (through a memoryview), not twice.
- :func:`_decode` decodes a received response from a view of its buffer, not from a copy.
- :func:`keep_freed_memory` stops glibc from returning every freed response buffer to the
  kernel: a fresh buffer of tens of MB otherwise costs a page fault per 4 KiB on first write.

Each keeps the library's contracts: ``_sock_recv`` returns ``(data, error)`` exactly as the
original does (empty data and an error when the peer closed; TLS connections keep their own
method), ``read`` returns ``bytes``, decoded responses hold the same values. :func:`install`
applies them only to the kafka-python versions they were written against, and says so in the
log otherwise.
"""

from __future__ import annotations

import ctypes
import logging
import platform
from typing import Any

import kafka
import kafka.errors as kafka_errors
from kafka.net.transport import KafkaTCPTransport
from kafka.protocol.api_message import ApiMessage
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


def _decode(cls: type[ApiMessage], data: Any, *args: Any, **kwargs: Any) -> Any:
    if type(data) is KafkaBytes:  # a received response: the original copies the rest of it out
        data = memoryview(data)[data.tell():]
    return _ORIGINAL["decode"].__func__(cls, data, *args, **kwargs)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20
"""Allocations from this size on get pages of their own. glibc's default starts at 128 KiB and
only adapts upwards as such buffers are freed; a fixed value also stops that adapting. 32 MiB
holds a fetch response of 4 partitions at 8 MiB each (ingest/service.py's consumer settings)."""
TRIM_THRESHOLD = 512 << 20
"""Freed memory at the top of the heap kept for reuse, at most."""


def keep_freed_memory() -> bool:
    """Have glibc keep freed buffers of up to :data:`MMAP_THRESHOLD` on its heap for reuse,
    and trim the heap only beyond :data:`TRIM_THRESHOLD`; False (and nothing changed) unless
    the C library is glibc. Process-wide, but the embedded engine allocates with its own
    jemalloc, so this touches Python's objects only."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


_ORIGINAL: dict[str, Any] = {}


def install() -> bool:
    """Apply the changes to kafka-python (idempotent); False, with a log line, on an unknown version."""
    if not kafka.__version__.startswith(KNOWN_VERSIONS):
        log.info("kafka-python %s: keeping its own socket reads (fast path written for %s)",
                 kafka.__version__, ", ".join(v + "x" for v in KNOWN_VERSIONS))
        return False
    if not _ORIGINAL:
        _ORIGINAL.update(sock_recv=KafkaTCPTransport._sock_recv, read=KafkaBytes.read,
                         decode=ApiMessage.__dict__["decode"])
        KafkaTCPTransport._sock_recv = _sock_recv  # type: ignore[method-assign]
        KafkaBytes.read = _read  # type: ignore[method-assign]
        ApiMessage.decode = classmethod(_decode)  # type: ignore[method-assign, assignment]
    return True


def uninstall() -> None:
    """Restore kafka-python's own methods (for tests and comparisons)."""
    if _ORIGINAL:
        KafkaTCPTransport._sock_recv = _ORIGINAL.pop("sock_recv")  # type: ignore[method-assign]
        KafkaBytes.read = _ORIGINAL.pop("read")  # type: ignore[method-assign]
        ApiMessage.decode = _ORIGINAL.pop("decode")  # type: ignore[method-assign]
