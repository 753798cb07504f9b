"""The one seam between conditions and the windows: rule windows, the planner's pieces, the names.
Pure; tests/alerts/test_queries.py runs the queries against the engine."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.conditions.window import edge_sums, nested_edge_sums, rule_window
from edgewatch.edge import KEYS
from tests.alerts.conditions.scope import NOW, SCOPE, SCOPE_PARAMS


def test_a_rule_window_holds_the_current_minute() -> None:
    span = rule_window(NOW, 300)  # NOW is 12:00:30
    assert (span.start, span.end) == (datetime(2026, 11, 26, 11, 55, tzinfo=UTC), datetime(2026, 11, 26, 12, 1,
                                                                                            tzinfo=UTC))
    on_the_minute = rule_window(datetime(2026, 11, 26, 12, 0, tzinfo=UTC), 60)
    assert on_the_minute.start == datetime(2026, 11, 26, 11, 59, tzinfo=UTC)
    assert on_the_minute.end == datetime(2026, 11, 26, 12, 1, tzinfo=UTC)


def test_edge_sums_groups_the_window_by_edge_with_the_scope_and_a_named_window() -> None:
    sql, params = edge_sums("sum(requests) AS n", ("requests",), 7200.0, SCOPE, having="n > 1", name="lookback")
    assert {k: v for k, v in params.items() if k in SCOPE_PARAMS} == {"source_re": SCOPE_PARAMS["source_re"]}
    assert sql.startswith(f"SELECT {KEYS}, sum(requests) AS n")
    assert "AND match(source_workload" in sql
    assert sql.endswith(f"GROUP BY {KEYS} HAVING n > 1")
    assert "HAVING" not in edge_sums("sum(requests) AS n", ("requests",), 60, SCOPE)[0]
    # the planner's pieces: 2h01m from 10:00 is two hours (10:00-12:00) and the current minute
    assert "FROM edge_hour" in sql and "FROM edge_minute" in sql
    assert all(k.startswith("lookback_") for k in params if k not in SCOPE_PARAMS)


def test_a_measure_missing_from_the_10_minute_rollup_reads_minutes_and_hours() -> None:
    sql, _ = edge_sums("sum(requests) AS n", ("requests", "latency_ok"), 1800, SCOPE)
    assert "edge_10min" not in sql and "edge_minute" in sql
    sql, _ = edge_sums("sum(requests) AS n", ("requests", "latency"), 1800, SCOPE)
    assert "edge_10min" in sql


def test_nested_edge_sums_name_each_window_and_column() -> None:
    sql, params = nested_edge_sums({"n": "requests", "e": "errors"}, [300, 3600], SCOPE, having="n0 > 0")
    assert params["source_re"] == SCOPE_PARAMS["source_re"]
    sums = [part.split(" AS ")[1] for part in sql.split("sumIf(")[1:]]
    assert [name.split(",")[0].split()[0] for name in sums] == ["n0", "e0", "n1", "e1"]
    assert "w0_r0a" in params and "w1_r0a" in params  # each window planned on its own
    assert sql.rstrip().endswith("HAVING n0 > 0")
