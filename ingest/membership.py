"""Which static member of the consumer group (KIP-345) an ingester is: its ``group_instance_id``.

A member that dies keeps its partitions until its session ends (45 s, ingest/kafka.py); a new
consumer under the same instance id takes them over at once, without a rebalance. So the id
must be the same for a replica's successive processes, and differ between replicas:

- ``EDGEWATCH_KAFKA_INSTANCE_ID`` when set (a StatefulSet's pod name, say);
- otherwise the host name: a container's or a pod's own (Compose keeps a container's host
  name across restarts). Several ingesters of one group on one host (a laptop, the tests,
  ``--until-caught-up`` beside a running ingester) take ``<host>``, ``<host>-2``, ``<host>-3``...:
  each claims the first free slot with a lock file in the temp folder, held while it runs. A
  killed process's lock goes with the process, so its replacement claims the same slot and
  with it the dead member's partitions.

Two processes under one explicit id on one host are refused at start (:class:`InstanceIdInUse`);
on two hosts the broker fences the older one (the commit step says so).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from edgewatch.settings import Settings

MAX_SLOTS = 64
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]")


class InstanceIdInUse(RuntimeError):
    """Another ingester of the same group on this host holds the instance id (or every slot)."""


def host_instance_id(hostname: str) -> str:
    """The host name as a valid ``group.instance.id``: other characters become ``-``, and room
    is left for a slot suffix."""
    return _NOT_ALLOWED.sub("-", hostname)[:240] or "edgewatch"


class InstanceClaim:
    """Claims this ingester's instance id for as long as the ``with`` block runs.

    ``__enter__`` returns the id; it raises :class:`InstanceIdInUse` when an explicit id is held
    by another ingester of the group on this host, or all :data:`MAX_SLOTS` slots are. It never
    blocks. The lock is released by ``__exit__``, or by the process's death.
    """

    def __init__(self, settings: Settings, lock_dir: Path | None = None,
                 hostname: Callable[[], str] = socket.gethostname) -> None:
        self._settings = settings
        self._lock_dir = lock_dir or Path(tempfile.gettempdir())
        self._hostname = hostname
        self._held: int | None = None  # the lock file's descriptor
        self.instance_id: str | None = None

    def __enter__(self) -> str:
        s = self._settings
        if s.kafka_instance_id is not None:
            if not self._lock(s.kafka_instance_id):
                raise InstanceIdInUse(
                    f"another ingester of group {s.kafka_group!r} on this host runs as instance id "
                    f"{s.kafka_instance_id!r} (EDGEWATCH_KAFKA_INSTANCE_ID): give each ingester its own")
            self.instance_id = s.kafka_instance_id
            return self.instance_id
        host = host_instance_id(self._hostname())
        for slot in range(1, MAX_SLOTS + 1):
            candidate = host if slot == 1 else f"{host}-{slot}"
            if self._lock(candidate):
                self.instance_id = candidate
                return candidate
        raise InstanceIdInUse(f"{MAX_SLOTS} ingesters of group {s.kafka_group!r} already run on this host")

    def _lock(self, instance_id: str) -> bool:
        """Take the lock file of ``instance_id`` in this group, unless someone holds it."""
        group = hashlib.sha256(self._settings.kafka_group.encode()).hexdigest()[:16]
        path = self._lock_dir / f"edgewatch-ingest-{group}-{instance_id}.lock"
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)  # flock needs no write access
        try:
            # flock, not fcntl's record locks: those do not conflict within one process, and the
            # tests run several ingesters in one.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held = fd
        return True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._held is not None:
            os.close(self._held)  # releases the lock; the file stays, for the next claim
            self._held = None
