"""The one seam between conditions and the rollup tables: its SQL's shape and parameters. Pure;
tests/alerts/test_queries.py runs it against the engine."""

from __future__ import annotations

from alerts.conditions.rollup import edge_sums, nested_edge_sums
from edgewatch.edge import KEYS
from tests.alerts.conditions.scope import SCOPE, SCOPE_PARAMS


def test_edge_sums_groups_the_window_by_edge_with_the_scope_and_a_named_window() -> None:
    sql, params = edge_sums("sum(requests) AS n", 7200.0, SCOPE, having="n > 1", name="lookback")
    assert params == {**SCOPE_PARAMS, "lookback": 7200}
    assert sql.startswith(f"SELECT {KEYS}, sum(requests) AS n")
    assert "toIntervalSecond({lookback:UInt32})" in sql and "AND match(source_workload" in sql
    assert sql.endswith(f"GROUP BY {KEYS} HAVING n > 1")
    assert "HAVING" not in edge_sums("sum(requests) AS n", 60, SCOPE)[0]


def test_nested_edge_sums_name_each_window_and_column() -> None:
    sql, params = nested_edge_sums({"n": "requests", "e": "errors"}, [300, 3600], SCOPE, having="n0 > 0")
    assert params == {**SCOPE_PARAMS, "w0": 300, "w1": 3600}
    sums = [part.split(" AS ")[1] for part in sql.split("sumIf(")[1:]]
    assert [name.split(",")[0].split()[0] for name in sums] == ["n0", "e0", "n1", "e1"]
    # whole hours from edge_hour as far back as the longest window (w1) reaches
    assert "hour >= toStartOfHour(toStartOfMinute(t - toIntervalSecond({w1:UInt32})))" in sql
    assert sql.endswith("HAVING n0 > 0")
