"""timeout_rate as a class: its fields, query parameters, root-cause relations and Slack texts. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.conditions.base import Samples
from alerts.conditions.timeout_rate import TimeoutRate
from alerts.conditions.window import rule_window
from tests.alerts.conditions.scope import NOW, SCOPE, SCOPE_PARAMS, explainers, planned


def test_fields_and_defaults() -> None:
    assert TimeoutRate(above=0.02).window == 60
    with pytest.raises(ValidationError, match="windows are whole minutes"):
        TimeoutRate.model_validate({"above": 0.02, "window": "90s"})


def test_query_over_the_window_with_its_threshold_and_min_requests() -> None:
    sql, params = TimeoutRate(above=0.02).query(SCOPE)
    other, windows = planned(params)
    assert other == {**SCOPE_PARAMS, "above": 0.02, "min_requests": 7}
    assert windows == {"window": rule_window(NOW, 60)}
    assert "sum(timeouts) / n AS value" in sql


def test_root_cause_failures_and_slowness_downstream_explain_it() -> None:
    assert explainers("timeout_rate") == {"error_rate", "timeout_rate", "slo_burn_rate", "latency"}


def test_notification() -> None:
    assert TimeoutRate.describe(0.65, 0.02) == "timeouts 65.0% > 2%"
    assert TimeoutRate(above=0.02, window=180).detail_window() == 180
    assert TimeoutRate.samples is Samples.FAILING
    assert TimeoutRate.drilldown is not None and TimeoutRate.drilldown.status == "timeout"
