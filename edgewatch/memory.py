"""What a process's memory is made of: the ClickHouse engine's own count, and glibc's heap (Python's).

With the embedded engine (chDB) the engine's memory is the process's own, beside Python's: the
engine allocates with its own jemalloc and counts what it holds (:class:`EngineMemory`: its
tracker, its caches, running queries and merges); Python's objects and buffers live in glibc's
heap (:class:`HeapMemory`: what glibc holds from the system and how much of it is in use). Resident
memory minus the two is the code and what jemalloc keeps without the tracker knowing. On a server
the engine's figures are the server's. ``/metrics`` reports both (read at every scrape:
``edgewatch_engine_memory_bytes{part=...}``, ``edgewatch_heap_bytes{part=...}``), and
bench/soak.py prints them beside the resident memory.
"""

from __future__ import annotations

import ctypes
import platform
from dataclasses import asdict, dataclass

from clickhouse_connect.driver.client import Client

from edgewatch.metrics import REGISTRY

ENGINE_MEMORY = REGISTRY.gauge(
    "edgewatch_engine_memory_bytes",
    "Memory the ClickHouse engine tracks: tracked (all of it), queries and merges running now, and its caches.")

_METRICS = {
    "tracked": "MemoryTracking",
    "merges": "MergesMutationsMemoryTracking",
    "mark_cache": "MarkCacheBytes",
    "primary_index_cache": "PrimaryIndexCacheBytes",
    "uncompressed_cache": "UncompressedCacheBytes",
    "query_condition_cache": "QueryConditionCacheBytes",
}
"""Part -> its ``system.metrics`` name (all present in ClickHouse 24+ and chDB 4.4)."""

READ = f"""SELECT
    {", ".join(f"sumIf(value, metric = '{metric}') AS {part}" for part, metric in _METRICS.items())},
    (SELECT toInt64(sum(memory_usage)) FROM system.processes WHERE query_id != queryID()) AS queries,
    (SELECT toInt64(max(peak_memory_usage)) FROM system.processes WHERE query_id != queryID()) AS query_peak
FROM system.metrics WHERE metric IN ({", ".join(f"'{m}'" for m in _METRICS.values())})"""


@dataclass(frozen=True)
class EngineMemory:
    """Bytes, as the engine counts them at one moment. ``queries``: the other queries running
    now; ``query_peak``: the highest peak among them."""

    tracked: int
    merges: int
    mark_cache: int
    primary_index_cache: int
    uncompressed_cache: int
    query_condition_cache: int
    queries: int
    query_peak: int


def read_engine_memory(client: Client) -> EngineMemory:
    """One query of ``system.metrics`` and ``system.processes`` (a few ms). Raises clickhouse_connect's errors."""
    names = list(EngineMemory.__dataclass_fields__)
    row = client.query(READ).result_rows[0]
    return EngineMemory(**{name: int(value or 0) for name, value in zip(names, row, strict=True)})


@dataclass(frozen=True)
class HeapMemory:
    """glibc's heap, bytes, over all its arenas (``mallinfo2``): ``held`` from the system (heap and
    mmapped blocks), ``in_use`` of it allocated now; the difference is freed memory glibc keeps."""

    held: int
    in_use: int


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def read_heap() -> HeapMemory | None:
    """None unless the C library is glibc 2.33 or later (``mallinfo2``). Walks every arena: about
    a millisecond, holding each arena's lock briefly."""
    if platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return HeapMemory(held=info.arena + info.hblkhd, in_use=info.uordblks + info.hblkhd)


FREED_KEPT = 256 << 20
"""Freed heap memory kept for reuse, at most, when :func:`release_freed_heap` is called."""


def release_freed_heap(kept: int = FREED_KEPT) -> int:
    """Give glibc's freed memory back to the system (``malloc_trim(0)``: every arena, not only
    the top of the heap) when more than ``kept`` bytes of it are held; the bytes that were free
    then, 0 when nothing was done (or the C library is not glibc). glibc never shrinks a heap
    whose free chunks lie below chunks in use, so without this its resident size stays at the
    high-water mark of the ingester's batches (docs/reliability.md, 9). Takes each arena's lock
    while it walks it: milliseconds per hundred MB."""
    if (heap := read_heap()) is None or heap.held - heap.in_use <= kept:
        return 0
    ctypes.CDLL(None).malloc_trim(0)
    return heap.held - heap.in_use


HEAP = REGISTRY.gauge("edgewatch_heap_bytes", "glibc's heap (Python's memory): held from the system, and in use.")


def report_memory(client: Client) -> None:
    """Sets ``edgewatch_heap_bytes``, then ``edgewatch_engine_memory_bytes`` from
    :func:`read_engine_memory` (which raises clickhouse_connect's errors)."""
    if (heap := read_heap()) is not None:
        for part, value in asdict(heap).items():
            HEAP.set(value, part=part)
    for part, value in asdict(read_engine_memory(client)).items():
        ENGINE_MEMORY.set(value, part=part)
