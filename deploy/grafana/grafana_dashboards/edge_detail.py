"""The "Edge detail" dashboard: one caller -> destination over time, its failing requests and the
alerts about it. The variables come from the edges seen in the range."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, table
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, VariableRefresh, VariableSort

from api.nodegraph import HEALTH_COLORS
from edgewatch.health import Health
from grafana_dashboards.panels import at, series_panel
from grafana_dashboards.queries import INFINITY, JSON, Annotation, api_get, metric

UID = "edgewatch-edge-detail"
EDGE = {"source": "$source", "destination": "$destination"}
FAILED_COLUMNS = [("time", "time", "timestamp"), ("response_code", "code", "number"),
                  ("response_flags", "flags", "string"), ("duration_ms", "duration_ms", "number"),
                  ("method", "method", "string"), ("path", "path", "string"), ("reporter", "reporter", "string"),
                  ("request_id", "request_id", "string"), ("trace_id", "trace_id", "string")]


def variable(name: str, label: str, query: str, json: bool) -> dashboard.QueryVariable:
    return (dashboard.QueryVariable(name).label(label).datasource(JSON)
            .query({"query": query, "format": "json" if json else "string", "refId": name})
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC))


def build() -> dashboard.Dashboard:
    failing = (
        table.Panel().title("Recent failing requests").grid_pos(at(0, 24, 24, 9))
        .description("GET /api/v1/requests (Infinity datasource): the edge's latest calls with a server error or no "
                     "response, newest first, one report per call. The raw table keeps 7 days.")
        .with_target(api_get("/api/v1/requests", "requests", FAILED_COLUMNS, window="${__range_s}s",
                             end="${__to:date:iso}", source="$source", destination="$destination", status="error",
                             limit="100"))
        .datasource(INFINITY)
    )
    return (
        dashboard.Dashboard("Edge detail").uid(UID).tags(["edgewatch"]).refresh("30s").time("now-1h", "now")
        .description("Edgewatch: one edge, caller workload -> service or external host.")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(variable("source", "Source", "source", json=False))
        .with_variable(variable("destination", "Destination", '{"target": "destination", "source": $source}',
                                json=True))
        .annotation(Annotation("Alerts firing", HEALTH_COLORS[Health.FAILING], "firing", **EDGE))
        .annotation(Annotation("Alerts resolved", HEALTH_COLORS[Health.HEALTHY], "resolved", **EDGE))
        .with_panel(series_panel("Requests per second", "Calls per second, per step.", "reqps", at(0, 0, 8, 8),
                                 metric("rps", **EDGE)))
        .with_panel(series_panel("Server errors and timeouts", "Calls per step: 5xx or no response; timeouts are "
                                 "flag UT or 504.", "short", at(8, 0, 8, 8), metric("errors", "A", **EDGE),
                                 metric("timeouts", "B", **EDGE)))
        .with_panel(series_panel("Latency p50, p95, p99", "From the latency histograms, within 2%.", "ms",
                                 at(16, 0, 8, 8), metric("p50_ms", "A", **EDGE), metric("p95_ms", "B", **EDGE),
                                 metric("p99_ms", "C", **EDGE)))
        .with_panel(series_panel("Status codes", "Calls per response code (0: no response), per step.", "short",
                                 at(0, 8, 12, 8), metric("status_codes", **EDGE), bars=True))
        .with_panel(series_panel("Response flags", "Calls per Envoy response-flags value (UT: upstream timeout, "
                                 "UF: connection failure, ...), per step.", "short", at(12, 8, 12, 8),
                                 metric("response_flags", **EDGE), bars=True))
        .with_panel(series_panel("Error and timeout rate", "Fractions of the edge's calls, per step.",
                                 "percentunit", at(0, 16, 24, 8), metric("error_rate", "A", **EDGE),
                                 metric("timeout_rate", "B", **EDGE)))
        .with_panel(failing)
    )
