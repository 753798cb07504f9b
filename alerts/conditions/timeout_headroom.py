"""``timeout_headroom``: successful calls of an edge coming close to the edge's timeout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from alerts.conditions.base import Condition, DrillDown, Samples, Symptom, Window
from alerts.conditions.window import Query, Scope, edge_sums
from alerts.model import Edge, Observation
from edgewatch.edge import KEYS
from edgewatch.latency import quantiles_ms


class TimeoutHeadroom(Condition):
    """p99 of successful calls over ``window`` above ``fraction`` of the edge's timeout.

    The timeout is ``timeout_ms`` when the rule gives one; else the VirtualService timeout the
    mesh's config sets for the edge (``EDGEWATCH_MESH_CONFIG``), so that the warning comes before
    the first 504; else the shortest duration of a UT/504 call on the edge within
    ``timeout_lookback`` (inferred). Edges with none of these are not evaluated.
    """

    kind: ClassVar[str] = "timeout_headroom"
    shows: ClassVar[frozenset[Symptom]] = frozenset({Symptom.NEAR_TIMEOUT})
    explained_by: ClassVar[frozenset[Symptom]] = frozenset({Symptom.SLOW, Symptom.NEAR_TIMEOUT, Symptom.TIMING_OUT})
    samples: ClassVar[Samples] = Samples.SLOWEST
    drilldown: ClassVar[DrillDown | None] = None

    fraction: float = Field(default=0.8, gt=0, le=1)
    timeout_ms: float | None = Field(default=None, gt=0)
    window: Window = 300.0
    timeout_lookback: Window = 86400.0

    def query(self, scope: Scope) -> Query:
        recent, params = edge_sums(
            f"sum(requests) AS n, {quantiles_ms('latency_ok')}[3] AS value",
            ("requests", "latency_ok"),
            self.window,
            scope,
            having="n >= {min_requests:UInt64}",
        )
        params.update(fraction=self.fraction, min_requests=scope.min_requests)
        if self.timeout_ms is not None:
            params["timeout"] = self.timeout_ms
            sql = f"""SELECT {KEYS}, n, value, {{fraction:Float64}} * {{timeout:Float64}} AS threshold
                FROM ({recent}) WHERE value > threshold"""
            return sql, params
        # Calls that Envoy cut at the timeout last as long as the timeout (min is inf without any).
        inferred, lookback = edge_sums(
            "min(timeout_duration_min) AS timeout",
            ("timeout_duration_min",),
            self.timeout_lookback,
            scope,
            having="timeout < inf",
            name="lookback",
        )
        # Without configured timeouts only edges with an inferred one can qualify: filter here.
        known = "" if scope.mesh.has_timeouts else "WHERE timeout > 0 AND value > {fraction:Float64} * timeout"
        sql = f"""SELECT {KEYS}, n, value, timeout
            FROM ({recent}) AS recent
            LEFT JOIN ({inferred}) AS inferred USING ({KEYS})
            {known}"""
        return sql, {**params, **lookback}

    def observations(self, rows: Sequence[Sequence[Any]], scope: Scope) -> list[Observation]:
        """Rows of the key columns, requests, p99 and the inferred timeout (0: none): the edges
        whose p99 is above ``fraction`` of their timeout (the rule's, the mesh's or the inferred)."""
        found = []
        for row in rows:
            edge = Edge(*row[:5])
            requests, value, inferred = int(row[5]), float(row[6]), float(row[7])
            timeout = self.timeout_ms or _configured(edge, scope) or (inferred if 0 < inferred < math.inf else None)
            if timeout and value > self.fraction * timeout:  # NaN (no successful call) is never above
                found.append(Observation(edge, value, self.fraction * timeout, requests))
        return found

    def detail_window(self) -> float:
        return self.window

    @staticmethod
    def describe(value: float, threshold: float) -> str:
        return f"p99 of successful calls {value:,.0f} ms > {threshold:,.0f} ms (timeout headroom)"


def _configured(edge: Edge, scope: Scope) -> float | None:
    """The VirtualService timeout of the edge's caller (none for callers outside the mesh)."""
    if edge.source == "unknown":
        return None
    timeout = scope.mesh.for_edge(edge).timeout_ms
    return float(timeout) if timeout else None
