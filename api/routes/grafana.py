"""Endpoints for Grafana's JSON datasource (the simple-json contract: ``/``, ``/search``, ``/query``).

Point a JSON datasource (simpod-json-datasource, or the older grafana-simple-json) at
``http://HOST:PORT/grafana`` with the bearer token as an ``Authorization`` header.
Targets (docs/api.md):

- ``<metric>`` for the whole mesh, or ``<metric>:<source>-><destination>`` for the edges
  between them (either side may be left empty: ``p99_ms:->reviews``), where metric is one
  of :data:`METRICS`, as time series;
- ``edges`` (optionally ``edges:<source>-><destination>``) as a table of every edge.

Points are whole minutes of the rollup: the step is Grafana's interval rounded up to whole
minutes, and widened further to stay within Grafana's ``maxDataPoints``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientDep, NowDep, ThresholdsDep
from api.params import MAX_POINTS, invalid
from edgewatch.calls import epoch_ms, from_epoch
from edgewatch.edge import EdgeFilter
from edgewatch.edges import EdgePoint, edge_stats, edge_timeseries
from edgewatch.windows import ROLLUP_RETENTION, TimeRange

router = APIRouter(prefix="/grafana", tags=["grafana"])

METRICS = ("requests", "rps", "errors", "error_rate", "timeouts", "timeout_rate", "p50_ms", "p95_ms", "p99_ms")
TABLE_COLUMNS = ("source", "source_namespace", "destination", "destination_namespace", "destination_kind",
                 "requests", "rps", "error_rate", "timeout_rate", "p50_ms", "p95_ms", "p99_ms", "health")
_TEXT_COLUMNS = frozenset({"source", "source_namespace", "destination", "destination_namespace", "destination_kind",
                           "health"})


class GrafanaRange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime


class GrafanaTarget(BaseModel):
    target: str = ""
    refId: str | None = None  # noqa: N815 (Grafana's spelling)
    type: Literal["timeserie", "timeseries", "table"] = "timeserie"


class GrafanaQuery(BaseModel):
    range: GrafanaRange
    intervalMs: int = 60_000  # noqa: N815
    maxDataPoints: int | None = None  # noqa: N815
    targets: list[GrafanaTarget]


class GrafanaSearch(BaseModel):
    target: str = ""


def _parse_target(text: str) -> tuple[str, EdgeFilter]:
    name, _, edge = text.strip().partition(":")
    source, arrow, destination = edge.partition("->")
    if name not in (*METRICS, "edges") or (edge and not arrow):
        message = (f"target {text!r}: use one of {', '.join(METRICS)} or edges, optionally followed by "
                   ":SOURCE->DESTINATION (either side may be empty)")
        raise invalid("target", text, message, where="body")
    return name, EdgeFilter(sources=(source.strip(),) if source.strip() else (),
                            destinations=(destination.strip(),) if destination.strip() else ())


def _span(query: GrafanaQuery, now: datetime) -> tuple[TimeRange, int]:
    """Whole-minute steps covering the range, at most ``maxDataPoints`` (and MAX_POINTS) of them."""
    start = max(query.range.from_, now - ROLLUP_RETENTION)
    if start >= query.range.to:
        raise invalid("range", query.range.model_dump(mode="json", by_alias=True), "range: 'from' must be before 'to'",
                      where="body")
    seconds = (query.range.to - start).total_seconds()
    points = min(query.maxDataPoints or MAX_POINTS, MAX_POINTS)
    step = max(60, math.ceil(query.intervalMs / 60_000) * 60, math.ceil(seconds / points / 60) * 60)
    first = int(start.timestamp()) // step * step
    last = math.ceil(query.range.to.timestamp() / step) * step
    return TimeRange(from_epoch(first), from_epoch(last)), step


def _datapoints(points: list[EdgePoint], metric: str) -> list[list[float | int | None]]:
    return [[getattr(p, metric), epoch_ms(p.t)] for p in points]


@router.get("/", summary="Grafana's connection test")
def test_connection() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/search", summary="Grafana: the targets this datasource serves")
def search(body: GrafanaSearch) -> list[str]:
    return [name for name in (*METRICS, "edges") if body.target.lower() in name]


@router.post("/query", summary="Grafana: time series and tables for the panel's targets")
def query(
    body: GrafanaQuery, client: ClientDep, thresholds: ThresholdsDep, now: NowDep
) -> list[dict[str, Any]]:
    span, step = _span(body, now)
    answers: list[dict[str, Any]] = []
    for target in body.targets:
        name, filters = _parse_target(target.target)
        if name == "edges" or target.type == "table":
            edges = edge_stats(client, span, now, filters, thresholds)
            rows = [[getattr(edge, column) for column in TABLE_COLUMNS] for edge in edges]
            columns = [{"text": column, "type": "string" if column in _TEXT_COLUMNS else "number"}
                       for column in TABLE_COLUMNS]
            answers.append({"type": "table", "refId": target.refId, "columns": columns, "rows": rows})
        else:
            points = edge_timeseries(client, span, step, now, filters)
            answers.append({"target": target.target, "refId": target.refId, "datapoints": _datapoints(points, name)})
    return answers

