"""The answer to one target of ``/grafana/query``, by the shape of its metric (:mod:`api.grafana.catalogue`).

Every read goes through the core: edge numbers and series through the window planner
(edgewatch/edges.py), which workloads serve a Service through edgewatch/services.py, alerts
through alerts/store.py. Each answer reads the edges its selection narrows to in SQL and keeps
those the selection matches (:class:`~api.grafana.selection.EdgeSelection`). Raises
clickhouse_connect's errors (the app answers 503).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from alerts import store
from alerts.model import EventKind
from alerts.silences import load_silences, silenced_ids
from api.grafana.catalogue import DEFAULT_EVENTS, EVENTS, Metric
from api.grafana.frames import Json, field, frame, model_frame, series
from api.grafana.protocol import GrafanaError, PayloadValue
from api.grafana.selection import EdgeSelection, payload_values
from api.grafana.spans import steps
from api.graph import build_graph
from api.nodegraph import EDGE_CONFIG, NODE_CONFIG, EdgeRow, NodeRow, node_graph
from edgewatch.calls import epoch_ms
from edgewatch.dead_letters import dead_letter_counts
from edgewatch.edge import Edge
from edgewatch.edges import EdgeStats, breakdown_series, edge_series, edge_stats
from edgewatch.health import HealthThresholds
from edgewatch.mesh.config import MeshConfig
from edgewatch.services import serving_workloads
from edgewatch.windows import TimeRange

NODE_GRAPH = {"preferredVisualisationType": "nodeGraph"}
NO_FLAGS = "-"


@dataclass(frozen=True)
class Reader:
    """What answering needs: the engine, the time of the request, health thresholds, the mesh's config."""

    client: Client
    now: datetime
    thresholds: HealthThresholds
    mesh: MeshConfig

    def edges(self, span: TimeRange, selection: EdgeSelection) -> list[EdgeStats]:
        """The selected edges' numbers over ``span``, worst first."""
        found = edge_stats(self.client, span, self.now, selection.sql, self.thresholds, mesh=self.mesh)
        return [edge for edge in found if selection.matches(edge.edge)]


def _tags(edge: Edge) -> dict[str, str]:
    return {"source": edge.source, "source_namespace": edge.source_namespace, "destination": edge.destination,
            "destination_namespace": edge.destination_namespace, "kind": edge.destination_kind}


def edge_series_answer(reader: Reader, ref_id: str, metric: Metric, selection: EdgeSelection, span: TimeRange,
                       step: int) -> list[Json]:
    """One series per selected edge with traffic in ``span``: ``metric.field`` per step."""
    found = edge_series(reader.client, span, step, reader.now, selection.sql)
    return [
        series(f"{edge.label} {metric.value}", ref_id, [[getattr(p, metric.field), epoch_ms(p.t)] for p in points],
               metric.unit, _tags(edge))
        for edge, points in found.items() if selection.matches(edge)
    ]


def _counted(ref_id: str, unit: str | None, counts: dict[str, dict[datetime, int]], span: TimeRange, step: int
             ) -> list[Json]:
    """One series per name of ``counts`` (name -> step -> count), every step present."""
    moments = steps(span, step)
    return [series(name, ref_id, [[by_step.get(t, 0), epoch_ms(t)] for t in moments], unit)
            for name, by_step in sorted(counts.items())]


def breakdown_answer(reader: Reader, ref_id: str, metric: Metric, selection: EdgeSelection, span: TimeRange,
                     step: int) -> list[Json]:
    """One series per status code (or response flags value) over the selected edges."""
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for edge, by_step in breakdown_series(reader.client, span, step, metric.field, selection.sql).items():
        if selection.matches(edge):
            for t, values in by_step.items():
                for value, n in values.items():
                    counts["no flags" if value == NO_FLAGS and metric.field == "response_flags" else value][t] += n
    return _counted(ref_id, metric.unit, counts, span, step)


def dead_letters_answer(reader: Reader, ref_id: str, metric: Metric, span: TimeRange, step: int) -> list[Json]:
    counts: dict[str, dict[datetime, int]] = defaultdict(dict)
    for count in dead_letter_counts(reader.client, span, step):
        counts[count.reason][count.t] = count.count
    return _counted(ref_id, metric.unit, counts, span, step)


EDGE_TABLE: tuple[tuple[str, str, str | None], ...] = (
    ("source", "string", None), ("source_namespace", "string", None), ("destination", "string", None),
    ("destination_namespace", "string", None), ("destination_kind", "string", None), ("health", "string", None),
    ("requests", "number", "short"), ("rps", "number", "reqps"), ("errors", "number", "short"),
    ("error_rate", "number", "percentunit"), ("client_errors", "number", "short"),
    ("timeouts", "number", "short"), ("timeout_rate", "number", "percentunit"),
    ("p50_ms", "number", "ms"), ("p95_ms", "number", "ms"), ("p99_ms", "number", "ms"),
    ("timeout_ms", "number", "ms"), ("service_entry", "string", None),
)
"""The edge table's fields: name (an EdgeStats attribute), type, unit."""


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(counts.items(), key=lambda item: -item[1]))


def edges_answer(reader: Reader, ref_id: str, selection: EdgeSelection, span: TimeRange) -> list[Json]:
    """The edge table: a frame of every selected edge's numbers over ``span``, worst first."""
    edges = reader.edges(span, selection)
    fields = [field(name, kind, [getattr(edge, name) for edge in edges], {"unit": unit} if unit else None)
              for name, kind, unit in EDGE_TABLE]
    fields += [field("status_codes", "string", [_codes(edge.status_codes) for edge in edges]),
               field("response_flags", "string", [_codes(edge.response_flags) for edge in edges])]
    return [frame("edges", ref_id, fields)]


def graph_answer(reader: Reader, ref_id: str, selection: EdgeSelection, span: TimeRange) -> list[Json]:
    """The node graph of the selected edges: frames ``nodes`` and ``edges`` (Grafana's Node Graph fields)."""
    graph = node_graph(build_graph(reader.edges(span, selection), serving_workloads(reader.client, span.start),
                                   reader.thresholds))
    return [model_frame("nodes", ref_id, NodeRow, graph.nodes, NODE_CONFIG, NODE_GRAPH),
            model_frame("edges", ref_id, EdgeRow, graph.edges, EDGE_CONFIG, NODE_GRAPH)]


def alerts_answer(reader: Reader, ref_id: str, selection: EdgeSelection) -> list[Json]:
    """The alerts firing at the last evaluation, on the selected edges."""
    alerts = store.load_alerts(reader.client)
    silenced = silenced_ids(alerts, load_silences(reader.client, reader.now), reader.now)
    firing = [alert for alert in alerts if alert.firing and selection.matches(alert.edge)]
    columns: list[tuple[str, str, list[object]]] = [
        ("fired_at", "time", [a.fired_at for a in firing]),
        ("severity", "string", [a.severity for a in firing]),
        ("rule", "string", [a.rule for a in firing]),
        ("source", "string", [a.edge.source for a in firing]),
        ("destination", "string", [a.edge.destination for a in firing]),
        ("value", "number", [a.value for a in firing]),
        ("threshold", "number", [a.threshold for a in firing]),
        ("requests", "number", [a.requests for a in firing]),
        ("active_since", "time", [a.active_since for a in firing]),
        ("root_cause", "string", [", ".join(a.root_causes) or "itself" for a in firing]),
        ("silenced", "boolean", [a.id in silenced for a in firing]),
        ("service_entry", "string", [reader.mesh.for_edge(a.edge).service_entry for a in firing]),
    ]
    return [frame("firing_alerts", ref_id, [field(name, kind, values) for name, kind, values in columns])]


def annotations_answer(reader: Reader, ref_id: str, selection: EdgeSelection, payload: dict[str, PayloadValue],
                       start: datetime, end: datetime) -> list[Json]:
    """Alert transitions in [start, end] as an annotation frame (``time``, ``title``, ``text``, ``tags``)."""
    kinds = payload_values("event", payload.get("event")) or DEFAULT_EVENTS
    unknown = sorted(set(kinds) - set(EVENTS))
    if unknown:
        raise GrafanaError(f"payload event: use {', '.join(EVENTS)}, not {', '.join(unknown)}", "payload.event",
                           unknown)
    events = [event for event in store.load_events(reader.client, start, end, limit=10_000)
              if str(event.kind) in kinds and selection.matches(event.alert.edge)]
    events.reverse()  # oldest first
    texts = [f"{e.alert.edge.label}: {e.alert.condition} {e.alert.value:g} (threshold {e.alert.threshold:g}, "
             f"{e.alert.requests} requests)" + (" resolved" if e.kind is EventKind.RESOLVED else "")
             for e in events]
    fields = [
        field("time", "time", [e.at for e in events]),
        field("title", "string", [f"{str(e.kind).upper()} {e.alert.rule}" for e in events]),
        field("text", "string", texts),
        field("tags", "string", [",".join((str(e.kind), e.alert.rule, e.alert.severity)) for e in events]),
    ]
    return [frame("alert_events", ref_id, fields)]
