"""What the Grafana datasource serves: its metrics, what each answers, and the payload fields
each takes. ``POST /grafana/metrics`` lists :data:`METRICS`; the dashboards (deploy/grafana/)
name only these.

A metric's ``shape`` says what ``/grafana/query`` answers for it:

- ``series``: one time series per edge (``target``, ``datapoints``), the :class:`EdgePoint`
  attribute ``field`` per step, with its unit;
- ``breakdown``: one series per value of the measure ``field`` (status code, response flags)
  summed over the matching edges;
- ``edges``: a data frame of every matching edge's numbers over the range;
- ``graph``: the node graph, two data frames named ``nodes`` and ``edges``;
- ``alerts``: a data frame of the firing alerts (the last evaluation's state);
- ``annotations``: alert firings and resolutions in the range, as an annotation frame;
- ``dead_letters``: one series per kind of reason records were refused for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from api.grafana.protocol import GrafanaError, MetricConfig, Option, PayloadConfig

Shape = Literal["series", "breakdown", "edges", "graph", "alerts", "annotations", "dead_letters"]

EDGE_FIELDS = ("source", "destination", "namespace", "kind")
"""The payload fields that choose edges: caller workload, called service or host, namespace of
either end, kind of the destination."""
EVENTS = ("firing", "resolved", "pending", "cleared")
DEFAULT_EVENTS = ("firing", "resolved")
KINDS = ("service", "external", "unknown")

PAYLOADS: dict[str, PayloadConfig] = {
    "source": PayloadConfig(name="source", label="Source", type="multi-select", placeholder="any caller workload"),
    "destination": PayloadConfig(name="destination", label="Destination", type="multi-select",
                                 placeholder="any service or host"),
    "namespace": PayloadConfig(name="namespace", label="Namespace", type="select",
                               placeholder="either end in this namespace"),
    "kind": PayloadConfig(name="kind", label="Destination kind", type="select", placeholder="any kind",
                          options=[Option(label=kind, value=kind) for kind in KINDS]),
    "event": PayloadConfig(name="event", label="Events", type="multi-select", placeholder="firing, resolved",
                           options=[Option(label=event, value=event) for event in EVENTS]),
}


@dataclass(frozen=True)
class Metric:
    value: str
    label: str
    shape: Shape
    unit: str | None = None
    field: str = ""
    payloads: tuple[str, ...] = EDGE_FIELDS

    def config(self) -> MetricConfig:
        return MetricConfig(value=self.value, label=self.label, payloads=[PAYLOADS[name] for name in self.payloads])


METRICS = (
    Metric("requests", "Requests per step", "series", "short", "requests"),
    Metric("rps", "Requests per second", "series", "reqps", "rps"),
    Metric("errors", "Server errors per step", "series", "short", "errors"),
    Metric("error_rate", "Error rate", "series", "percentunit", "error_rate"),
    Metric("timeouts", "Timeouts per step", "series", "short", "timeouts"),
    Metric("timeout_rate", "Timeout rate", "series", "percentunit", "timeout_rate"),
    Metric("p50_ms", "Latency p50", "series", "ms", "p50_ms"),
    Metric("p95_ms", "Latency p95", "series", "ms", "p95_ms"),
    Metric("p99_ms", "Latency p99", "series", "ms", "p99_ms"),
    Metric("status_codes", "Calls per status code", "breakdown", "short", "status_codes"),
    Metric("response_flags", "Calls per response flags", "breakdown", "short", "response_flags"),
    Metric("edges", "Edge table", "edges"),
    Metric("graph", "Service graph (node graph)", "graph"),
    Metric("firing_alerts", "Firing alerts", "alerts", payloads=("source", "destination")),
    Metric("alert_events", "Alert firings and resolutions (annotations)", "annotations",
           payloads=("source", "destination", "event")),
    Metric("dead_letters", "Dead letters per reason", "dead_letters", "short", payloads=()),
)
METRIC = {metric.value: metric for metric in METRICS}


def metric(name: str | None, where: str = "target") -> Metric:
    """The metric called ``name``. Raises GrafanaError naming the metrics there are."""
    found = METRIC.get((name or "").strip())
    if found is None:
        raise GrafanaError(f"unknown metric {name!r}: use one of {', '.join(METRIC)}", where, name)
    return found
