"""``error_rate``: the share of an edge's calls that fail, over a window."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from alerts.conditions.base import Condition, DrillDown, Samples, Symptom, Window, threshold_query
from alerts.conditions.window import Query, Scope


class ErrorRate(Condition):
    """Errors (5xx or no response) / requests over ``window`` above ``above`` (a fraction)."""

    kind: ClassVar[str] = "error_rate"
    shows: ClassVar[frozenset[Symptom]] = frozenset({Symptom.FAILING})
    explained_by: ClassVar[frozenset[Symptom]] = frozenset({Symptom.FAILING, Symptom.SLOW})
    samples: ClassVar[Samples] = Samples.FAILING
    drilldown: ClassVar[DrillDown | None] = DrillDown("5xx", priority=2)

    above: float = Field(gt=0, lt=1)
    window: Window = 60.0

    def query(self, scope: Scope) -> Query:
        return threshold_query("sum(errors) / n", ("errors",), self.above, self.window, scope)

    def detail_window(self) -> float:
        return self.window

    @staticmethod
    def describe(value: float, threshold: float) -> str:
        return f"errors {value:.1%} > {threshold * 100:g}%"
