"""The scope the condition tests query with: a selector on the source, 7 requests at least."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from alerts.conditions import CONDITIONS
from alerts.conditions.window import Scope
from edgewatch.calls import from_epoch
from edgewatch.windows import TimeRange

NOW = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)
SCOPE = Scope(NOW, "match(source_workload, {source_re:String})", {"source_re": "^web.*$"}, min_requests=7)
SCOPE_PARAMS = {"source_re": "^web.*$"}
"""The parameters every query over SCOPE carries."""


def explainers(kind: str) -> set[str]:
    """The kinds whose alerts downstream explain an alert of ``kind``, from the classes."""
    explained_by = CONDITIONS[kind].explained_by
    return {other for other, condition in CONDITIONS.items() if condition.shows & explained_by}


def planned(params: dict[str, object]) -> tuple[dict[str, object], dict[str, TimeRange]]:
    """The parameters other than the window planner's, and the range each planned window covers,
    by its name (the parameter prefix)."""
    other: dict[str, object] = {}
    pieces: dict[str, list[tuple[int, int]]] = {}
    for name, value in params.items():
        match = re.fullmatch(r"(.+)_(?:r(\d+)([abp])|grain|tail_(?:a|b|slack)_ms)", name)
        if match is None:
            other[name] = value
        elif match.group(3) in ("a", "b"):  # a rollup piece (the unsettled tail covers the same window)
            index = int(match.group(2))
            found = pieces.setdefault(match.group(1), [])
            while len(found) <= index:
                found.append((0, 0))
            a, b = found[index]
            found[index] = (int(value), b) if match.group(3) == "a" else (a, int(value))  # type: ignore[call-overload]
    covered = {name: TimeRange(from_epoch(min(a for a, _ in found)), from_epoch(max(b for _, b in found)))
               for name, found in pieces.items()}
    return other, covered
