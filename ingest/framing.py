"""Frame Kafka messages as rows of ``ingest_lines``: pure bytes in, bytes out.

The ingester does no JSON parsing in Python (see migrations/0001_ingest.sql): it turns each
message into TabSeparatedRaw rows ``topic<TAB>partition<TAB>offset<TAB>line`` and the engine
decodes the lines. Everything here is a handful of C-speed ``bytes`` operations per message,
whatever the number of records in it, and a message's rows are handed on as pieces: joining
them copied every message twice more, and the rows are counted from the replacement's length
instead of another pass (bench/ingest.py's 430 KB messages, two timings each: 0.06-0.08 ms
against 0.8-0.9 ms per message; shared 2-core machine).
"""

from __future__ import annotations

NATIVE_KEY = b'"destination_service"'
"""A key of Edgewatch's own record that Istio's access-log lines and Fluent Bit's records lack."""


def looks_native(value: bytes) -> bool:
    """Whether a message's first record looks like Edgewatch's own (the others: Envoy lines, bare
    or inside a log shipper's record). Only the insert's engine settings follow from it
    (ingest/writer.py); a wrong guess costs engine CPU, never a record."""
    end = value.find(b"\n", 0, 8192)
    return NATIVE_KEY in value[:end if end > 0 else 8192]


def line_head(topic: str, partition: int) -> bytes:
    """What every row of a partition starts with: ``topic<TAB>partition<TAB>``."""
    return b"%s\t%d\t" % (topic.encode(), partition)


def line_prefix(topic: str, partition: int, offset: int) -> bytes:
    return b"%s%d\t" % (line_head(topic, partition), offset)


def frame_message(topic: str, partition: int, offset: int, value: bytes | None) -> tuple[tuple[bytes, ...], int]:
    """:func:`frame` with the partition's head made here."""
    return frame(line_head(topic, partition), offset, value)


def frame(head: bytes, offset: int, value: bytes | None) -> tuple[tuple[bytes, ...], int]:
    """Return ``(pieces, count)``: the message's rows for ``ingest_lines``, as pieces to be
    written one after the other, and how many rows there are. ``head``: :func:`line_head` of
    the message's partition (a batch makes it once: for messages of one record, as Fluent Bit
    sends them, making it per message was a fifth of the framing's cost).

    - Newline-delimited records become one row per line (blank lines, empty or spaces only,
      are dropped later, in the engine; a message that is blank altogether gives no rows).
    - A JSON array (first non-blank byte ``[`` and last ``]``, pretty-printed or not) becomes a
      single row; the engine splits it. A message that only starts with ``[`` is
      newline-delimited like any other: its first line is one record among the rest, and the
      good records after it still land (tests/fuzz/test_bad_input.py).
    - Tabs only occur in valid JSON as whitespace, so they become spaces (TabSeparatedRaw
      has no escaping); ``\\r`` of CRLF line ends is dropped the same way.
    """
    if not value:
        return (), 0
    if b"\t" in value:
        value = value.replace(b"\t", b" ")
    if b"\r" in value:
        value = value.replace(b"\r", b"")
    body = value.strip()
    if not body:
        return (), 0
    prefix = b"%s%d\t" % (head, offset)
    if body[:1] == b"[" and body[-1:] == b"]":
        return (prefix, body.replace(b"\n", b" "), b"\n"), 1
    if b"\n" not in body:  # one record: nothing to replace
        return (prefix, body, b"\n"), 1
    rows = body.replace(b"\n", b"\n" + prefix)
    return (prefix, rows, b"\n"), 1 + (len(rows) - len(body)) // len(prefix)  # a prefix per line break
