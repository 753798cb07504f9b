"""timeout_headroom as a class: its fields, query parameters, root-cause relations and Slack texts. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.conditions.base import Samples
from alerts.conditions.timeout_headroom import TimeoutHeadroom
from alerts.conditions.window import rule_window
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
    assert "min(timeout_duration_min) AS timeout" in sql and "INNER JOIN" in sql
    assert "mapKeys(latency_ok)" in sql


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
