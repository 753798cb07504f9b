"""error_rate as a class: its fields, query parameters, root-cause relations and Slack texts. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.conditions.base import Samples
from alerts.conditions.error_rate import ErrorRate
from alerts.conditions.window import rule_window
from alerts.model import Edge, Observation
from tests.alerts.conditions.scope import NOW, SCOPE, SCOPE_PARAMS, explainers, planned


def test_fields_and_defaults() -> None:
    assert ErrorRate(above=0.05).window == 60
    assert ErrorRate.model_validate({"above": 0.05, "window": "5m"}).window == 300
    with pytest.raises(ValidationError, match="less than 1"):
        ErrorRate(above=1)


def test_query_over_the_window_with_its_threshold_and_min_requests() -> None:
    sql, params = ErrorRate(above=0.05, window=300).query(SCOPE)
    other, windows = planned(params)
    assert other == {**SCOPE_PARAMS, "above": 0.05, "min_requests": 7}
    assert windows == {"window": rule_window(NOW, 300)}
    assert "sum(errors) / n AS value" in sql and "FROM edge_minute" in sql
    assert "match(source_workload, {source_re:String})" in sql


def test_observations_are_the_rows_requests_value_and_threshold() -> None:
    row = ("webapp", "default", "staff-service", "default", "service", 66, 0.0909, 0.05)
    assert ErrorRate(above=0.05).observations([row], SCOPE) == [
        Observation(Edge("webapp", "default", "staff-service", "default", "service"), 0.0909, 0.05, 66)
    ]


def test_root_cause_failures_and_slowness_downstream_explain_it() -> None:
    assert explainers("error_rate") == {"error_rate", "timeout_rate", "slo_burn_rate", "latency"}


def test_notification() -> None:
    condition = ErrorRate(above=0.05, window=120)
    assert ErrorRate.describe(0.123, 0.05) == "errors 12.3% > 5%"
    assert condition.detail_window() == 120
    assert ErrorRate.samples is Samples.FAILING
    assert ErrorRate.drilldown is not None and ErrorRate.drilldown.status == "5xx"
