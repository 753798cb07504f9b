"""Panels shared by the dashboards, on the foundation SDK's builders: series per edge, tables
coloured by health, the node graph. Grid positions are given by each dashboard."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import nodegraph, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle, LegendDisplayMode, LegendPlacement, StackingMode
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue, GridPos

from api.nodegraph import HEALTH_COLORS
from grafana_dashboards.queries import Query

HEALTH_MAPPING = {"type": "value", "options": {
    str(health): {"color": color, "index": i} for i, (health, color) in enumerate(HEALTH_COLORS.items())}}


def at(x: int, y: int, w: int, h: int) -> GridPos:
    return GridPos(x=x, y=y, w=w, h=h)


def series_panel(title: str, description: str, unit: str, place: GridPos, *queries: Query,
                 bars: bool = False) -> timeseries.Panel:
    """A time series panel; ``bars`` stacks the series as bars (counts per step)."""
    panel = (
        timeseries.Panel().title(title).description(description).unit(unit).grid_pos(place)
        .fill_opacity(70 if bars else 10).span_nulls(True)
        .legend(common_builders.VizLegendOptions().display_mode(LegendDisplayMode.TABLE)
                .placement(LegendPlacement.RIGHT).show_legend(True).calcs(["max", "mean"]))
    )
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS).stacking(common_builders.StackingConfig().mode(
            StackingMode.NORMAL))
    for query in queries:
        panel = panel.with_target(query)
    return panel.datasource(queries[0].datasource)


def health_table(title: str, description: str, place: GridPos, query: Query, hidden: tuple[str, ...] = ()
                 ) -> table.Panel:
    """A table whose ``health`` column is coloured by health, with ``hidden`` columns left out."""
    panel = (
        table.Panel().title(title).description(description).grid_pos(place).with_target(query)
        .datasource(query.datasource).override_by_name("health", [DynamicConfigValue("mappings", [HEALTH_MAPPING]),
                                     DynamicConfigValue("custom.cellOptions", {"type": "color-text"})])
    )
    for name in hidden:
        panel = panel.override_by_name(name, [DynamicConfigValue("custom.hidden", True)])
    return panel


def service_graph(title: str, description: str, place: GridPos, query: Query) -> nodegraph.Panel:
    return (nodegraph.Panel().title(title).description(description).grid_pos(place).with_target(query)
            .datasource(query.datasource))
