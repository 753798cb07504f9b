"""``slo_burn_rate``: how fast an edge spends the error budget of an availability objective."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, model_validator

from alerts.conditions.base import Condition, ConfigModel, DrillDown, Samples, Symptom, Window
from alerts.conditions.window import Query, Scope, nested_edge_sums
from alerts.model import Edge, Observation


class BurnWindow(ConfigModel):
    long: Window
    short: Window
    burn_rate: float = Field(gt=0)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnWindow:
        if self.short >= self.long:
            raise ValueError("short must be shorter than long")
        return self


PAGE_WINDOWS = (BurnWindow(long=3600, short=300, burn_rate=14.4), BurnWindow(long=21600, short=1800, burn_rate=6))


class SloBurnRate(Condition):
    """Multi-window burn rate of an availability ``objective`` (e.g. 0.999).

    Fires when, for any entry of ``windows``, the burn rate (error rate / (1 - objective))
    exceeds ``burn_rate`` over both its long and its short window. Default: the paging pairs
    1h/5m above 14.4 and 6h/30m above 6.
    """

    kind: ClassVar[str] = "slo_burn_rate"
    shows: ClassVar[frozenset[Symptom]] = frozenset({Symptom.FAILING})
    explained_by: ClassVar[frozenset[Symptom]] = frozenset({Symptom.FAILING, Symptom.SLOW})
    samples: ClassVar[Samples] = Samples.FAILING
    drilldown: ClassVar[DrillDown | None] = DrillDown("5xx", priority=2)

    objective: float = Field(gt=0, lt=1)
    windows: tuple[BurnWindow, ...] = Field(default=PAGE_WINDOWS, min_length=1)

    def spans(self) -> list[int]:
        """The distinct window lengths in seconds, longest first: the order of the query's
        sums (``n0, e0, n1, e1`` ...)."""
        return sorted({int(s) for w in self.windows for s in (w.long, w.short)}, reverse=True)

    def query(self, scope: Scope) -> Query:
        """Request and error sums per window of every edge where some pair burns; the short
        window must have ``min_requests``."""
        spans = self.spans()
        pairs, limits = [], {}
        for j, pair in enumerate(self.windows):
            long_i, short_i = spans.index(int(pair.long)), spans.index(int(pair.short))
            limits[f"limit{j}"] = pair.burn_rate * (1 - self.objective)
            pairs.append(
                f"(n{short_i} >= {{min_requests:UInt64}} AND e{long_i} / n{long_i} > {{limit{j}:Float64}}"
                f" AND e{short_i} / n{short_i} > {{limit{j}:Float64}})"
            )
        sql, params = nested_edge_sums({"n": "requests", "e": "errors"}, spans, scope, having=" OR ".join(pairs))
        return sql, {**params, **limits, "min_requests": scope.min_requests}

    def observations(self, rows: Sequence[Sequence[Any]], scope: Scope) -> list[Observation]:
        found = (self._observation(Edge(*row[:5]), tuple(row[5:]), scope.min_requests) for row in rows)
        return [obs for obs in found if obs is not None]

    def _observation(self, edge: Edge, sums: tuple[int, ...], min_requests: int) -> Observation | None:
        """The pair that burns hardest relative to its limit; None if none holds (float edge cases)."""
        spans = self.spans()
        n = {span: sums[2 * i] for i, span in enumerate(spans)}
        e = {span: sums[2 * i + 1] for i, span in enumerate(spans)}
        budget = 1 - self.objective
        best: Observation | None = None
        for pair in self.windows:
            long, short = int(pair.long), int(pair.short)
            if n[short] < min_requests or not n[long]:
                continue
            burn = min(e[long] / n[long], e[short] / n[short]) / budget
            if burn > pair.burn_rate and (best is None or burn / pair.burn_rate > best.value / best.threshold):
                best = Observation(edge, burn, pair.burn_rate, int(n[short]))
        return best

    def detail_window(self) -> float:
        """The shortest window: what the notification's numbers describe."""
        return min(w.short for w in self.windows)

    @staticmethod
    def describe(value: float, threshold: float) -> str:
        return f"error budget burning {value:.1f}x > {threshold:g}x"
