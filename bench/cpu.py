"""CPU time and memory of processes and threads, from the kernel's own counters (``/proc``).

This machine has 2 cores shared by the broker, the ingester (Python and the embedded engine in
one process) and whatever else runs: CPU-seconds per record are the figure that compares across
runs, wall time is not. What the benchmarks split:

- a process: ``utime + stime`` of ``/proc/<pid>/stat`` (threads that ended included);
- a thread of this process: the same fields of ``/proc/self/task/<tid>/stat``. Python 3.11
  names no OS thread, so a thread is Python's when ``threading.enumerate()`` lists its
  ``native_id``; every other thread of the process is the embedded engine's (its query
  pipeline, merges, background pools);
- a step: CPU of the calling thread (``time.thread_time``) spent inside a method, added up by
  :class:`StepClock`, which wraps methods of the product's classes in the benchmark process only.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def _stat_cpu(path: str) -> float:
    """utime + stime in seconds of a ``stat`` file; 0 when the process or thread is gone."""
    try:
        text = Path(path).read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) * TICK  # fields 14 and 15 of proc(5)


def process_cpu(pid: int | str = "self") -> float:
    """CPU-seconds (user + system) of a whole process, its ended threads included."""
    return _stat_cpu(f"/proc/{pid}/stat")


def thread_cpu() -> dict[int, float]:
    """CPU-seconds of each live thread of this process, by thread id."""
    return {int(tid): _stat_cpu(f"/proc/self/task/{tid}/stat") for tid in os.listdir("/proc/self/task")}


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory (VmRSS) of a process; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def listener_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` (the local broker), or None when none of this user's is."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{parts[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:
            continue
    return None


def python_threads() -> dict[int, str]:
    """This process's Python threads: native id -> name."""
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}


@dataclass
class ThreadSampler:
    """Samples this process's threads every ``every`` seconds from a thread of its own, so that
    threads which end before the measurement does (kafka-python's IO thread at ``close``, the
    writer lanes) keep the CPU they had; a thread's last ``every`` seconds may be missed.

    ``label(name)`` maps a Python thread's name to a group; engine threads are ``"engine"``, the
    sampler itself ``"sampler"`` (not the product's: leave it out of the totals)."""

    label: Callable[[str], str]
    every: float = 0.2
    seen: dict[int, tuple[str, float]] = field(default_factory=dict)
    _start: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _me: int = -1  # the sampler's thread

    def __enter__(self) -> ThreadSampler:
        self._start = thread_cpu()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        self._me = threading.get_native_id()
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        names = python_threads()
        for tid, cpu in thread_cpu().items():
            if tid == self._me:
                group = "sampler"
            elif tid in names:
                group = self.label(names[tid])
            else:
                group = self.seen.get(tid, ("engine", 0.0))[0]  # a Python thread stays Python after it ended
            self.seen[tid] = group, cpu - self._start.get(tid, 0.0)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def by_group(self) -> dict[str, float]:
        groups: dict[str, float] = defaultdict(float)
        for group, cpu in self.seen.values():
            groups[group] += cpu
        return dict(groups)


class StepClock:
    """Adds up the calling thread's CPU time inside wrapped methods, by label.

    ``wrap(cls, name, label)`` replaces ``cls.name`` until :meth:`restore`. Time is exclusive: a
    wrapped method called inside another (the engine's query call inside the framing step's
    lookup of stored batches) counts for its own label only. Costs two ``thread_time`` calls per
    call (about 1 us): wrap methods called per poll or per batch, not per record.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._nested = threading.local()
        self._originals: list[tuple[type, str, Any]] = []

    def wrap(self, cls: type, name: str, label: str) -> None:
        original = cls.__dict__[name]
        clock, seconds, lock, nested = time.thread_time, self.seconds, self._lock, self._nested

        @wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(nested, "inner", 0.0)
            nested.inner = 0.0
            began = clock()
            try:
                return original(*args, **kwargs)
            finally:
                spent = clock() - began
                with lock:
                    seconds[label] += spent - nested.inner
                nested.inner = outer + spent

        self._originals.append((cls, name, original))
        setattr(cls, name, timed)

    def restore(self) -> None:
        while self._originals:
            cls, name, original = self._originals.pop()
            setattr(cls, name, original)


@contextmanager
def cpu_of(pid: int | str = "self") -> Iterator[list[float]]:
    """``with cpu_of(pid) as spent:`` -> ``spent[0]``, the process's CPU-seconds inside the block."""
    spent = [0.0]
    began = process_cpu(pid)
    try:
        yield spent
    finally:
        spent[0] = process_cpu(pid) - began
