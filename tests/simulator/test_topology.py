"""The topology file: fleetman loads as described; every kind of mistake is refused, saying where."""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.scenarios import STEADY, load_scenarios
from simulator.topology import Latency, TopologyError
from simulator.topology_file import FLEETMAN

FLEETMAN_RAW: dict[str, Any] = yaml.safe_load(FLEETMAN.read_text())


def test_fleetman_has_the_services_edges_and_scenarios_of_the_story():
    scenarios = load_scenarios()
    assert list(scenarios) == [STEADY, "driver-monitoring-outage", "canary-regression", "latency-creep"]
    topology = scenarios[STEADY].base
    assert [e.key for e in topology.edges()] == [
        "unknown -> fleetman-webapp",
        "webapp -> fleetman-api-gateway",
        "api-gateway -> fleetman-position-tracker",
        "api-gateway -> fleetman-staff-service",
        "api-gateway -> fleetman-vehicle-telemetry",
        "position-tracker -> fleetman-queue",
        "staff-service -> driver-monitoring",
    ]
    external = topology.externals["driver-monitoring"]
    assert (external.host, external.port) == ("2oujlno5e4.execute-api.us-east-1.amazonaws.com", 443)
    timeouts = {e.key: e.timeout_ms for e in topology.edges() if e.timeout_ms}
    assert timeouts == {
        "staff-service -> driver-monitoring": 1000.0,
        "api-gateway -> fleetman-vehicle-telemetry": 2000.0,
    }
    versions = [(w.name, w.version) for w in topology.services["fleetman-position-tracker"].workloads]
    assert versions == [("position-tracker", "v1"), ("position-tracker-v2", "v2")]
    # The course's names: Services fleetman-*, the workloads behind them (and their app label) without.
    names = {s.name: (s.app, s.port, [w.name for w in s.workloads]) for s in topology.services.values()}
    assert names == {
        "fleetman-webapp": ("webapp", 80, ["webapp"]),
        "fleetman-api-gateway": ("api-gateway", 8080, ["api-gateway"]),
        "fleetman-position-tracker": ("position-tracker", 8080, ["position-tracker", "position-tracker-v2"]),
        "fleetman-staff-service": ("staff-service", 8080, ["staff-service"]),
        "fleetman-vehicle-telemetry": ("vehicle-telemetry", 8080, ["vehicle-telemetry"]),
        "fleetman-queue": ("queue", 8161, ["queue"]),
    }
    # 1 (ingress) + 0.85 * (2 + 2 * (0.5 + 0.3 + 0.2) + 2 * 0.5 + 0.3)
    assert topology.reports_per_request() == pytest.approx(5.505)


def test_the_tail_is_squeezed_under_max_ms_keeping_median_and_p99():
    latency = Latency(median_ms=100, p99_ms=1000, max_ms=1200)
    assert [latency.squeeze(x) for x in (50, 100, 1000)] == [50, 100, 1000]
    squeezed = [latency.squeeze(x) for x in (1001, 2000, 1e9)]
    assert squeezed == sorted(squeezed) and all(1000 < x < 1200 for x in squeezed[:2]) and squeezed[2] <= 1200


def mutated(change) -> dict[str, Any]:
    raw = copy.deepcopy(FLEETMAN_RAW)
    change(raw)
    return raw


def staff_call(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["services"]["fleetman-staff-service"]["calls"][0]


# yaml.safe_dump sorts keys: services come in alphabetical order in the written file.
MISTAKES = [
    (
        lambda r: r["services"]["fleetman-webapp"].update(port=0),
        "services.fleetman-webapp.port: expected an integer from 1 to 65535",
    ),
    (lambda r: r["services"]["fleetman-webapp"].update(prot=80), "services.fleetman-webapp: unknown key(s) prot"),
    (lambda r: staff_call(r).update(to="nowhere"), "services.fleetman-staff-service.calls[0].to: 'nowhere' is not"),
    (
        lambda r: r["services"]["fleetman-api-gateway"]["calls"][2].update(to="vehicle-telemetry"),
        "services.fleetman-api-gateway.calls[2].to: 'vehicle-telemetry' is not a service or external host; "
        "'vehicle-telemetry' runs behind the Service 'fleetman-vehicle-telemetry'",
    ),
    (
        lambda r: r["ingress"][0].update(to="webapp"),
        "ingress[0].to: 'webapp' is not a service; 'webapp' runs behind the Service 'fleetman-webapp'",
    ),
    (lambda r: r["ingress"][0].update(to="driver-monitoring"), "ingress[0].to: 'driver-monitoring' is not a service"),
    (
        lambda r: r["services"]["fleetman-queue"].update(app="webapp"),
        "services: app names must be unique in the mesh: webapp",
    ),
    (lambda r: r["services"]["fleetman-queue"].update(app="unknown"), "services.fleetman-queue.app: 'unknown' means"),
    (lambda r: staff_call(r)["latency"].update(p99_ms=100), "calls[0].latency: need 0 < median_ms < p99_ms"),
    (lambda r: staff_call(r)["latency"].update(max_ms=500), "max_ms 500.0 must exceed p99_ms"),
    (lambda r: staff_call(r).update(codes={503: 0.7, 500: 0.4}), "calls[0].codes: shares of non-200 codes"),
    (lambda r: staff_call(r).update(codes={"five": 0.1}), "calls[0].codes.five: expected an integer"),
    (lambda r: staff_call(r).update(flags={"NR": 0.1}), "calls[0].flags: shares of UF, URX, UO"),
    (lambda r: staff_call(r).update(timeout="1 sec"), "calls[0].timeout: '1 sec' is not a duration"),
    (lambda r: staff_call(r).update(calls=-1), "calls[0].calls: expected a number from 0"),
    (lambda r: r["ingress"][0].update(timeout="1s"), "ingress[0]: unknown key(s) timeout"),
    (lambda r: r["ingress"][0].update(share=0.5), "ingress: list the services requests enter by"),
    (
        lambda r: r["services"]["fleetman-queue"].update(
            calls=[{"to": "fleetman-webapp", "latency": {"median_ms": 1, "p99_ms": 2}}]
        ),
        "services: calls go round in a cycle: fleetman-api-gateway -> fleetman-position-tracker -> fleetman-queue "
        "-> fleetman-webapp -> fleetman-api-gateway",
    ),
    (
        lambda r: r["services"]["fleetman-position-tracker"]["workloads"][0].update(weight=0),
        "services.fleetman-position-tracker.workloads: at least one workload of fleetman-position-tracker needs a "
        "weight above 0",
    ),
    (
        lambda r: (
            r["scenarios"]["canary-regression"]["phases"][1]["workloads"]["position-tracker-v2"].update(weight=0)
            or r["scenarios"]["canary-regression"]["phases"][1]["workloads"]["position-tracker"].update(weight=0)
        ),
        "scenarios.canary-regression.phases[1]: workloads: at least one workload of fleetman-position-tracker needs",
    ),
    (
        lambda r: r["services"]["fleetman-queue"].update(workloads=[{"name": "webapp", "version": "v1"}]),
        "services: workload names must be unique in the mesh: webapp",
    ),
    (
        lambda r: r["scenarios"]["canary-regression"]["phases"][1]["workloads"].update(position_tracker={"weight": 1}),
        "scenarios.canary-regression.phases[1].workloads.position_tracker: no such workload",
    ),
    (
        lambda r: r["scenarios"]["latency-creep"]["phases"][1].update(edges={"api-gateway -> fleetman-queue": {}}),
        "scenarios.latency-creep.phases[1].edges.api-gateway -> fleetman-queue: no such edge; an edge is written "
        "'caller -> callee': the calling app, the called Service or external name: unknown -> fleetman-webapp, ",
    ),
    (  # the workload's name where the Service's belongs: the message says which edge is meant
        lambda r: r["scenarios"]["latency-creep"]["phases"][1].update(edges={"api-gateway -> vehicle-telemetry": {}}),
        "edges.api-gateway -> vehicle-telemetry: no such edge; an edge is written 'caller -> callee': the calling "
        "app, the called Service or external name: did you mean 'api-gateway -> fleetman-vehicle-telemetry'?",
    ),
    (  # the calling Service's name where its app belongs
        lambda r: r["scenarios"]["latency-creep"]["phases"][1].update(
            edges={"fleetman-staff-service -> driver-monitoring": {}}
        ),
        "did you mean 'staff-service -> driver-monitoring'?",
    ),
    (  # one version of a caller where its app belongs: the edge is the Service's, made by every version
        lambda r: r["scenarios"]["latency-creep"]["phases"][1].update(
            edges={"position-tracker-v2 -> fleetman-queue": {}}
        ),
        "did you mean 'position-tracker -> fleetman-queue'?",
    ),
    (
        lambda r: r["scenarios"]["latency-creep"]["phases"][0].pop("duration"),
        "scenarios.latency-creep.phases[1]: only the last phase may leave out its duration",
    ),
    (
        lambda r: r["scenarios"]["latency-creep"]["phases"][1].pop("duration"),
        "scenarios.latency-creep.phases[1]: a ramp needs a duration",
    ),
    (
        lambda r: r["scenarios"]["latency-creep"]["phases"][1]["edges"]["api-gateway -> fleetman-vehicle-telemetry"][
            "latency"
        ].update(median_ms=50, p99_ms=100, max_ms=150),
        "scenarios.latency-creep.phases[1]: where the ramp starts: latency: max_ms 150.0 must exceed p99_ms 220.0",
    ),
    (
        lambda r: r["scenarios"]["driver-monitoring-outage"]["phases"][2]["edges"][
            "staff-service -> driver-monitoring"
        ].update(latency={"median_ms": 9000}),
        "scenarios.driver-monitoring-outage.phases[1]: latency: need 0 < median_ms",
    ),
]


@pytest.mark.parametrize(("change", "message"), MISTAKES)
def test_a_mistake_is_refused_saying_where(tmp_path: Path, change, message):
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(mutated(change)))
    with pytest.raises(TopologyError) as refused:
        load_scenarios(path)
    assert message in str(refused.value)


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path):
    path = tmp_path / "topology.yaml"
    path.write_text("services: [\n")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_scenarios(path)


def test_the_examples_of_docs_topology_md_load(tmp_path: Path):
    text = (Path(__file__).parents[2] / "docs" / "topology.md").read_text()
    blocks = [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]
    path = tmp_path / "shop.yaml"
    path.write_text("".join(blocks))
    scenarios = load_scenarios(path)
    assert list(scenarios) == [STEADY, "payments-outage", "canary"]
    assert scenarios["canary"].topology_at(60).services["cart"].workloads[1].weight == 0.1
