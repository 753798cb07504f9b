"""Publishing through the real Kafka into the real ingester, paced and unpaced, and the CLI."""

import argparse
import math
from datetime import UTC, datetime, timedelta

import pytest

from simulator.formats import FORMATS, encoder
from simulator.generate import generate
from simulator.publish import MESSAGE_MAX_BYTES, MESSAGE_MAX_RECORDS
from simulator.run import MAX_PENDING, RunStats, add_arguments, main, run
from simulator.scenarios import load_scenario

SCENARIO = load_scenario("driver-monitoring-outage")


@pytest.mark.kafka
@pytest.mark.clickhouse
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unpaced_run_publishes_exactly_what_generate_yields(ch, make_settings, ingest, fmt):
    settings = make_settings()
    start = datetime.now(UTC) - timedelta(minutes=10)
    stats = run(settings, SCENARIO, rate=2000, duration_s=10, seed=3, fmt=fmt, speed=math.inf, start=start)
    expected = list(generate(SCENARIO, start, start + timedelta(seconds=10), 2000, 3))
    assert (stats.records, stats.interrupted) == (len(expected), False)
    # Many records per message: each one full up to one of the two limits (but the last of each send).
    size = sum(len(line) + 1 for line in map(encoder(fmt, SCENARIO.base), expected))
    full = max(stats.records / MESSAGE_MAX_RECORDS, size / MESSAGE_MAX_BYTES)
    assert stats.messages <= full * 1.05 + math.ceil(stats.records / MAX_PENDING)
    ingest(settings)
    assert ch.command("SELECT count() FROM dead_letters") == 0
    assert ch.command("SELECT count() FROM requests") == len(expected)
    assert ch.command("SELECT countIf(response_flags = 'UT') FROM requests") == sum(
        r.response_flags == "UT" for r in expected
    )


@pytest.mark.kafka
@pytest.mark.clickhouse
def test_a_paced_run_keeps_time_and_stops_cleanly_on_ctrl_c(ch, make_settings, ingest):
    settings = make_settings()
    seen: list[RunStats] = []

    def interrupt(stats: RunStats) -> None:
        seen.append(stats)
        if len(seen) == 1:
            raise KeyboardInterrupt

    stats = run(settings, SCENARIO, rate=400, duration_s=30, seed=1, fmt="native", progress=interrupt)
    assert stats.interrupted and len(seen) == 2  # interrupted at the first progress report, then the final one
    assert 1.0 <= stats.elapsed_s < 2.5
    assert 0.7 < stats.records / (400 * stats.scenario_s) < 1.3  # real time: scenario seconds = wall seconds
    ingest(settings)
    assert ch.command("SELECT count() FROM requests") == stats.records


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_the_cli_options_parse_durations_and_formats():
    args = parse("--scenario", "latency-creep", "--rate", "250", "--duration", "10m", "--format", "envoy")
    assert (args.scenario, args.rate, args.duration, args.seed, args.format) == ("latency-creep", 250, 600, 1, "envoy")
    with pytest.raises(SystemExit):
        parse("--scenario", "steady", "--rate", "0")


def test_an_unknown_scenario_is_refused_naming_the_known_ones(capsys):
    settings = None  # never reached: the scenario is checked first
    assert main(settings, parse("--scenario", "meltdown")) == 2  # type: ignore[arg-type]
    assert "no scenario 'meltdown'; there are: steady, driver-monitoring-outage" in capsys.readouterr().err
