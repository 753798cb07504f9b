"""glibc's freed memory goes back to the system once more than FREED_KEPT of it is held."""

from __future__ import annotations

import os
import platform

import pytest

from edgewatch.memory import FREED_KEPT, read_heap, release_freed_heap
from ingest.kafka import keep_freed_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's heap only")


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_freed_batches_are_given_back_beyond_what_is_kept() -> None:
    assert keep_freed_memory()  # as the ingester runs: buffers under 32 MiB on the heap, no top trim below 512 MiB
    size = FREED_KEPT + (128 << 20)
    buffers = [b"x" * (1 << 20) for _ in range(size >> 20)]  # written, so resident
    pin = b"y" * 4096  # a chunk in use above them: glibc cannot shrink the heap past it
    del buffers
    heap = read_heap()
    assert heap is not None and heap.held - heap.in_use > FREED_KEPT
    before = resident_bytes()
    released = release_freed_heap()
    after = resident_bytes()
    assert released > FREED_KEPT
    assert before - after > size // 2, (before, after)
    assert release_freed_heap() == 0  # what is left free is under FREED_KEPT
    assert pin
