"""``edgewatch simulate``: publish a scenario's traffic to Kafka, paced in real time or faster.

``run`` is the library entry point; ``add_arguments`` and ``main`` are what edgewatch's CLI
calls for the ``simulate`` subcommand.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edgewatch.settings import Settings, parse_duration
from simulator.formats import FORMATS, Format, encoder
from simulator.generate import generate
from simulator.publish import Publisher, PublishError
from simulator.scenarios import Scenario, load_scenario
from simulator.topology import TopologyError
from simulator.topology_file import FLEETMAN

TICK_S = 0.1
"""Wall seconds between sends when paced: a record is published at most this late."""
MAX_PENDING = 20_000
PROGRESS_EVERY_S = 1.0


@dataclass
class RunStats:
    """What a run published; ``scenario_s``: scenario time covered by what was published."""

    records: int = 0
    messages: int = 0
    elapsed_s: float = 0.0
    scenario_s: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        """Records published per wall second."""
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run(
    settings: Settings,
    scenario: Scenario,
    rate: float,
    duration_s: float | None,
    seed: int,
    fmt: Format,
    speed: float = 1.0,
    progress: Callable[[RunStats], None] | None = None,
    start: datetime | None = None,
) -> RunStats:
    """Publish ``generate(scenario, start, start + duration_s, rate, seed)`` to Kafka in ``fmt``.

    Records are stamped in scenario time from ``start`` (default: now). With ``speed`` 1 they
    are published as their time comes (at most TICK_S late); ``speed`` 10 publishes ten
    scenario seconds per wall second (timestamps then run ahead of the clock unless ``start``
    lies in the past); ``math.inf`` publishes as fast as possible. ``duration_s`` None runs
    until Ctrl-C. Blocks until done; Ctrl-C stops it cleanly: what was sent is flushed, and
    the stats say ``interrupted``. ``progress`` is called about once per second and at the end.
    Raises PublishError if Kafka does not answer or loses records.
    """
    if not speed > 0:
        raise ValueError("speed must be above 0")
    start = start or datetime.now(UTC)
    end = None if duration_s is None else start + timedelta(seconds=duration_s)
    encode = encoder(fmt, scenario.base)
    publisher = Publisher(settings)
    stats = RunStats()
    tick_s = TICK_S * speed  # scenario seconds per send
    start_ms = start.timestamp() * 1000
    began = last_progress = time.monotonic()
    pending: list[bytes] = []

    def send(until_s: float) -> None:
        """Wait for scenario time ``until_s`` (paced runs), then publish what is pending."""
        nonlocal last_progress
        time.sleep(max(0.0, began + until_s / speed - time.monotonic()))
        publisher.send(pending)
        pending.clear()
        stats.scenario_s = until_s
        _tally(stats, publisher, began)
        if progress and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
            last_progress = time.monotonic()
            progress(stats)

    try:
        tick_end = tick_s
        for report in generate(scenario, start, end, rate, seed):
            t_s = (report.timestamp_ms - start_ms) / 1000
            if t_s >= tick_end:
                send(tick_end)
                tick_end = (math.floor(t_s / tick_s) + 1) * tick_s
            elif len(pending) >= MAX_PENDING:
                send(t_s)
            pending.append(encode(report))
        assert duration_s is not None  # without an end, generate yields forever: only Ctrl-C stops it
        send(duration_s)
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        publisher.close()
    _tally(stats, publisher, began)
    if progress:
        progress(stats)
    return stats


def _tally(stats: RunStats, publisher: Publisher, began: float) -> None:
    stats.records, stats.messages = publisher.records, publisher.messages
    stats.elapsed_s = time.monotonic() - began


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``edgewatch simulate``."""
    parser.add_argument(
        "--scenario",
        required=True,
        help="steady, driver-monitoring-outage, canary-regression, latency-creep, or one from your --topology file",
    )
    parser.add_argument("--rate", type=_positive, default=500.0, help="records per second (default 500)")
    parser.add_argument(
        "--duration", type=_duration, default=None, help="how long to run, e.g. 90s or 10m (default: until Ctrl-C)"
    )
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same traffic (default 1)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="native",
        help="native: Edgewatch records; envoy: Istio access-log lines with the pod's kubernetes object; "
        "fluentbit: the same lines as Fluent Bit sends them, as a log string (default native)",
    )
    parser.add_argument(
        "--topology",
        type=Path,
        default=FLEETMAN,
        help="the topology file with its scenarios (default: the fleetman app; see docs/topology.md)",
    )


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``edgewatch simulate`` with parsed ``args``; returns the process exit code."""
    try:
        scenario = load_scenario(args.scenario, args.topology)
    except (TopologyError, OSError) as error:
        print(f"edgewatch simulate: {error}", file=sys.stderr)
        return 2
    print(f"simulating {scenario.name!r} on {scenario.base.name}: {scenario.description}")
    print(
        f"  {args.rate:g} records/s as {args.format} to {settings.kafka_topic} at {settings.kafka_bootstrap}, "
        f"seed {args.seed}; phases: " + ", ".join(f"{p.name} at {p.start_s:g}s" for p in scenario.phases)
    )
    try:
        stats = run(settings, scenario, args.rate, args.duration, args.seed, args.format, progress=_printer(scenario))
    except PublishError as error:
        print(f"edgewatch simulate: {error}", file=sys.stderr)
        return 1
    how = "stopped" if stats.interrupted else "done"
    print(
        f"{how}: {stats.records:,} records in {stats.messages:,} messages, {stats.elapsed_s:.0f}s, {stats.rate:,.0f}/s"
    )
    return 0


def _printer(scenario: Scenario) -> Callable[[RunStats], None]:
    """Prints a status line every 10 s and whenever the scenario enters a new phase."""
    phase_shown, shown_at = scenario.phases[0].name, 0.0

    def show(stats: RunStats) -> None:
        nonlocal phase_shown, shown_at
        phase = scenario.phase_at(stats.scenario_s).name
        if phase != phase_shown or stats.elapsed_s - shown_at >= 10:
            phase_shown, shown_at = phase, stats.elapsed_s
            print(
                f"  {stats.scenario_s:6.0f}s  phase {phase:<12} {stats.records:>10,} records  {stats.rate:,.0f}/s",
                flush=True,
            )

    return show


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
