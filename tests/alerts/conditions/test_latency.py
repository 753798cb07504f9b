"""latency as a class: its fields, query parameters, root-cause relations and Slack texts. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.conditions.base import Samples
from alerts.conditions.latency import Latency
from alerts.conditions.window import rule_window
from tests.alerts.conditions.scope import NOW, SCOPE, SCOPE_PARAMS, explainers, planned


def test_fields_and_defaults() -> None:
    latency = Latency(above_ms=1000)
    assert (latency.percentile, latency.window) == ("p99", 300)
    with pytest.raises(ValidationError, match="'p50', 'p95' or 'p99'"):
        Latency.model_validate({"percentile": "p42", "above_ms": 1})


@pytest.mark.parametrize(("percentile", "index"), [("p50", 1), ("p95", 2), ("p99", 3)])
def test_query_picks_the_percentile_of_the_latency_histogram(percentile: str, index: int) -> None:
    sql, params = Latency.model_validate({"percentile": percentile, "above_ms": 250, "window": "1m"}).query(SCOPE)
    other, windows = planned(params)
    assert other == {**SCOPE_PARAMS, "above": 250, "min_requests": 7, "index": index}
    assert windows == {"window": rule_window(NOW, 60)}
    assert "mapKeys(latency)" in sql and "[{index:UInt8}] AS value" in sql


def test_root_cause_slowness_and_timeouts_downstream_explain_it() -> None:
    assert explainers("latency") == {"latency", "timeout_headroom", "timeout_rate"}


def test_notification() -> None:
    assert Latency.describe(1234.0, 1000.0) == "latency 1,234 ms > 1,000 ms"
    assert Latency(above_ms=1, window=600).detail_window() == 600
    assert Latency.samples is Samples.SLOWEST
    assert Latency.drilldown is None
