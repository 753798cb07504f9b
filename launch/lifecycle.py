"""One start/stop lifecycle for the parts of a process: ingester, settler, alerts, API.

:class:`Lifecycle` starts its components in order and, once :class:`StopRequest` is set,
stops them in reverse order, each finishing what it has in hand (the API stops accepting, the
ingester stores and commits its batch, the settler and the alert scheduler finish a running
pass). The request is set by SIGINT/SIGTERM, or by a component that failed or finished its
work (``edgewatch ingest --until-caught-up``); a failure stops the others and is raised again
once they stopped, so the command reports it as if it had happened in the main thread.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

log = logging.getLogger("edgewatch")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Done = Callable[[BaseException | None], None]
"""What a running component calls when it ends by itself: with the error that ended it, or
None when it finished its work."""


class StartError(RuntimeError):
    """A part of the process could not start; the message says why and what to do."""


class Component(Protocol):
    """A long-running part of a process."""

    name: str

    def start(self, done: Done) -> None:
        """Returns once the component runs; raises if it cannot start. It calls ``done`` (from
        any thread) if it ends without being asked to."""

    def stop(self) -> None:
        """Blocks until the component finished what it had in hand and stopped."""


class StopRequest:
    """The one reason for a process to stop, set once: a signal, or a component's end."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal: signal.Signals | None = None
        """The signal that asked for the stop, if one did."""

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self) -> None:
        """Blocks until set (signal handlers still run meanwhile)."""
        self._event.wait()

    @contextmanager
    def on_signals(self) -> Iterator[StopRequest]:
        """SIGINT and SIGTERM set the request while the block runs (main thread only).

        The first signal restores the previous handlers, so a second one acts at once (Ctrl-C
        twice: KeyboardInterrupt; SIGTERM twice: the process ends). The previous handlers are
        restored on leaving the block too.
        """
        previous: dict[int, Any] = {}

        def handle(signum: int, _frame: FrameType | None) -> None:
            self.signal = signal.Signals(signum)
            log.info("%s received: finishing the work in hand, then stopping (again: stop at once)", self.signal.name)
            for number, handler in previous.items():
                signal.signal(number, handler)
            self.set()

        previous.update((number, signal.signal(number, handle)) for number in STOP_SIGNALS)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def exit_by_signal(self) -> None:
        """End the process by the signal that stopped it, once its work is done, so that its
        exit status tells why (as uvicorn does); returns when no signal stopped it."""
        if self.signal is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(self.signal, signal.SIG_DFL)
        signal.raise_signal(self.signal)


class Lifecycle:
    """Starts ``components`` in order, waits for ``stop``, stops them in reverse order."""

    def __init__(self, components: Sequence[Component], stop: StopRequest) -> None:
        self.components = list(components)
        self.stop = stop
        self._failure: BaseException | None = None
        self._lock = threading.Lock()

    def run(self, started: Callable[[], None] | None = None) -> None:
        """Blocks until the request is set, then returns once every started component stopped.

        ``started`` is called once all run. Raises the error of a component that could not
        start (after stopping those started before it), or that of the first one that failed
        while running (after stopping the others); a component that fails to stop is logged
        and the next one is stopped all the same.
        """
        running: list[Component] = []
        try:
            for component in self.components:
                try:
                    component.start(self._done_callback(component))
                except BaseException as error:
                    others = ", ".join(c.name for c in reversed(running))
                    then = f"; stopping {others}" if others else ""
                    log.error("%s could not start: %s%s", component.name, error, then)
                    raise
                running.append(component)
            if started is not None:
                started()
            self.stop.wait()
        finally:
            for component in reversed(running):
                self._stop(component)
        if self._failure is not None:
            raise self._failure

    def _done_callback(self, component: Component) -> Done:
        def done(error: BaseException | None) -> None:
            others = ", ".join(c.name for c in reversed(self.components) if c is not component)
            then = f"; stopping {others}" if others else ""
            if error is None:
                log.info("%s finished%s", component.name, then)
            else:
                with self._lock:
                    if self._failure is None:
                        self._failure = error
                log.error("%s stopped with an error: %s%s", component.name, error, then)
            self.stop.set()

        return done

    @staticmethod
    def _stop(component: Component) -> None:
        log.info("stopping %s", component.name)
        try:
            component.stop()
        except Exception:
            log.exception("%s did not stop cleanly", component.name)
