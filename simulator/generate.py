"""Pure generation: scenario + time window + rate + seed -> the mesh's reports, in timestamp order.

No clock, no I/O: ``generate`` is a function of its arguments, so a test can produce ten
minutes of an outage instantly, stamped at any (historical) time, and evaluate alerts at
explicit instants against it; ``simulator.run`` paces the same stream in real time.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from datetime import datetime

from simulator.scenarios import Scenario
from simulator.topology import Topology
from simulator.traces import Report, TraceBuilder

RESOLUTION_MS = 100
"""How finely a ramp is followed: the mesh is re-read from the scenario every 100 ms."""


def generate(scenario: Scenario, start: datetime, end: datetime | None, rate: float, seed: int) -> Iterator[Report]:
    """Yield every report with ``start <= timestamp < end`` of the traffic that starts entering
    the mesh at ``start`` (scenario time 0); ``end`` None: endless.

    - ``rate``: reports per second the healthy topology produces; requests enter as a Poisson
      process of ``rate / reports_per_request()`` per second (a failing mesh reports less, as
      failed calls skip their dependencies).
    - Reports come in timestamp order (ties in the order they were drawn); a call's reports
      are stamped with its start, so a trace entering shortly before ``end`` is cut there.
    - Deterministic: the same arguments yield the same reports, and a later ``end`` only adds
      reports after the earlier ``end``'s last one.
    Raises ValueError for an empty window, a naive datetime or a rate that is not above 0.
    """
    start_ms = _epoch_ms(start)
    end_ms = math.inf if end is None else _epoch_ms(end)
    if end_ms <= start_ms or not rate > 0:
        raise ValueError(f"need start < end and rate > 0, got {start} .. {end} at {rate}/s")
    rng = random.Random(seed)
    mean_gap_ms = 1000.0 / (rate / scenario.base.reports_per_request())
    builders = _Builders(scenario, rng)
    pending: list[tuple[int, int, Report]] = []
    drawn = 0
    arrival = start_ms + rng.expovariate(1.0) * mean_gap_ms
    while arrival < end_ms:
        for report in builders.at(arrival - start_ms).trace(arrival):
            heapq.heappush(pending, (report.timestamp_ms, drawn, report))
            drawn += 1
        arrival += rng.expovariate(1.0) * mean_gap_ms
        # Every later request enters at or after `arrival`, so earlier reports are final.
        while pending and pending[0][0] < min(arrival, end_ms):
            yield heapq.heappop(pending)[2]
    while pending and pending[0][0] < end_ms:
        yield heapq.heappop(pending)[2]


class _Builders:
    """The TraceBuilder for the mesh at a scenario time, rebuilt only when the mesh changes."""

    def __init__(self, scenario: Scenario, rng: random.Random) -> None:
        self.scenario, self.rng = scenario, rng
        self.step = -1
        self.topology: Topology | None = None
        self.builder: TraceBuilder | None = None

    def at(self, elapsed_ms: float) -> TraceBuilder:
        step = int(elapsed_ms // RESOLUTION_MS)
        if step != self.step:
            self.step = step
            topology = self.scenario.topology_at(step * RESOLUTION_MS / 1000)
            if topology is not self.topology:
                self.topology, self.builder = topology, TraceBuilder(topology, self.rng)
        assert self.builder is not None  # the first call builds: steps start at 0, topologies are never None
        return self.builder


def _epoch_ms(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone; use an aware datetime (e.g. datetime.now(UTC))")
    return moment.timestamp() * 1000.0
