"""Which workloads serve which Service: how it is learned, and the one reader of ``service_workloads``.

A call's edge ends at a Service (``api-gateway -> fleetman-staff-service``); the next edge starts
at a workload (``staff-service -> driver-monitoring``). The graph, root cause and
``/services/{name}/dependencies`` need the link between the two, which ``service_workloads``
keeps. It is learned from what the records really say:

- a record that names both, as it is stored (migration 0003's view): an Edgewatch record with
  ``destination_workload``, and a callee's Envoy line whose Host header names a Service of the
  mesh (``authority: fleetman-staff-service:8080``; migration 0001), never a public host;
- the two reports of one call (:func:`learn_from_pairs`, run by the settler over each settled
  range): the caller's names the Service, the callee's the workload, with the same request id.

Where nothing was learned for a Service, it is taken to be served by a workload of its own name,
the Kubernetes habit: :meth:`ServiceMap.workloads` is the one place that says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from edgewatch.calls import Range, epoch_ms, range_params

SERVING_LOOKBACK = timedelta(days=7)
"""How far back a workload seen serving a Service still counts (the API and root cause)."""


@dataclass(frozen=True)
class ServingWorkload:
    """``workload`` served ``service`` in ``namespace``."""

    service: str
    namespace: str
    workload: str


class ServiceMap:
    """Service (namespace, name) -> the workloads seen serving it; pure once built."""

    def __init__(self, serving: Iterable[ServingWorkload]) -> None:
        self.serving = tuple(serving)
        found: dict[tuple[str, str], set[str]] = defaultdict(set)
        for item in self.serving:
            found[(item.namespace, item.service)].add(item.workload)
        self._known = {key: frozenset(names) for key, names in found.items()}

    def known(self, service: str, namespace: str | None = None) -> frozenset[str]:
        """The workloads seen serving ``service`` (in ``namespace``; None: in any namespace)."""
        if namespace is not None:
            return self._known.get((namespace, service), frozenset())
        return frozenset().union(*(names for (_, name), names in self._known.items() if name == service))

    def workloads(self, service: str, namespace: str | None = None) -> frozenset[str]:
        """:meth:`known`, or a workload named like the Service when none was seen."""
        return self.known(service, namespace) or frozenset({service})


def serving_workloads(
    client: Client, since: datetime, service: str | None = None, namespace: str | None = None
) -> list[ServingWorkload]:
    """Which workloads served which services at some time since ``since``, ordered by
    namespace, service and workload; only ``service`` and ``namespace`` when given (None: any).
    Raises clickhouse_connect's errors."""
    clauses = ["last_seen >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')"]
    params: dict[str, Any] = {"since_ms": epoch_ms(since)}
    if service is not None:
        clauses.append("destination_service = {service:String}")
        params["service"] = service
    if namespace is not None:
        clauses.append("destination_namespace = {namespace:String}")
        params["namespace"] = namespace
    where = " AND ".join(clauses)
    # GROUP BY only merges the rows of parts not merged yet: a key is kept when any of its
    # rows is recent enough, which is what max(last_seen) >= since would keep.
    rows = client.query(
        f"""SELECT destination_service, destination_namespace, destination_workload
            FROM service_workloads
            WHERE {where}
            GROUP BY destination_service, destination_namespace, destination_workload
            ORDER BY destination_namespace, destination_service, destination_workload""",
        parameters=params,
    ).result_rows
    return [ServingWorkload(*row) for row in rows]


def service_map(client: Client, since: datetime) -> ServiceMap:
    """Every Service's serving workloads seen since ``since``."""
    return ServiceMap(serving_workloads(client, since))


_PAIRS = f"""INSERT INTO service_workloads (destination_service, destination_namespace, destination_workload, last_seen)
SELECT caller.destination_service, caller.destination_namespace, callee.destination_workload, max(callee.timestamp)
FROM (SELECT request_id, destination_service, destination_namespace FROM requests
      WHERE reporter = 'source' AND destination_kind = 'service' AND request_id != ''
        AND {Range.of().condition()}) AS caller
INNER JOIN (SELECT request_id, destination_workload, timestamp FROM requests
            WHERE reporter = 'destination' AND destination_workload != '' AND request_id != ''
              AND {Range.of().widened().condition()}) AS callee
USING (request_id)
GROUP BY caller.destination_service, caller.destination_namespace, callee.destination_workload"""


def learn_from_pairs(client: Client, start: datetime, end: datetime, token: str) -> None:
    """Record which workloads served the Services that callers called in [start, end): from the
    pairs of reports of one call (same request id; the callee's within ``SLACK`` of the range).

    Exactly once per range: the insert carries ``token`` (``service_workloads`` deduplicates it);
    storing a link twice would change nothing anyway (it keeps the latest time). Raises
    clickhouse_connect's errors.
    """
    client.command(_PAIRS, parameters=range_params(start, end), settings={"insert_deduplication_token": token})
