"""slo_burn_rate as a class: its fields, query parameters, observations, root-cause relations and
Slack texts. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.conditions.base import Samples
from alerts.conditions.slo_burn_rate import PAGE_WINDOWS, SloBurnRate
from alerts.conditions.window import rule_window
from alerts.model import Edge, Observation
from tests.alerts.conditions.scope import NOW, SCOPE, SCOPE_PARAMS, explainers, planned

EDGE = Edge("webapp", "default", "staff-service", "default", "service")


def test_fields_and_defaults() -> None:
    assert SloBurnRate(objective=0.999).windows == PAGE_WINDOWS
    with pytest.raises(ValidationError, match="short must be shorter than long"):
        SloBurnRate.model_validate({"objective": 0.99, "windows": [{"long": "5m", "short": "1h", "burn_rate": 2}]})
    with pytest.raises(ValidationError, match="at least 1 item"):
        SloBurnRate.model_validate({"objective": 0.99, "windows": []})


def test_query_sums_each_distinct_window_once_longest_first() -> None:
    sql, params = SloBurnRate(objective=0.999).query(SCOPE)
    other, windows = planned(params)
    assert other == pytest.approx({**SCOPE_PARAMS, "limit0": 14.4 * 0.001, "limit1": 6 * 0.001, "min_requests": 7})
    assert windows == {f"w{i}": rule_window(NOW, span) for i, span in enumerate((21600, 3600, 1800, 300))}
    # pair 0 is 1h/5m (w1/w3), pair 1 is 6h/30m (w0/w2); the short window needs min_requests
    assert "(n3 >= {min_requests:UInt64} AND e1 / n1 > {limit0:Float64} AND e3 / n3 > {limit0:Float64})" in sql
    assert "(n2 >= {min_requests:UInt64} AND e0 / n0 > {limit1:Float64} AND e2 / n2 > {limit1:Float64})" in sql
    assert "FROM edge_hour" in sql and "FROM edge_minute" in sql  # 6h: whole hours, minutes at the ends


def test_observation_is_the_pair_burning_hardest_against_its_limit() -> None:
    burn = SloBurnRate(objective=0.99)  # budget 1%: 1h/5m above 14.4, 6h/30m above 6
    #               6h: n, e     1h: n, e    30m: n, e    5m: n, e
    both = (*EDGE.columns(), 6000, 600, 1000, 150, 500, 50, 100, 20)  # 1h/5m: 15x of 14.4; 6h/30m: 10x of 6
    [found] = burn.observations([both], SCOPE)
    assert found == Observation(EDGE, found.value, 6.0, 500) and found.value == pytest.approx(10.0)
    few = (*EDGE.columns(), 6000, 600, 1000, 150, 6, 3, 5, 1)  # short windows below min_requests (7)
    assert burn.observations([few], SCOPE) == []


def test_root_cause_failures_and_slowness_downstream_explain_it() -> None:
    assert explainers("slo_burn_rate") == {"error_rate", "timeout_rate", "slo_burn_rate", "latency"}


def test_notification_describes_the_shortest_window() -> None:
    assert SloBurnRate.describe(20.0, 14.4) == "error budget burning 20.0x > 14.4x"
    assert SloBurnRate(objective=0.999).detail_window() == 300
    assert SloBurnRate.samples is Samples.FAILING
    assert SloBurnRate.drilldown is not None and SloBurnRate.drilldown.status == "5xx"
