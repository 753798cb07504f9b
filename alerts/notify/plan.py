"""What to notify after an evaluation: one incident per root-cause edge. Pure: no clock, no I/O.

Notifications are about edges, not single alerts (Alertmanager's ``group_by: [source,
destination]``): the firing, unsilenced root-cause alerts on one edge form its group, and the
group's message lists the callers affected through it. The notification log (``Incident``:
the newest notification of each group) decides what to send:

- a group with root-cause alerts firing and no open incident opens one: ``firing``;
- an open incident that gains something the channel was not told yet, a firing affected
  caller (an edge whose alerts are symptoms of the group's) or a root-cause rule firing on
  its edge, gets an ``update``: the incident's message as it reads now, the newcomers marked.
  A caller that joins later is never paged on its own: its alerts are symptoms, and only
  root causes open incidents;
- an open incident whose group still has root-cause alerts firing gets a ``reminder`` once the
  shortest ``repeat_interval`` of those rules has passed since the last message (an update
  counts: it is a message about the incident too; when both are due, the update goes);
- an open incident with no firing, unsilenced alert left on its edge ends: ``resolved``; or
  ``closed`` (recorded, never sent) when what still fires there is silenced;
- an incident whose alerts became symptoms of another edge stays open, without reminders,
  until they resolve: the root's message lists that edge among the affected callers.

The log remembers every rule and every affected caller edge an incident's messages named
(``Incident.rules``, ``Incident.affected``), so each newcomer is announced once; one that
leaves and comes back is not news. A pending newcomer is listed but does not cause an
update by itself (it may clear before it fires).

Notification ids are ``incident_id:kind:sequence``; ``sequence`` counts the incident's
messages (0 for the firing, then one more for each update or reminder; resolved and closed
keep the last one), so a notification is planned once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from alerts.model import Alert, Edge
from alerts.rootcause import symptoms_by_root
from edgewatch.calls import epoch_ms

SEVERITY_ORDER = ("critical", "warning", "info")


class NoticeKind(StrEnum):
    FIRING = "firing"
    UPDATE = "update"  # an open incident gained an affected caller or a root-cause rule
    REMINDER = "reminder"
    RESOLVED = "resolved"
    CLOSED = "closed"  # ended while silenced: recorded in the log, not sent


@dataclass(frozen=True)
class Incident:
    """The notification log's entry for one root-cause edge: its newest notification.

    ``rules`` and ``affected`` are every root-cause rule and every affected caller edge that
    the incident's messages have named so far."""

    edge: Edge
    incident_id: str
    opened_at: datetime
    kind: NoticeKind
    sequence: int
    notified_at: datetime
    rules: tuple[str, ...]
    severity: str
    affected: tuple[Edge, ...] = ()

    @property
    def open(self) -> bool:
        return self.kind in (NoticeKind.FIRING, NoticeKind.UPDATE, NoticeKind.REMINDER)

    @property
    def firing_id(self) -> str:
        """The id of the incident's first message (the one a bot edits)."""
        return f"{self.incident_id}:{NoticeKind.FIRING}:0"


@dataclass(frozen=True)
class Notice:
    """One notification: ``incident`` is the log entry it writes; ``alerts`` the root-cause
    alerts firing on the edge (empty when it resolved); ``affected`` the symptom alerts.
    For an update, ``joined`` are the affected caller edges and ``new_rules`` the root-cause
    rules that its incident's messages had not named before."""

    kind: NoticeKind
    incident: Incident
    alerts: tuple[Alert, ...]
    affected: tuple[Alert, ...]
    joined: tuple[Edge, ...] = field(default=())
    new_rules: tuple[str, ...] = field(default=())

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
            notices.append(Notice(kind, replace(incident, kind=kind, notified_at=now), (), ()))
        elif roots:
            joined = tuple(sorted({a.edge for a in affected} - set(incident.affected)))
            new_rules = tuple(a.rule for a in roots if a.rule not in incident.rules)
            if new_rules or any(a.firing and a.edge in joined for a in affected):
                update = _notice(NoticeKind.UPDATE, roots, affected, now, opened=incident)
                notices.append(replace(update, joined=joined, new_rules=new_rules))
            elif (now - incident.notified_at).total_seconds() >= min(
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


def _union(known: Iterable[str], now: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*known, *now]))


def _notice(
    kind: NoticeKind, roots: tuple[Alert, ...], affected: tuple[Alert, ...], now: datetime, opened: Incident | None
) -> Notice:
    edge = roots[0].edge
    rules = tuple(a.rule for a in roots)
    edges = sorted({a.edge for a in affected})
    incident = Incident(
        edge=edge,
        incident_id=opened.incident_id if opened else f"{edge.key}@{epoch_ms(now)}",
        opened_at=opened.opened_at if opened else now,
        kind=kind,
        sequence=opened.sequence + 1 if opened else 0,
        notified_at=now,
        rules=_union(opened.rules, rules) if opened else rules,
        severity=worst_severity([a.severity for a in roots]),
        affected=tuple(sorted({*opened.affected, *edges})) if opened else tuple(edges),
    )
    return Notice(kind, incident, roots, affected)
