"""timeout_headroom as a class: its fields, query parameters, root-cause relations and Slack texts. Pure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from alerts.conditions.base import Samples
from alerts.conditions.timeout_headroom import TimeoutHeadroom
from alerts.conditions.window import rule_window
from alerts.model import Edge, Observation
from edgewatch.mesh.source import read_mesh_config
from tests.alerts.conditions.scope import NOW, SCOPE, SCOPE_PARAMS, explainers, planned


def test_fields_and_defaults() -> None:
    headroom = TimeoutHeadroom()
    assert (headroom.fraction, headroom.timeout_ms, headroom.window, headroom.timeout_lookback) == (
        0.8, None, 300, 86400
    )  # fmt: skip
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        TimeoutHeadroom(fraction=1.5)


def test_query_infers_the_timeout_over_the_lookback() -> None:
    sql, params = TimeoutHeadroom.model_validate({"fraction": 0.5, "timeout_lookback": "2h"}).query(SCOPE)
    other, windows = planned(params)
    assert other == {**SCOPE_PARAMS, "fraction": 0.5, "min_requests": 7}
    assert windows == {"window": rule_window(NOW, 300), "lookback": rule_window(NOW, 7200)}
    assert "min(timeout_duration_min) AS timeout" in sql and "LEFT JOIN" in sql
    assert "mapKeys(latency_ok)" in sql
    assert "WHERE timeout > 0 AND value > {fraction:Float64} * timeout" in sql  # no mesh config: inferred only


STAFF = Edge("staff-service", "default", "2oujlno5e4.execute-api.us-east-1.amazonaws.com", "", "external")
MESH = read_mesh_config(Path(__file__).resolve().parents[3] / "deploy" / "mesh" / "fleetman.yaml")[0]  # the seed


def test_the_mesh_configured_timeout_comes_before_any_504() -> None:
    headroom = TimeoutHeadroom(fraction=0.8)
    scope = replace(SCOPE, mesh=MESH)
    sql, _ = headroom.query(scope)
    assert "WHERE timeout > 0" not in sql  # every edge with traffic is a candidate: its timeout may be configured
    no_504 = 0.0  # the LEFT JOIN's default: no timed-out call in the lookback
    rows = [(*STAFF.columns(), 120, 880.0, no_504), (*STAFF.columns()[:2], "other.example.com", "", "external", 90,
                                                     5000.0, no_504)]
    # 880 ms > 0.8 x 1 s (the VirtualService); the other host has no timeout at all: not evaluated
    assert headroom.observations(rows, scope) == [Observation(STAFF, 880.0, 800.0, 120)]
    assert headroom.observations([(*STAFF.columns(), 120, 700.0, no_504)], scope) == []


def test_the_inferred_timeout_is_the_fallback_and_the_rule_timeout_wins() -> None:
    scope = replace(SCOPE, mesh=MESH)
    inferred = [(*STAFF.columns()[:2], "other.example.com", "", "external", 90, 450.0, 500.0)]
    assert TimeoutHeadroom().observations(inferred, scope)[0].threshold == 400.0
    given = TimeoutHeadroom(timeout_ms=2000)
    assert given.observations([(*STAFF.columns(), 120, 880.0, 1600.0)], scope) == []  # 880 < 0.8 x 2 s


def test_callers_outside_the_mesh_have_no_configured_timeout() -> None:
    outside = Edge("unknown", "", "2oujlno5e4.execute-api.us-east-1.amazonaws.com", "", "external")
    assert TimeoutHeadroom().observations([(*outside.columns(), 120, 880.0, 0.0)], replace(SCOPE, mesh=MESH)) == []


def test_query_with_a_given_timeout_reads_no_lookback() -> None:
    sql, params = TimeoutHeadroom(timeout_ms=1000).query(SCOPE)
    other, windows = planned(params)
    assert other == {**SCOPE_PARAMS, "fraction": 0.8, "timeout": 1000, "min_requests": 7}
    assert windows == {"window": rule_window(NOW, 300)}
    assert "timeout_duration_min" not in sql


def test_root_cause_slowness_and_timeouts_downstream_explain_it() -> None:
    assert explainers("timeout_headroom") == {"latency", "timeout_headroom", "timeout_rate"}


def test_notification() -> None:
    assert TimeoutHeadroom.describe(850.0, 800.0) == "p99 of successful calls 850 ms > 800 ms (timeout headroom)"
    assert TimeoutHeadroom(window=120).detail_window() == 120
    assert TimeoutHeadroom.samples is Samples.SLOWEST
    assert TimeoutHeadroom.drilldown is None

