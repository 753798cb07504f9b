"""Root cause, not symptoms: which active alerts are explained by an alert further down the graph.

Pure. An alert on edge ``A -> B`` (caller workload A, called service B) is a symptom of an
alert on edge ``B' -> C`` when

- B' is a workload behind service B (:class:`edgewatch.services.ServiceMap`, which also
  says what a service with no known workload is served by);
- B' runs in B's namespace (an empty namespace matches any); and
- the downstream condition can explain the caller's (``EXPLAINED_BY``, from each condition
  kind's ``shows`` and ``explained_by``): failures and slowness downstream explain failures
  upstream, slowness and timeouts explain slowness.

Both alerts must be active (pending or firing) at the same evaluation. Explanations chain:
``A -> B`` caused by ``B -> C`` caused by ``C -> D`` has the root ``C -> D``. An alert's root
causes are the alerts reachable downstream that are explained by nothing further; alerts
explaining each other in a loop with no way out are their own roots.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from alerts.conditions import EXPLAINED_BY
from alerts.model import Alert, Edge
from edgewatch.services import ServiceMap


def serving_workloads(edge: Edge, services: ServiceMap) -> frozenset[str]:
    """The workloads behind the called service of ``edge`` (none for hosts outside the mesh)."""
    if edge.destination_kind != "service":
        return frozenset()
    return services.workloads(edge.destination, edge.destination_namespace)


def _same_namespace(a: str, b: str) -> bool:
    return not a or not b or a == b


def _explainers(alerts: Sequence[Alert], services: ServiceMap) -> dict[str, list[str]]:
    """Alert id -> ids of the active alerts directly downstream that explain it."""
    by_caller: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_caller[alert.edge.source].append(alert)
    graph: dict[str, list[str]] = {}
    for alert in alerts:
        explains = EXPLAINED_BY.get(alert.condition, frozenset())
        graph[alert.id] = [
            other.id
            for workload in sorted(serving_workloads(alert.edge, services))
            for other in by_caller.get(workload, [])
            if other.edge != alert.edge
            and other.condition in explains
            and _same_namespace(other.edge.source_namespace, alert.edge.destination_namespace)
        ]
    return graph


def _reachable(start: str, graph: Mapping[str, list[str]]) -> Iterable[str]:
    seen = {start}
    queue = deque(graph[start])
    while queue:
        node = queue.popleft()
        if node not in seen:
            seen.add(node)
            yield node
            queue.extend(graph[node])


def attribute(alerts: Sequence[Alert], services: ServiceMap) -> list[Alert]:
    """``alerts`` with ``root_causes`` set: sorted root ids for symptoms, empty for roots."""
    graph = _explainers(alerts, services)
    sinks = {alert_id for alert_id, downstream in graph.items() if not downstream}
    result = []
    for alert in alerts:
        roots = sorted(node for node in _reachable(alert.id, graph) if node in sinks) if graph[alert.id] else []
        result.append(replace(alert, root_causes=tuple(roots)))
    return result


def symptoms_by_root(alerts: Iterable[Alert]) -> dict[str, list[Alert]]:
    """Root alert id -> the alerts it explains (its affected callers), in edge order."""
    found: dict[str, list[Alert]] = defaultdict(list)
    for alert in sorted(alerts, key=lambda a: (a.edge, a.rule)):
        for root in alert.root_causes:
            found[root].append(alert)
    return dict(found)
