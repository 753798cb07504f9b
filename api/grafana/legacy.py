"""The retired simple-json contract, still answered: targets ``<metric>[:SOURCE->DESTINATION]``
and the ``type`` field (``timeserie`` | ``table``) that simple-json and simPod before v0.6 send.

A legacy target of a time-series metric answers one series summed over the matching edges,
named by the target; the edge table (or any target of type ``table``) answers the simple-json
table. Other metrics in the legacy syntax are answered as the current protocol answers them,
with the source and destination of the target as their payload.
"""

from __future__ import annotations

from api.grafana.answers import Reader
from api.grafana.catalogue import Metric, metric
from api.grafana.frames import Json, series, table
from api.grafana.protocol import GrafanaError, PayloadValue, Target
from api.grafana.selection import EdgeSelection
from edgewatch.calls import epoch_ms
from edgewatch.edges import edge_timeseries
from edgewatch.windows import TimeRange

TABLE_COLUMNS = ("source", "source_namespace", "destination", "destination_namespace", "destination_kind",
                 "requests", "rps", "error_rate", "timeout_rate", "p50_ms", "p95_ms", "p99_ms", "health")
_TEXT_COLUMNS = frozenset({"source", "source_namespace", "destination", "destination_namespace", "destination_kind",
                           "health"})


def is_legacy(target: Target) -> bool:
    return target.type is not None or ":" in (target.target or "")


def parse(text: str) -> tuple[Metric, dict[str, PayloadValue]]:
    """``p99_ms:->reviews`` -> (p99_ms, {"destination": "reviews"}). Raises GrafanaError."""
    name, _, edge = text.strip().partition(":")
    source, arrow, destination = edge.partition("->")
    if edge and not arrow:
        raise GrafanaError(f"target {text!r}: after the metric, write :SOURCE->DESTINATION (either side may be "
                           "empty)", "target", text)
    payload: dict[str, PayloadValue] = {}
    if source.strip():
        payload["source"] = source.strip()
    if destination.strip():
        payload["destination"] = destination.strip()
    return metric(name), payload


def total_series(reader: Reader, target: Target, selection: EdgeSelection, found: Metric, span: TimeRange,
                 step: int) -> Json:
    """The matching edges' ``found.field`` summed per step, named by the target as sent."""
    points = edge_timeseries(reader.client, span, step, reader.now, selection.sql)
    return series(target.target or "", target.refId, [[getattr(p, found.field), epoch_ms(p.t)] for p in points],
                  found.unit)


def edge_table(reader: Reader, target: Target, selection: EdgeSelection, span: TimeRange) -> Json:
    edges = reader.edges(span, selection)
    rows = [[getattr(edge, column) for column in TABLE_COLUMNS] for edge in edges]
    columns = [(column, "string" if column in _TEXT_COLUMNS else "number") for column in TABLE_COLUMNS]
    return table(target.refId, columns, rows)
