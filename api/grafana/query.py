"""``POST /grafana/query``: each target answered by its metric's shape (:mod:`api.grafana.catalogue`).

A target names its metric in ``target`` and chooses edges with its ``payload``; the dashboard's
ad-hoc ``filters`` apply to every target whose metric is about edges. Hidden targets and
placeholders without a metric are skipped. Targets in the retired simple-json syntax are
answered by :mod:`api.grafana.legacy`. Raises GrafanaError (400) for a target it cannot answer.
"""

from __future__ import annotations

import json

from api.grafana import legacy
from api.grafana.answers import (
    Reader,
    alerts_answer,
    annotations_answer,
    breakdown_answer,
    dead_letters_answer,
    edge_series_answer,
    edges_answer,
    graph_answer,
)
from api.grafana.catalogue import metric
from api.grafana.frames import Json
from api.grafana.protocol import GrafanaError, PayloadValue, QueryRequest, Target
from api.grafana.selection import edge_selection
from api.grafana.spans import minute_span, series_span


def payload_of(target: Target) -> dict[str, PayloadValue]:
    """The target's payload as an object (the code editor may send it as JSON text)."""
    if isinstance(target.payload, dict):
        return target.payload
    if not target.payload.strip():
        return {}
    try:
        parsed = json.loads(target.payload)
    except ValueError as error:
        message = f"target {target.refId}: payload is not JSON ({error})"
        raise GrafanaError(message, "payload", target.payload) from error
    if not isinstance(parsed, dict):
        raise GrafanaError(f"target {target.refId}: payload must be a JSON object", "payload", target.payload)
    return parsed


def answer_query(reader: Reader, body: QueryRequest) -> list[Json]:
    """Every target's answer, in the order of the targets."""
    answers: list[Json] = []
    for target in body.targets:
        if not target.hide and target.target is not None and target.target.strip():
            answers += answer_target(reader, body, target)
    return answers


def answer_target(reader: Reader, body: QueryRequest, target: Target) -> list[Json]:
    payload = payload_of(target)
    old = legacy.is_legacy(target)
    if old:
        found, from_target = legacy.parse(target.target or "")
        payload = {**from_target, **payload}
    else:
        found = metric(target.target)
    if found.shape == "dead_letters":
        edge_selection(payload, [], found.payloads)  # refuses payload fields: dead letters have no edge
        span, step = series_span(body.range, body.intervalMs, body.maxDataPoints, reader.now)
        return dead_letters_answer(reader, target.refId, found, span, step)
    selection = edge_selection(payload, body.filters, found.payloads)
    if old and (target.type == "table" or found.shape == "edges"):
        return [legacy.edge_table(reader, target, selection, minute_span(body.range, reader.now))]
    if found.shape in ("series", "breakdown"):
        span, step = series_span(body.range, body.intervalMs, body.maxDataPoints, reader.now)
        if old and found.shape == "series":
            return [legacy.total_series(reader, target, selection, found, span, step)]
        if found.shape == "series":
            return edge_series_answer(reader, target.refId, found, selection, span, step)
        return breakdown_answer(reader, target.refId, found, selection, span, step)
    if found.shape == "edges":
        return edges_answer(reader, target.refId, selection, minute_span(body.range, reader.now))
    if found.shape == "graph":
        return graph_answer(reader, target.refId, selection, minute_span(body.range, reader.now))
    if found.shape == "alerts":
        return alerts_answer(reader, target.refId, selection)
    minute_span(body.range, reader.now)  # the same range checks as every other answer
    return annotations_answer(reader, target.refId, selection, payload, body.range.from_, body.range.to)
