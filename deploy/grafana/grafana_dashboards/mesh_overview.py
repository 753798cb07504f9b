"""The "Mesh overview" dashboard: the worst edges, error rate and p99 per edge, the service graph,
firing alerts, dead letters; and the rollup read straight from ClickHouse."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, table, timeseries
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DynamicConfigValue

from api.nodegraph import HEALTH_COLORS
from edgewatch.health import Health
from grafana_dashboards.clickhouse import rollup_edges_sql
from grafana_dashboards.panels import at, health_table, series_panel, service_graph
from grafana_dashboards.queries import CLICKHOUSE, JSON, Annotation, metric, sql

UID = "edgewatch-mesh-overview"
EDGE_DETAIL_LINK = ("/d/edgewatch-edge-detail/edge-detail?var-source=${__data.fields.source}"
                    "&var-destination=${__data.fields.destination}&${__url_time_range}")
NAMESPACES = ("source_namespace", "destination_namespace", "client_errors", "service_entry", "response_flags")


def build() -> dashboard.Dashboard:
    worst = health_table(
        "Worst edges", "Every caller -> service or host with traffic in the range, worst first (health, then error "
        "rate). Click a row for its edge detail.", at(0, 0, 24, 9), metric("edges"), hidden=NAMESPACES,
    ).override_by_name("source", [DynamicConfigValue("links", [{"title": "Edge detail", "url": EDGE_DETAIL_LINK}])])
    firing: table.Panel = (
        table.Panel().title("Firing alerts").grid_pos(at(16, 18, 8, 14)).datasource(JSON)
        .with_target(metric("firing_alerts"))
        .description("The alerts firing at the last evaluation; root_cause names the alert a symptom follows from.")
        .override_by_name("severity", [DynamicConfigValue("custom.cellOptions", {"type": "color-background"}),
                                       DynamicConfigValue("color", {"mode": "fixed",
                                                                    "fixedColor": HEALTH_COLORS[Health.FAILING]})])
    )
    dead: timeseries.Panel = series_panel(
        "Dead letters", "Records the decoder refused, per kind of reason (GET /api/v1/... has them one by one in "
        "the dead_letters table).", "short", at(0, 32, 24, 7), metric("dead_letters"), bars=True)
    rollup = table.Panel().title("Edges from the rollup (ClickHouse datasource)").grid_pos(at(0, 40, 24, 8)) \
        .description("The same numbers read from edge_minute by the ClickHouse datasource with the read-only user: "
                     "its states merged with sum, sumMap and min, latency percentiles from the merged histograms. "
                     "The last minutes lack the callee-only calls not yet settled.") \
        .with_target(sql(rollup_edges_sql())).datasource(CLICKHOUSE) \
        .override_by_name("latency_ms", [DynamicConfigValue("custom.hidden", True)])
    return (
        dashboard.Dashboard("Mesh overview").uid(UID).tags(["edgewatch"]).refresh("30s").time("now-1h", "now")
        .description("Edgewatch: every edge of the mesh, its health and the alerts about it.")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(dashboard.AdHocVariable("filters").label("Filters").datasource(JSON))
        .annotation(Annotation("Alerts firing", HEALTH_COLORS[Health.FAILING], "firing"))
        .annotation(Annotation("Alerts resolved", HEALTH_COLORS[Health.HEALTHY], "resolved"))
        .with_panel(worst)
        .with_panel(series_panel("Error rate per edge", "Server errors (5xx, no response) over requests, per step.",
                                 "percentunit", at(0, 9, 12, 9), metric("error_rate")))
        .with_panel(series_panel("p99 latency per edge", "From the latency histograms, within 2% (docs/edges.md).",
                                 "ms", at(12, 9, 12, 9), metric("p99_ms")))
        .with_panel(service_graph(
            "Service graph", "Workloads, Services and external hosts (cloud); edges carry requests/s and error rate, "
            "dotted grey links join a Service to the workloads serving it, dashed edges leave the mesh.",
            at(0, 18, 16, 14), metric("graph")))
        .with_panel(firing)
        .with_panel(dead)
        .with_row(dashboard.Row("Straight from ClickHouse").grid_pos(at(0, 39, 24, 1)))
        .with_panel(rollup)
    )
