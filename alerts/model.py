"""The values alerting passes around: edges, observations, alerts, their transitions, and
what a notification shows about an edge.

All are immutable. Times are timezone-aware UTC datetimes; ``utc`` turns what ClickHouse
returns (naive UTC) into one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from edgewatch.edge import Edge

__all__ = ["Alert", "AlertEvent", "Edge", "EdgeDetails", "EventKind", "Observation", "Status", "alert_id", "utc"]


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Observation:
    """A rule's condition holding on one edge at one evaluation (the rule's query returned it)."""

    edge: Edge
    value: float
    threshold: float
    requests: int


class Status(StrEnum):
    PENDING = "pending"
    FIRING = "firing"


class EventKind(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"  # a firing alert whose condition cleared
    CLEARED = "cleared"  # a pending alert whose condition cleared before ``for``: it vanishes


def alert_id(rule: str, edge: Edge) -> str:
    return f"{rule}@{edge.key}"


@dataclass(frozen=True)
class Alert:
    """One (rule, edge) alert while it is pending or firing.

    ``value``/``threshold``/``requests`` are from the latest evaluation that observed the
    condition; ``root_causes`` holds the ids of the alerts this one is a symptom of (empty
    for a root cause), set by root-cause grouping after the state machine ran.
    """

    rule: str
    condition: str
    severity: str
    edge: Edge
    status: Status
    active_since: datetime
    fired_at: datetime | None
    value: float
    threshold: float
    requests: int
    root_causes: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return alert_id(self.rule, self.edge)

    @property
    def firing(self) -> bool:
        return self.status is Status.FIRING


@dataclass(frozen=True)
class AlertEvent:
    """A transition of one alert at ``at``; ``alert`` is its state at that moment."""

    kind: EventKind
    at: datetime
    alert: Alert


@dataclass(frozen=True)
class EdgeDetails:
    """What a notification shows about one edge over a window."""

    requests: int
    errors: int
    timeouts: int
    status_codes: list[tuple[int, int]]  # most frequent first
    response_flags: list[tuple[str, int]]  # most frequent first, '-' (no flag) left out
    sample_request_ids: list[str]
