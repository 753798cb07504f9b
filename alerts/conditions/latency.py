"""``latency``: a percentile of the duration of an edge's calls, over a window."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from alerts.conditions.base import Condition, DrillDown, Samples, Symptom, Window, threshold_query
from alerts.conditions.window import Query, Scope
from edgewatch.latency import quantiles_ms

_PERCENTILE_INDEX = {"p50": 1, "p95": 2, "p99": 3}  # in quantiles_ms' array


class Latency(Condition):
    """The ``percentile`` latency over ``window`` above ``above_ms``."""

    kind: ClassVar[str] = "latency"
    shows: ClassVar[frozenset[Symptom]] = frozenset({Symptom.SLOW})
    explained_by: ClassVar[frozenset[Symptom]] = frozenset({Symptom.SLOW, Symptom.NEAR_TIMEOUT, Symptom.TIMING_OUT})
    samples: ClassVar[Samples] = Samples.SLOWEST
    drilldown: ClassVar[DrillDown | None] = None

    percentile: Literal["p50", "p95", "p99"] = "p99"
    above_ms: float = Field(gt=0)
    window: Window = 300.0

    def query(self, scope: Scope) -> Query:
        value = f"{quantiles_ms('latency')}[{{index:UInt8}}]"
        return threshold_query(value, ("latency",), self.above_ms, self.window, scope,
                               index=_PERCENTILE_INDEX[self.percentile])

    def detail_window(self) -> float:
        return self.window

    @staticmethod
    def describe(value: float, threshold: float) -> str:
        return f"latency {value:,.0f} ms > {threshold:,.0f} ms"
