"""What to notify after an evaluation: one incident per root-cause edge. Pure: no clock, no I/O.

Notifications are about edges, not single alerts (Alertmanager's ``group_by: [source,
destination]``): the firing, unsilenced root-cause alerts on one edge form its group, and the
group's message lists the callers affected through it. The notification log (``Incident``:
the newest notification of each group) decides what to send:

- a group with root-cause alerts firing and no open incident opens one: ``firing``;
- an open incident whose group still has root-cause alerts firing gets a ``reminder`` once the
  shortest ``repeat_interval`` of those rules has passed since the last message;
- an open incident with no firing, unsilenced alert left on its edge ends: ``resolved``; or
  ``closed`` (recorded, never sent) when what still fires there is silenced;
- an incident whose alerts became symptoms of another edge stays open, without reminders,
  until they resolve: the root's message lists that edge among the affected callers.

Notification ids are ``incident_id:kind:sequence``, so a notification is planned once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from alerts.model import Alert, Edge
from alerts.rootcause import symptoms_by_root
from edgewatch.calls import epoch_ms

SEVERITY_ORDER = ("critical", "warning", "info")


class NoticeKind(StrEnum):
    FIRING = "firing"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    CLOSED = "closed"  # ended while silenced: recorded in the log, not sent


@dataclass(frozen=True)
class Incident:
    """The notification log's entry for one root-cause edge: its newest notification."""

    edge: Edge
    incident_id: str
    opened_at: datetime
    kind: NoticeKind
    sequence: int
    notified_at: datetime
    rules: tuple[str, ...]
    severity: str

    @property
    def open(self) -> bool:
        return self.kind in (NoticeKind.FIRING, NoticeKind.REMINDER)


@dataclass(frozen=True)
class Notice:
    """One notification: ``incident`` is the log entry it writes; ``alerts`` the root-cause
    alerts firing on the edge (empty when it resolved); ``affected`` the symptom alerts."""

    kind: NoticeKind
    incident: Incident
    alerts: tuple[Alert, ...]
    affected: tuple[Alert, ...]

    @property
    def id(self) -> str:
        return f"{self.incident.incident_id}:{self.kind}:{self.incident.sequence}"

    @property
    def deliver(self) -> bool:
        return self.kind is not NoticeKind.CLOSED


def worst_severity(severities: Sequence[str]) -> str:
    return min(severities, key=lambda s: SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else len(SEVERITY_ORDER))


def plan(
    alerts: Sequence[Alert],
    silenced: set[str],
    incidents: Mapping[str, Incident],
    repeat_interval: Mapping[str, float],
    now: datetime,
) -> list[Notice]:
    """Notices for this evaluation; ``alerts`` carry root causes (rootcause.attribute),
    ``incidents`` maps an edge key to its log entry, ``repeat_interval`` a rule to seconds."""
    firing: dict[str, list[Alert]] = {}
    silenced_edges: set[str] = set()
    for alert in alerts:
        if alert.firing and alert.id in silenced:
            silenced_edges.add(alert.edge.key)
        elif alert.firing:
            firing.setdefault(alert.edge.key, []).append(alert)
    symptoms = symptoms_by_root(alerts)

    notices = []
    for key in sorted(set(firing) | {k for k, incident in incidents.items() if incident.open}):
        here = sorted(firing.get(key, []), key=lambda a: (SEVERITY_ORDER.index(a.severity), a.rule))
        roots = tuple(a for a in here if not a.root_causes)
        affected = _affected(roots, symptoms)
        incident = incidents.get(key)
        if incident is None or not incident.open:
            if roots:
                notices.append(_notice(NoticeKind.FIRING, roots, affected, now, opened=None))
        elif not here:
            kind = NoticeKind.CLOSED if key in silenced_edges else NoticeKind.RESOLVED
            notices.append(Notice(kind, _next(incident, kind, now), (), ()))
        elif roots and (now - incident.notified_at).total_seconds() >= min(
            repeat_interval.get(a.rule, 4 * 3600.0) for a in roots
        ):
            notices.append(_notice(NoticeKind.REMINDER, roots, affected, now, opened=incident))
    return notices


def _affected(roots: Sequence[Alert], symptoms: Mapping[str, list[Alert]]) -> tuple[Alert, ...]:
    seen: dict[str, Alert] = {}
    for root in roots:
        for alert in symptoms.get(root.id, []):
            if alert.edge != root.edge:
                seen.setdefault(alert.id, alert)
    return tuple(sorted(seen.values(), key=lambda a: (a.edge, a.rule)))


def _notice(
    kind: NoticeKind, roots: tuple[Alert, ...], affected: tuple[Alert, ...], now: datetime, opened: Incident | None
) -> Notice:
    edge = roots[0].edge
    incident = Incident(
        edge=edge,
        incident_id=opened.incident_id if opened else f"{edge.key}@{epoch_ms(now)}",
        opened_at=opened.opened_at if opened else now,
        kind=kind,
        sequence=opened.sequence + 1 if opened else 0,
        notified_at=now,
        rules=tuple(a.rule for a in roots),
        severity=worst_severity([a.severity for a in roots]),
    )
    return Notice(kind, incident, roots, affected)


def _next(incident: Incident, kind: NoticeKind, now: datetime) -> Incident:
    return replace(incident, kind=kind, notified_at=now)
