"""Each fleetman scenario tells its story: error shares, flags and latencies per phase."""

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from simulator.generate import generate
from simulator.scenarios import Scenario, load_scenario
from simulator.traces import Report

START = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
DRIVER_MONITORING = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"


def by_phase(scenario: Scenario, minutes: float, rate: float = 400) -> dict[str, list[Report]]:
    phases: dict[str, list[Report]] = defaultdict(list)
    start_ms = START.timestamp() * 1000
    for report in generate(scenario, START, START + timedelta(minutes=minutes), rate, seed=11):
        phases[scenario.phase_at((report.timestamp_ms - start_ms) / 1000).name].append(report)
    return phases


def share(reports: list[Report], match: Callable[[Report], bool], of: Callable[[Report], bool]) -> float:
    chosen = [r for r in reports if of(r)]
    assert chosen, "no reports to measure"
    return sum(map(match, chosen)) / len(chosen)


def failed(report: Report) -> bool:
    return report.response_code >= 500 or report.response_code == 0


def edge(source: str, destination: str, reporter: str) -> Callable[[Report], bool]:
    return lambda r: (r.source_workload, r.destination_service, r.reporter) == (source, destination, reporter)


def test_driver_monitoring_outage_times_out_at_1s_climbs_the_graph_and_recovers():
    scenario = load_scenario("driver-monitoring-outage")
    phases = by_phase(scenario, 6)
    assert [p.name for p in scenario.phases] == ["quiet", "degrading", "outage", "recovered"]
    to_driver_monitoring = edge("staff-service", DRIVER_MONITORING, "source")
    climb = [
        to_driver_monitoring,
        edge("api-gateway", "fleetman-staff-service", "destination"),
        edge("api-gateway", "fleetman-staff-service", "source"),
        edge("webapp", "fleetman-api-gateway", "source"),
        edge("unknown", "fleetman-webapp", "destination"),
    ]
    for healthy in ("quiet", "recovered"):
        for match in climb:
            assert share(phases[healthy], failed, of=match) < 0.01
    outage = phases["outage"]
    timeouts = [r for r in outage if to_driver_monitoring(r) and r.response_flags == "UT"]
    assert share(outage, lambda r: r.response_flags == "UT", of=to_driver_monitoring) > 0.9
    assert {(r.response_code, r.duration_ms) for r in timeouts} == {(504, 1000.0)}
    assert share(outage, lambda r: r.response_code == 500, of=climb[1]) > 0.9  # staff-service answers 500
    assert share(outage, failed, of=climb[2]) > 0.9
    assert 0.2 < share(outage, failed, of=climb[3]) < 0.4  # a third of api-gateway's calls go to staff-service
    assert 0.2 < share(outage, failed, of=climb[4]) < 0.4
    staff_failures = lambda r: climb[1](r) and r.response_code == 500  # noqa: E731
    assert share(outage, lambda r: r.duration_ms > 1000, of=staff_failures) > 0.95  # it waited for the timeout
    assert 0.1 < share(phases["degrading"], failed, of=to_driver_monitoring) < 0.9


def test_canary_regression_sends_a_quarter_to_v2_which_fails_a_fifth():
    phases = by_phase(load_scenario("canary-regression"), 4)
    served = edge("api-gateway", "fleetman-position-tracker", "destination")
    assert {r.destination_workload for r in phases["before"] if served(r)} == {"position-tracker"}
    canary = phases["canary"]
    is_v2 = lambda r: r.destination_workload == "position-tracker-v2"  # noqa: E731
    assert 0.22 < share(canary, is_v2, of=served) < 0.28
    assert 0.17 < share(canary, failed, of=lambda r: served(r) and is_v2(r)) < 0.23
    assert share(canary, failed, of=lambda r: served(r) and not is_v2(r)) < 0.01
    assert {r.source_workload for r in canary if r.destination_service == "fleetman-queue"} == {
        "position-tracker",
        "position-tracker-v2",
    }


def test_latency_creep_nears_the_2s_timeout_without_failing():
    phases = by_phase(load_scenario("latency-creep"), 13, rate=150)
    telemetry = [r for rs in phases.values() for r in rs if r.destination_service == "fleetman-vehicle-telemetry"]
    assert not [r for r in telemetry if r.response_code in (0, 504) or r.response_flags in ("UT", "DC")]
    assert all(r.duration_ms < 2000 for r in telemetry)

    def p99(phase: str) -> float:
        durations = sorted(
            r.duration_ms for r in phases[phase] if r.destination_service == "fleetman-vehicle-telemetry"
        )
        return durations[int(len(durations) * 0.99)]

    assert p99("healthy") < 400
    assert 1500 < p99("slow") < 2000


def test_scaled_scenarios_tell_the_same_story_faster():
    scenario = load_scenario("driver-monitoring-outage").scaled(0.1)
    assert [(p.name, p.start_s) for p in scenario.phases] == [
        ("quiet", 0.0),
        ("degrading", 3.0),
        ("outage", 4.5),
        ("recovered", 22.5),
    ]
    phases = by_phase(scenario, 0.5)
    to_driver_monitoring = edge("staff-service", DRIVER_MONITORING, "source")
    assert share(phases["outage"], failed, of=to_driver_monitoring) > 0.9
    assert share(phases["recovered"], failed, of=to_driver_monitoring) < 0.05


def test_a_ramp_moves_linearly_from_the_previous_phase():
    scenario = load_scenario("latency-creep")
    key = "api-gateway -> fleetman-vehicle-telemetry"
    latency = {
        t: next(e for e in scenario.topology_at(t).edges() if e.key == key).latency for t in (30, 60, 360, 660, 9999)
    }
    assert (latency[30].p99_ms, latency[30].max_ms) == (220, None)
    assert latency[60].p99_ms == 220 and latency[60].max_ms == 1950
    assert latency[360].p99_ms == (220 + 1800) / 2
    assert latency[660].p99_ms == latency[9999].p99_ms == 1800
