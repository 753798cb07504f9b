"""The parts of a process behind :class:`launch.lifecycle.Component`: each is given what it needs.

- :class:`Ingesting`: ``Ingester.run`` in a thread; stopping stores and commits the batches in
  hand first.
- :class:`Settling`: the rollup settler's thread (:func:`edgewatch.settle.start_settler`).
- :class:`Alerting`: the alert scheduler (``AlertService.start``/``shutdown``).
- :class:`Serving`: uvicorn in a thread; stopping closes the listening socket, then lets the
  requests in progress finish. Signals are the lifecycle's, not uvicorn's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import uvicorn
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from alerts.service import AlertService
from edgewatch.settings import Settings
from edgewatch.settle import start_settler
from ingest.service import Ingester, IngestStats
from launch.lifecycle import Done, StartError

log = logging.getLogger(__name__)

SETTLER_STOP_TIMEOUT_S = 30.0


class Ingesting:
    """Consumes Kafka into ClickHouse until stopped, or with ``until_caught_up`` until
    everything published before it got its partitions is stored and committed (then it is
    done). Catching up waits for the partitions as long as the group needs, telling
    ``progress`` what it waits for, and fails with ingest.poll.CatchUpTimeout after
    ``timeout_s`` (None: no limit)."""

    name = "ingester"

    def __init__(self, ingester: Ingester, until_caught_up: bool = False, timeout_s: float | None = None,
                 progress: Callable[[str], None] = log.info) -> None:
        self.ingester = ingester
        self.until_caught_up = until_caught_up
        self.timeout_s = timeout_s
        self.progress = progress
        self.stats: IngestStats | None = None
        """What ``run`` returned, once it has."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, done: Done) -> None:
        def run() -> None:
            try:
                self.stats = self.ingester.run(stop=self._stop, until_caught_up=self.until_caught_up,
                                               timeout_s=self.timeout_s, progress=self.progress)
            except BaseException as error:  # handed to the lifecycle, which raises it again
                done(error)
                return
            if not self._stop.is_set():
                done(None)

        # A daemon: stop() joins it; only a second signal (stop at once) leaves it to die with the process.
        self._thread = threading.Thread(target=run, name="edgewatch-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class Settling:
    """Adds the callee-only calls to the rollups every minute (it logs failures, never ends)."""

    name = "settler"

    def __init__(self, client: Client) -> None:
        self.client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, done: Done) -> None:
        self._thread = start_settler(self.client, self._stop)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SETTLER_STOP_TIMEOUT_S)


class Alerting:
    """Evaluates the rules and delivers notifications on APScheduler's threads."""

    name = "alerts"

    def __init__(self, service: AlertService) -> None:
        self.service = service

    def start(self, done: Done) -> None:
        self.service.start()

    def stop(self) -> None:
        self.service.shutdown(wait=True)


class Serving:
    """Serves ``app`` with uvicorn on ``host:port`` (default ``settings.api_host``/``api_port``);
    ``name`` says what it serves, in the lifecycle's log and errors."""

    def __init__(self, app: FastAPI, settings: Settings, host: str | None = None, port: int | None = None,
                 name: str = "API") -> None:
        self.name = name
        self.server = uvicorn.Server(uvicorn.Config(
            app, host=host or settings.api_host, port=port or settings.api_port,
            log_level=settings.log_level.lower(), access_log=settings.log_level == "DEBUG",
        ))
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://{self.server.config.host}:{self.server.config.port}"

    def start(self, done: Done) -> None:
        """Returns once the server listens; raises StartError when it cannot (a port in use:
        uvicorn logs the reason, then exits its thread)."""

        def run() -> None:
            error: BaseException | None = None
            try:
                self.server.run()
            except BaseException as raised:  # uvicorn ends a failed start-up with SystemExit
                error = raised
            if self.server.started and not self._stopping:
                done(error or RuntimeError(f"the {self.name} server ended"))

        self._stopping = False
        self._thread = threading.Thread(target=run, name="edgewatch-api", daemon=True)  # as the ingester's
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise StartError(f"cannot serve the {self.name} on {self.url} (uvicorn logged why above)")
            self._thread.join(timeout=0.05)

    def stop(self) -> None:
        self._stopping = True
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join()
