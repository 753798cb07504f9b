"""``EDGEWATCH_MESH_CONFIG``, read at start and read again when its files change.

The setting names a YAML file or a folder of them (``*.yaml``, ``*.yml``; hidden names such as
a ConfigMap volume's ``..data`` are skipped, sub-folders are not read). :func:`read_mesh_config`
reads them into a :class:`MeshConfig`; :class:`MeshConfigSource` keeps one current. There is no
thread: the caller calls :meth:`MeshConfigSource.refresh` where it uses the config (once per API
request or rule evaluation); that call costs a clock read, and every ``check_every`` seconds a
``stat`` of each file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edgewatch.mesh.config import EMPTY, MeshConfig
from edgewatch.mesh.objects import MeshConfigError, MeshObjects, read_objects

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml")
CHECK_EVERY_SECONDS = 5.0

FileStamp = tuple[str, int, int, int]
"""(path, mtime in ns, size, inode): a ConfigMap update swaps the file behind a symlink, so the inode changes."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def config_files(path: Path) -> list[Path]:
    """The files ``path`` names: itself, or a folder's YAML files in name order. Raises MeshConfigError."""
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file())
    if path.is_file():
        return [path]
    raise MeshConfigError(f"EDGEWATCH_MESH_CONFIG={path}: no such file or folder")


def _stamps(files: list[Path]) -> tuple[FileStamp, ...]:
    stamps = []
    for file in files:
        stat = file.stat()
        stamps.append((str(file), stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(stamps)


def read_mesh_config(path: Path) -> tuple[MeshConfig, tuple[FileStamp, ...]]:
    """Read every file of ``path`` into one config; also the files' stamps, taken before reading.

    Raises MeshConfigError naming the file (and document, object, field) at the first problem,
    including one object (kind, namespace, name) declared in two files.
    """
    try:
        files = config_files(path)
        stamps = _stamps(files)  # before reading: a write during the read shows as a change next time
    except OSError as error:
        raise MeshConfigError(f"EDGEWATCH_MESH_CONFIG={path}: {error}") from error
    objects = MeshObjects()
    declared: dict[tuple[str, str, str], Path] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise MeshConfigError(f"{file}: cannot read: {error}") from error
        found = read_objects(text, str(file))
        for meta in [obj.meta for obj in found.service_entries] + [obj.meta for obj in found.virtual_services]:
            key = (meta.kind, meta.namespace, meta.name)
            if key in declared:
                where = "twice" if declared[key] == file else f"in {declared[key]} and {file}"
                raise MeshConfigError(f"{file}: {meta.kind} {meta.ref} is declared {where}; keep one")
            declared[key] = file
        objects.extend(found)
    if objects.ignored:
        log.debug("mesh config %s: ignored %s", path,
                  ", ".join(f"{count} {kind}" for kind, count in sorted(objects.ignored.items())))
    return MeshConfig(objects.service_entries, objects.virtual_services, objects.ignored), stamps


@dataclass(frozen=True)
class MeshConfigStatus:
    """How the mesh config stands, for ``/readyz``'s details and the logs."""

    path: str | None
    files: tuple[str, ...] = ()
    loaded_at: datetime | None = None
    """When the config in use was read."""
    service_entries: int = 0
    virtual_services: int = 0
    ignored: int = 0
    """Objects of other kinds in the files."""
    last_error: str | None = None
    """Why the latest read failed (the config in use is then the last good one); None after a good read."""
    last_error_at: datetime | None = None

    def details(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "path": self.path,
            "files": list(self.files),
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "service_entries": self.service_entries,
            "virtual_services": self.virtual_services,
            "ignored": self.ignored,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
        }


class MeshConfigSource:
    """The mesh config named by ``path``, kept current. Thread-safe.

    Construction reads the files and raises MeshConfigError when they cannot be used (the CLI
    stops with the message). ``path`` None means no mesh config: :attr:`config` is always
    :data:`edgewatch.mesh.config.EMPTY`.

    :meth:`refresh` checks at most every ``check_every`` seconds of ``clock`` whether the set of
    files or any file's mtime, size or inode changed, and if so reads them all again. A good read
    replaces the config; a failed one keeps the last good config and records the error in
    :attr:`status`. Each change is read once: a broken file is logged once, and read again only
    after it changes again. ``refresh`` never raises and never blocks on another thread's
    check (that thread's caller waits for the read, the others get the config in use).
    """

    def __init__(self, path: Path | None, *, clock: Callable[[], datetime] = wall_clock,
                 check_every: float = CHECK_EVERY_SECONDS) -> None:
        self.path = path
        self._clock = clock
        self._check_every = timedelta(seconds=check_every)
        self._lock = threading.Lock()
        self._config = EMPTY
        self._status = MeshConfigStatus(path=None if path is None else str(path))
        # What the files looked like at the latest read, good or not; an error text when they could not be listed.
        self._seen: tuple[FileStamp, ...] | str = ()
        self._checked_at = clock()
        if path is not None:
            config, stamps = read_mesh_config(path)  # raises: a broken file at start stops the process
            self._use(config, stamps, self._checked_at)
            if not stamps:
                log.warning("EDGEWATCH_MESH_CONFIG=%s: no *.yaml or *.yml file in the folder", path)

    @property
    def config(self) -> MeshConfig:
        """The config in use (the last good read), without checking the files."""
        return self._config

    @property
    def status(self) -> MeshConfigStatus:
        return self._status

    def refresh(self) -> MeshConfig:
        """The config in use, after reading the files again if they changed (checked every few seconds)."""
        if self.path is None:
            return self._config
        now = self._clock()
        if timedelta(0) <= now - self._checked_at < self._check_every:  # a clock set back checks at once
            return self._config
        if not self._lock.acquire(blocking=False):
            return self._config
        try:
            self._checked_at = now
            self._check(self.path, now)
        finally:
            self._lock.release()
        return self._config

    def _check(self, path: Path, now: datetime) -> None:
        try:
            stamps: tuple[FileStamp, ...] | str = _stamps(config_files(path))
        except (MeshConfigError, OSError) as error:
            stamps = str(error)  # a missing folder is a state too: reported once, until it changes
        if stamps == self._seen:
            return
        try:
            config, read_stamps = read_mesh_config(path)
        except MeshConfigError as error:
            self._seen = stamps
            self._status = replace(self._status, last_error=str(error), last_error_at=now)
            log.warning("mesh config not reloaded, still using the one read at %s: %s",
                        self._status.loaded_at.isoformat() if self._status.loaded_at else "start", error)
            return
        self._use(config, read_stamps, now)
        log.info("mesh config reloaded from %s: %d ServiceEntries, %d VirtualServices", path,
                 len(config.service_entries), len(config.virtual_services))

    def _use(self, config: MeshConfig, stamps: tuple[FileStamp, ...], now: datetime) -> None:
        self._seen = stamps
        self._config = config
        self._status = MeshConfigStatus(
            path=str(self.path), files=tuple(stamp[0] for stamp in stamps), loaded_at=now,
            service_entries=len(config.service_entries), virtual_services=len(config.virtual_services),
            ignored=sum(config.ignored.values()))

