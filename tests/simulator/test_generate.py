"""The generated stream: window, order, determinism, rate, and how a mesh really reports calls."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from simulator.generate import generate
from simulator.scenarios import load_scenario
from simulator.traces import Report

START = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
DRIVER_MONITORING = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"


def steady(minutes: float, rate: float = 300, seed: int = 7) -> list[Report]:
    return list(generate(load_scenario("steady"), START, START + timedelta(minutes=minutes), rate, seed))


def test_reports_lie_in_the_window_in_timestamp_order():
    reports = steady(1)
    stamps = [r.timestamp_ms for r in reports]
    assert stamps == sorted(stamps)
    assert START.timestamp() * 1000 <= stamps[0] and stamps[-1] < (START + timedelta(minutes=1)).timestamp() * 1000


def test_the_same_seed_gives_the_same_reports_and_another_seed_others():
    assert steady(0.5, seed=3) == steady(0.5, seed=3)
    assert steady(0.5, seed=3)[:50] != steady(0.5, seed=4)[:50]


def test_a_longer_window_only_adds_reports_after_the_shorter_one():
    short, long = steady(0.5), steady(1)
    assert long[: len(short)] == short
    assert long[len(short)].timestamp_ms >= (START + timedelta(minutes=0.5)).timestamp() * 1000


def test_an_endless_stream_starts_like_a_window():
    assert list(islice(generate(load_scenario("steady"), START, None, 300, 7), 1000)) == steady(1)[:1000]


@pytest.mark.parametrize("rate", [50, 1000])
def test_the_healthy_mesh_reports_at_the_requested_rate(rate):
    reports = steady(1, rate=rate)
    assert abs(len(reports) / 60 - rate) < rate * 0.1


def test_in_mesh_calls_are_reported_by_both_proxies_with_the_same_ids():
    by_request: dict[str, list[Report]] = defaultdict(list)
    for report in steady(3):
        by_request[report.request_id].append(report)
    shapes = Counter()
    for reports in by_request.values():
        first = reports[0]
        assert {r.trace_id for r in reports} == {first.trace_id}
        from_outside = first.source_workload == "unknown"
        shapes[from_outside, first.destination_kind, tuple(sorted(r.reporter for r in reports))] += 1
        if len(reports) == 1 and first.destination_kind == "service" and not from_outside:
            assert first.response_flags in ("UF", "UF,URX", "UO")  # the call never reached the callee
            assert first.response_code == 503
    assert set(shapes) == {
        (True, "service", ("destination",)),  # from outside the mesh: only the callee's proxy
        (False, "service", ("destination", "source")),
        (False, "service", ("source",)),  # proxy failures
        (False, "external", ("source",)),  # external hosts: only the caller's proxy
    }
    assert shapes[False, "service", ("source",)] < shapes[False, "service", ("destination", "source")] / 500


def test_proxy_failures_answer_503_quickly_in_their_shares_and_are_reported_by_the_caller_only(tmp_path):
    (tmp_path / "mesh.yaml").write_text(
        """
ingress: [{to: front, share: 1, latency: {median_ms: 1, p99_ms: 2}}]
services:
  front: {port: 80, calls: [{to: back, flags: {UF: 0.1, URX: 0.05, UO: 0.02}, latency: {median_ms: 5, p99_ms: 50}}]}
  back: {port: 8080}
"""
    )
    scenario = load_scenario("steady", tmp_path / "mesh.yaml")
    calls = [
        r for r in generate(scenario, START, START + timedelta(seconds=60), 300, seed=1) if r.source_workload == "front"
    ]
    assert {r.response_code for r in calls if r.response_flags != "-"} == {503}
    shares = Counter(r.response_flags for r in calls if r.reporter == "source")
    total = sum(shares.values())
    assert (shares["UF"] / total, shares["UF,URX"] / total, shares["UO"] / total) == pytest.approx(
        (0.1, 0.05, 0.02), abs=0.01
    )
    failed_ids = {r.request_id for r in calls if r.response_flags != "-"}
    assert not [r for r in calls if r.reporter == "destination" and r.request_id in failed_ids]
    assert max(r.duration_ms for r in calls if r.response_flags in ("UF", "UO")) < 10


def test_a_parent_call_lasts_at_least_as_long_as_its_children_and_contains_them():
    traces: dict[str, list[Report]] = defaultdict(list)
    for report in steady(2):
        traces[report.trace_id].append(report)
    checked = 0
    for reports in traces.values():
        served = {r.destination_workload: r for r in reports if r.reporter == "destination"}
        for child in reports:
            parent = served.get(child.source_workload)
            if child.reporter == "source" and parent is not None:
                assert parent.duration_ms >= child.duration_ms
                assert parent.timestamp_ms <= child.timestamp_ms
                assert child.timestamp_ms + child.duration_ms <= parent.timestamp_ms + parent.duration_ms + 1
                checked += 1
    assert checked > 10_000


def test_the_callers_view_includes_the_network():
    pairs: dict[str, dict[str, Report]] = defaultdict(dict)
    for report in steady(1):
        pairs[report.request_id][report.reporter] = report
    for pair in pairs.values():
        if len(pair) == 2 and pair["source"].response_flags == "-":
            assert pair["source"].duration_ms >= pair["destination"].duration_ms
            assert pair["source"].response_code == pair["destination"].response_code


def test_an_in_mesh_timeout_ends_as_504_ut_for_the_caller_and_a_hang_up_for_the_callee(tmp_path):
    (tmp_path / "mesh.yaml").write_text(
        """
ingress: [{to: front, share: 1, latency: {median_ms: 1, p99_ms: 2}}]
services:
  front: {port: 80, calls: [{to: slow, timeout: 250ms, latency: {median_ms: 250, p99_ms: 900}}]}
  slow: {port: 8080}
"""
    )
    scenario = load_scenario("steady", tmp_path / "mesh.yaml")
    pairs: dict[str, dict[str, Report]] = defaultdict(dict)
    for report in generate(scenario, START, START + timedelta(seconds=30), 100, seed=1):
        if report.destination_service == "slow":
            pairs[report.request_id][report.reporter] = report
    timed_out = [p for p in pairs.values() if p["source"].response_flags == "UT"]
    assert 0.3 < len(timed_out) / len(pairs) < 0.7
    for pair in timed_out:
        assert (pair["source"].response_code, pair["source"].duration_ms) == (504, 250.0)
        assert (pair["destination"].response_code, pair["destination"].response_flags) == (0, "DC")
        assert pair["destination"].duration_ms <= 250.0
