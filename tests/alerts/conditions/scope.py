"""The scope the condition tests query with: a selector on the source, 7 requests at least."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.conditions import CONDITIONS
from alerts.conditions.rollup import Scope
from edgewatch.calls import epoch_ms

NOW = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)
SCOPE = Scope(NOW, "match(source_workload, {source_re:String})", {"source_re": "^web.*$"}, min_requests=7)
SCOPE_PARAMS = {"source_re": "^web.*$", "now_ms": epoch_ms(NOW)}
"""The parameters every query over SCOPE carries."""


def explainers(kind: str) -> set[str]:
    """The kinds whose alerts downstream explain an alert of ``kind``, from the classes."""
    explained_by = CONDITIONS[kind].explained_by
    return {other for other, condition in CONDITIONS.items() if condition.shows & explained_by}
