"""ingest/writer.py's pieces handed to the engine (pure, no I/O)."""

from __future__ import annotations

from ingest.writer import blocks


def test_blocks_join_chunks_into_pieces_of_about_the_size_in_order() -> None:
    chunks = [b"a" * 3, b"b" * 3, b"c" * 10, b"d", b"e"]
    pieces = list(blocks(chunks, size=6))
    assert pieces == [b"aaabbb", b"c" * 10, b"de"]
    assert b"".join(pieces) == b"".join(chunks)
    assert list(blocks([], size=6)) == []
