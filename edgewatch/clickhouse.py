"""The one place that opens ClickHouse: ``connect(url)`` for ``chdb://PATH`` or ``http(s)://``.

The embedded engine (chDB) allows one process per data folder; ``connect`` turns the
engine's lock failure into :class:`EngineInUseError`, which says what to do instead.
Clients are cheap after the first embedded one of a process, which starts the engine (timed
on a shared 2-core machine: about 1 s, then 10-20 ms per client); give each thread its own.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

CHDB_PREFIX = "chdb://"


class EngineInUseError(RuntimeError):
    """Another process holds the embedded ClickHouse folder."""


def chdb_path(url: str) -> Path:
    """``chdb://.edgewatch/clickhouse`` -> ``.edgewatch/clickhouse`` (absolute paths keep their /)."""
    return Path(url[len(CHDB_PREFIX):])


def connect(url: str, settings: Mapping[str, int | str] | None = None, engine_max_memory: int = 0) -> Client:
    """Open a client for ``url``; raises EngineInUseError or clickhouse_connect's errors.

    ``settings``: query settings of every query of this client (``max_memory_usage``: a SET
    once with the embedded engine, sent with each query to a server). ``engine_max_memory``:
    the embedded engine's ``max_server_memory_usage`` (0: its default, 90% of the machine's
    memory); it takes effect with the process's first client, which starts the engine, and is
    ignored for a server, whose own config sets it.
    """
    if url.startswith(CHDB_PREFIX):
        return _connect_embedded(chdb_path(url), settings, engine_max_memory)
    parsed = urlparse(url)
    return clickhouse_connect.get_client(
        host=parsed.hostname or "localhost",
        port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
        username=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        database=parsed.path.strip("/") or "default",
        secure=parsed.scheme == "https",
        # No session: a server refuses concurrent queries in one session, and the API shares
        # its client across worker threads.
        autogenerate_session_id=False,
        settings=dict(settings or {}),
    )


def _connect_embedded(path: Path, settings: Mapping[str, int | str] | None, engine_max_memory: int) -> Client:
    path.mkdir(parents=True, exist_ok=True)
    # Startup arguments of the engine: the first client of the process starts it with them.
    options = {"max_server_memory_usage": engine_max_memory} if engine_max_memory else None
    try:
        return clickhouse_connect.get_client(interface="chdb", path=str(path.resolve()),
                                             settings=dict(settings or {}), chdb_options=options)
    except ClickHouseError as error:
        if _locked_by_another_process(path / "status"):
            raise EngineInUseError(
                f"the embedded ClickHouse folder {path} is in use by another process "
                "(chDB allows one process per folder). Stop that process, or run ingester, "
                "API and alerts together with `edgewatch up`, or point EDGEWATCH_CLICKHOUSE_URL "
                "at a ClickHouse server (http://user:password@host:8123/db)."
            ) from error
        raise


def _locked_by_another_process(status_file: Path) -> bool:
    """True when some process holds the engine's lock on ``status_file``.

    Only called after this process failed to open the engine, so the lock is not ours.
    """
    try:
        fd = os.open(status_file, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
