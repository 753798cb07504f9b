"""``timeout_rate``: the share of an edge's calls that time out, over a window."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from alerts.conditions.base import Condition, DrillDown, Samples, Symptom, Window, threshold_query
from alerts.conditions.window import Query, Scope


class TimeoutRate(Condition):
    """Timeouts (response flag UT or code 504) / requests over ``window`` above ``above``."""

    kind: ClassVar[str] = "timeout_rate"
    shows: ClassVar[frozenset[Symptom]] = frozenset({Symptom.FAILING, Symptom.TIMING_OUT})
    explained_by: ClassVar[frozenset[Symptom]] = frozenset({Symptom.FAILING, Symptom.SLOW})
    samples: ClassVar[Samples] = Samples.FAILING
    drilldown: ClassVar[DrillDown | None] = DrillDown("timeout", priority=1)

    above: float = Field(gt=0, lt=1)
    window: Window = 60.0

    def query(self, scope: Scope) -> Query:
        return threshold_query("sum(timeouts) / n", ("timeouts",), self.above, self.window, scope)

    def detail_window(self) -> float:
        return self.window

    @staticmethod
    def describe(value: float, threshold: float) -> str:
        return f"timeouts {value:.1%} > {threshold * 100:g}%"
