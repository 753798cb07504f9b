"""Payloads, ad-hoc filters and Grafana's range as what Edgewatch reads: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.grafana.catalogue import EDGE_FIELDS
from api.grafana.protocol import AdHocFilter, GrafanaError, GrafanaRange
from api.grafana.selection import edge_selection, payload_values
from api.grafana.spans import minute_span, series_span, steps
from edgewatch.edge import Edge

HOST = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"
STAFF = Edge("staff-service", "default", HOST, "", "external")
GATEWAY = Edge("api-gateway", "default", "fleetman-staff-service", "default", "service")
WEBAPP = Edge("webapp", "default", "fleetman-api-gateway", "default", "service")
NOW = datetime(2026, 11, 26, 10, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(("value", "names"), [
    ("webapp", ("webapp",)),
    (["webapp", "api-gateway", "webapp"], ("webapp", "api-gateway")),
    ("2oujlno5e4\\.execute-api\\.us-east-1\\.amazonaws\\.com", (HOST,)),  # Grafana's regex format
    ("(webapp|api\\-gateway)", ("webapp", "api-gateway")),  # a multi-value variable in the regex format
    ("", ()), (None, ()), ([], ()), ("$__all", ()), (".*", ()), (["*", "webapp"], ()),
])
def test_payload_values_undo_grafanas_regex_format(value: object, names: tuple[str, ...]) -> None:
    assert payload_values("source", value) == names  # type: ignore[arg-type]


def test_payload_values_refuse_objects() -> None:
    with pytest.raises(GrafanaError, match="payload source: expected a string or a list of strings"):
        payload_values("source", {"a": 1})  # type: ignore[arg-type]


def test_payload_chooses_edges_in_sql_and_exactly() -> None:
    selection = edge_selection({"source": ["staff-service", "api-gateway"], "kind": "external"}, [], EDGE_FIELDS)
    assert selection.sql.sources == ("staff-service", "api-gateway") and selection.sql.kind == "external"
    assert [selection.matches(e) for e in (STAFF, GATEWAY, WEBAPP)] == [True, False, False]


def test_namespace_matches_either_end() -> None:
    selection = edge_selection({"namespace": "default"}, [], EDGE_FIELDS)
    assert selection.sql.namespace == "default" and selection.matches(STAFF)  # the host has no namespace
    assert not edge_selection({"namespace": "other"}, [], EDGE_FIELDS).matches(STAFF)


@pytest.mark.parametrize(("item", "kept"), [
    (AdHocFilter(key="source", operator="=", value="webapp"), [WEBAPP]),
    (AdHocFilter(key="source", operator="!=", value="webapp"), [STAFF, GATEWAY]),
    (AdHocFilter(key="destination", operator="=~", value="fleetman-.*"), [GATEWAY, WEBAPP]),
    (AdHocFilter(key="destination", operator="!~", value="fleetman-.*"), [STAFF]),
    (AdHocFilter(key="destination", operator="=~", value="fleetman"), []),  # anchored, as Grafana's are
    (AdHocFilter(key="kind", operator="=|", values=["external", "unknown"]), [STAFF]),
    (AdHocFilter(key="source", operator="!=|", values=["webapp", "api-gateway"]), [STAFF]),
    (AdHocFilter(key="destination_namespace", operator="=", value=""), [STAFF]),
])
def test_ad_hoc_filters(item: AdHocFilter, kept: list[Edge]) -> None:
    selection = edge_selection({}, [item], EDGE_FIELDS)
    assert [e for e in (STAFF, GATEWAY, WEBAPP) if selection.matches(e)] == kept


def test_payload_and_filters_both_apply() -> None:
    selection = edge_selection({"source": ["webapp", "api-gateway"]},
                               [AdHocFilter(key="source", operator="!=", value="webapp")], EDGE_FIELDS)
    assert [e for e in (STAFF, GATEWAY, WEBAPP) if selection.matches(e)] == [GATEWAY]


@pytest.mark.parametrize(("payload", "filters", "message"), [
    ({"sourc": "webapp"}, [], "this metric takes source, destination, namespace, kind, not sourc"),
    ({}, [AdHocFilter(key="pod", value="x")], "ad-hoc filter on 'pod': filter on one of source, destination"),
    ({}, [AdHocFilter(key="source", operator=">", value="x")], "use one of the operators = != =~ !~"),
    ({}, [AdHocFilter(key="source", operator="=~", value="(")], "not a regular expression"),
])
def test_what_cannot_be_answered_says_why(payload: dict[str, str], filters: list[AdHocFilter], message: str) -> None:
    with pytest.raises(GrafanaError, match=message):
        edge_selection(payload, filters, EDGE_FIELDS)  # type: ignore[arg-type]


def grafana_range(start: datetime, end: datetime) -> GrafanaRange:
    return GrafanaRange.model_validate({"from": start.isoformat(), "to": end.isoformat()})


def test_series_steps_are_whole_minutes_within_max_data_points() -> None:
    six_hours = grafana_range(NOW - timedelta(hours=6), NOW)
    span, step = series_span(six_hours, interval_ms=15_000, max_points=None, now=NOW)
    assert step == 60 and span.start.timestamp() % 60 == 0 and span.end == datetime(2026, 11, 26, 10, 1, tzinfo=UTC)
    span, step = series_span(six_hours, interval_ms=15_000, max_points=100, now=NOW)
    assert step == 240 and len(steps(span, step)) <= 100  # 6 h / 100 points: 3.6 min, up to whole minutes
    span, step = series_span(grafana_range(NOW - timedelta(minutes=6), NOW), 15_000, max_points=2, now=NOW)
    assert len(steps(span, step)) == 2 and step == 360  # 180 s steps would need 3 once aligned to the epoch
    _, step = series_span(six_hours, interval_ms=300_000, max_points=None, now=NOW)
    assert step == 300  # Grafana's interval, when coarser


def test_tables_cover_the_minutes_the_range_touches() -> None:
    span = minute_span(grafana_range(NOW - timedelta(minutes=5), NOW), NOW)
    assert (span.start, span.end) == (NOW.replace(minute=55, hour=9, second=0), NOW.replace(minute=1, second=0))
    ten = NOW.replace(second=0)
    whole = minute_span(grafana_range(ten - timedelta(minutes=10), ten), NOW)
    assert (whole.end - whole.start) == timedelta(minutes=10)


def test_ranges_that_cannot_be_read_are_refused() -> None:
    with pytest.raises(GrafanaError, match="'from' .* must be before 'to'"):
        minute_span(grafana_range(NOW, NOW - timedelta(minutes=1)), NOW)
    with pytest.raises(GrafanaError, match="ends before the 90 days the rollup keeps"):
        series_span(grafana_range(NOW - timedelta(days=200), NOW - timedelta(days=100)), 60_000, None, NOW)
