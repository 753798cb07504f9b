"""The lifecycle: order of start and stop, failures, signals. Fake parts, real signals."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

import pytest

from edgewatch.settings import REPO_ROOT
from launch.lifecycle import Done, Lifecycle, StartError, StopRequest


class Part:
    """A component that writes what happens to it into ``journal``."""

    def __init__(self, name: str, journal: list[str], start_error: Exception | None = None,
                 stop_error: Exception | None = None) -> None:
        self.name = name
        self.journal = journal
        self.start_error = start_error
        self.stop_error = stop_error
        self.done: Done | None = None

    def start(self, done: Done) -> None:
        self.journal.append(f"start {self.name}")
        if self.start_error is not None:
            raise self.start_error
        self.done = done

    def stop(self) -> None:
        self.journal.append(f"stop {self.name}")
        if self.stop_error is not None:
            raise self.stop_error

    def end(self, error: BaseException | None) -> None:
        """What the part's own thread does when it ends by itself."""
        assert self.done is not None
        thread = threading.Thread(target=self.done, args=(error,))
        thread.start()
        thread.join()


def parts(journal: list[str], *names: str) -> list[Part]:
    return [Part(name, journal) for name in names]


def test_parts_start_in_order_and_stop_in_reverse_order() -> None:
    journal: list[str] = []
    stop = StopRequest()

    def started() -> None:
        journal.append("all started")
        stop.set()

    Lifecycle(parts(journal, "alerts", "settler", "ingester", "API"), stop).run(started)
    assert journal == ["start alerts", "start settler", "start ingester", "start API", "all started",
                       "stop API", "stop ingester", "stop settler", "stop alerts"]
    assert stop.signal is None


def test_a_failure_stops_the_others_and_is_raised_once_they_stopped(caplog: pytest.LogCaptureFixture) -> None:
    journal: list[str] = []
    alerts, ingester, api = parts(journal, "alerts", "ingester", "API")
    boom = ConnectionError("broker gone")
    with caplog.at_level(logging.ERROR), pytest.raises(ConnectionError) as raised:
        Lifecycle([alerts, ingester, api], StopRequest()).run(lambda: ingester.end(boom))
    assert raised.value is boom  # the error itself, so the command reports it as it would have
    assert journal[3:] == ["stop API", "stop ingester", "stop alerts"]
    assert "ingester stopped with an error: broker gone; stopping API, alerts" in caplog.text


def test_a_part_that_cannot_start_stops_those_started_before_it(caplog: pytest.LogCaptureFixture) -> None:
    journal: list[str] = []
    first, second = parts(journal, "alerts", "settler")
    api = Part("API", journal, start_error=StartError("port 8080 in use"))
    never = Part("later", journal)
    with caplog.at_level(logging.ERROR), pytest.raises(StartError, match="port 8080"):
        Lifecycle([first, second, api, never], StopRequest()).run()
    assert journal == ["start alerts", "start settler", "start API", "stop settler", "stop alerts"]
    assert "API could not start: port 8080 in use; stopping settler, alerts" in caplog.text


def test_a_part_that_finishes_ends_the_lifecycle_without_error() -> None:
    journal: list[str] = []
    settler, ingester = parts(journal, "settler", "ingester")
    Lifecycle([settler, ingester], StopRequest()).run(lambda: ingester.end(None))
    assert journal[2:] == ["stop ingester", "stop settler"]


def test_a_part_that_fails_to_stop_does_not_keep_the_others_running(caplog: pytest.LogCaptureFixture) -> None:
    journal: list[str] = []
    first = Part("alerts", journal)
    stuck = Part("ingester", journal, stop_error=RuntimeError("stuck"))
    stop = StopRequest()
    with caplog.at_level(logging.ERROR):
        Lifecycle([first, stuck], stop).run(stop.set)
    assert journal[2:] == ["stop ingester", "stop alerts"]
    assert "ingester did not stop cleanly" in caplog.text


def test_a_signal_sets_the_request_and_a_second_one_acts_at_once() -> None:
    stop = StopRequest()
    before = signal.getsignal(signal.SIGTERM)
    with stop.on_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)  # handled in this (the main) thread before kill returns
        assert stop.is_set() and stop.signal is signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is before  # a second SIGTERM would not be caught
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_process_ends_by_the_signal_after_its_output() -> None:
    code = ("import os, signal; from launch.lifecycle import StopRequest\n"
            "stop = StopRequest()\n"
            "with stop.on_signals():\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "print('stored 5 records')\n"
            "stop.exit_by_signal()\n"
            "print('not reached')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGINT
    assert done.stdout == "stored 5 records\n"  # flushed to the pipe before the signal ended the process
