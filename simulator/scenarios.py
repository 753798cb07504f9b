"""Scenarios: stories told in phases over a topology (``scenarios:`` in the topology file).

A phase changes some of the topology's parameters (latencies, status-code and failure
shares, version weights) for its duration; the changes do not carry over to the next phase,
so a phase without changes is the healthy topology again. A ``ramp`` phase moves its values
linearly from those in force when it starts to its own by its end. The last phase lasts
forever. Every topology has the scenario ``steady``: one phase, no changes.

Scenario time ``t_s`` is seconds since the scenario started; ``topology_at(t_s)`` is the
whole state of the mesh at that moment, which is all the generator needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgewatch.settings import parse_duration
from simulator.topology import Param, Topology, TopologyError
from simulator.topology_file import FLEETMAN, override_params, read

STEADY = "steady"


@dataclass(frozen=True)
class Phase:
    """``topology``: the mesh with this phase's changes; ``duration_s`` None means forever."""

    name: str
    start_s: float
    duration_s: float | None
    ramp: bool
    topology: Topology


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    base: Topology
    phases: tuple[Phase, ...]

    def phase_at(self, t_s: float) -> Phase:
        """The phase in force at scenario time ``t_s`` (the first one before it starts)."""
        return self.phases[self._phase_index(t_s)]

    def topology_at(self, t_s: float) -> Topology:
        """The mesh at scenario time ``t_s``; inside a ramp, a new Topology on every call."""
        index = self._phase_index(t_s)
        phase = self.phases[index]
        if not phase.ramp or phase.duration_s is None or t_s >= phase.start_s + phase.duration_s:
            return phase.topology
        before = (self.phases[index - 1].topology if index else self.base).params()
        after = phase.topology.params()
        progress = max(0.0, (t_s - phase.start_s) / phase.duration_s)
        return self.base.with_params(_between(before, after, progress))

    def scaled(self, factor: float) -> Scenario:
        """The same story with every phase ``factor`` times as long (0.1: ten times faster)."""
        if factor <= 0:
            raise ValueError("the factor must be above 0")
        phases = tuple(
            replace(p, start_s=p.start_s * factor, duration_s=None if p.duration_s is None else p.duration_s * factor)
            for p in self.phases
        )
        return replace(self, phases=phases)

    def _phase_index(self, t_s: float) -> int:
        index = 0
        for i, phase in enumerate(self.phases[1:], start=1):
            if phase.start_s > t_s:
                break
            index = i
        return index


def load_scenarios(path: Path = FLEETMAN) -> dict[str, Scenario]:
    """Every scenario of the topology file at ``path``, ``steady`` included.
    Raises TopologyError if the topology or a scenario is invalid, OSError if unreadable."""
    topology, specs = read(path)
    scenarios = {STEADY: Scenario(STEADY, "Healthy traffic, nothing changes.", topology, (_steady(topology),))}
    for name, spec in specs.items():
        scenarios[str(name)] = _scenario(f"scenarios.{name}", str(name), spec, topology)
    return scenarios


def load_scenario(name: str, path: Path = FLEETMAN) -> Scenario:
    """The scenario ``name`` of the file at ``path``; raises TopologyError if there is none."""
    scenarios = load_scenarios(path)
    if name not in scenarios:
        raise TopologyError(f"{path}: no scenario {name!r}; there are: {', '.join(scenarios)}")
    return scenarios[name]


def _steady(topology: Topology) -> Phase:
    return Phase(STEADY, 0.0, None, False, topology)


def _scenario(where: str, name: str, spec: Any, topology: Topology) -> Scenario:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("phases"), list) or not spec["phases"]:
        raise TopologyError(f"{where}: expected a mapping with a non-empty list of phases")
    if unknown := set(spec) - {"description", "phases"}:
        raise TopologyError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: description, phases")
    phases: list[Phase] = []
    start_s = 0.0
    for i, phase_spec in enumerate(spec["phases"]):
        at = f"{where}.phases[{i}]"
        if not isinstance(phase_spec, Mapping) or "name" not in phase_spec:
            raise TopologyError(f"{at}: expected a mapping with a name")
        if phases and phases[-1].duration_s is None:
            raise TopologyError(f"{at}: only the last phase may leave out its duration")
        changes = {k: v for k, v in phase_spec.items() if k not in {"name", "duration", "ramp"}}
        params = topology.params() | override_params(at, changes, topology)
        try:
            duration_s = parse_duration(str(phase_spec["duration"])) if "duration" in phase_spec else None
            phase_topology = topology.with_params(params)
        except ValueError as error:
            raise TopologyError(f"{at}: {error}") from error
        ramp = bool(phase_spec.get("ramp", False))
        if ramp and duration_s is None:
            raise TopologyError(f"{at}: a ramp needs a duration")
        if ramp:  # its values move in a straight line: valid at both ends means valid throughout
            before = (phases[-1].topology if phases else topology).params()
            try:
                topology.with_params(_between(before, params, 0.0))
            except TopologyError as error:
                raise TopologyError(f"{at}: where the ramp starts: {error}") from error
        phases.append(Phase(str(phase_spec["name"]), start_s, duration_s, ramp, phase_topology))
        start_s += duration_s or 0.0
    return Scenario(name, str(spec.get("description", "")).strip(), topology, tuple(phases))


def _between(before: Mapping[Param, float], after: Mapping[Param, float], progress: float) -> dict[Param, float]:
    """Linear interpolation; a share missing on one side is 0, a ``max_ms`` is the target's."""
    values: dict[Param, float] = {}
    for key in before.keys() | after.keys():
        if key[2] == "max_ms":
            if key in after:
                values[key] = after[key]
            continue
        start, end = before.get(key, 0.0), after.get(key, 0.0)
        values[key] = start + (end - start) * progress
    return values
