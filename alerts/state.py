"""The alert state machine, one (rule, edge) at a time. Pure: no clock, no I/O.

    (no alert) --condition--> pending --held for `for`--> firing --cleared--> resolved (gone)
                                 \\--cleared--> cleared (gone: a pending alert vanishes)

``step`` takes the alert as it was (``None`` when inactive), what this evaluation observed
(``None`` when the rule's query did not return the edge: condition false, or too few
requests), the rule and ``now``; it returns the alert as it is now (``None`` when inactive)
and the transitions that happened, for the ``alert_events`` table and for notifications.
A rule with ``for: 0`` fires on its first observation. Evaluation times must not go
backwards for one alert. ``step_rule`` runs ``step`` over every edge of one rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from alerts.model import Alert, AlertEvent, Edge, EventKind, Observation, Status
from alerts.rules import Rule


def step(
    alert: Alert | None, observation: Observation | None, rule: Rule, now: datetime
) -> tuple[Alert | None, list[AlertEvent]]:
    """Advance one alert to ``now``; see the module docstring for the transitions."""
    if observation is None:
        return (None, []) if alert is None else (None, [end(alert, now)])

    if alert is None:
        pending = Alert(
            rule=rule.name,
            condition=rule.condition_kind,
            severity=rule.severity,
            edge=observation.edge,
            status=Status.PENDING,
            active_since=now,
            fired_at=None,
            value=observation.value,
            threshold=observation.threshold,
            requests=observation.requests,
        )
        if rule.for_ <= 0:
            fired = replace(pending, status=Status.FIRING, fired_at=now)
            return fired, [AlertEvent(EventKind.FIRING, now, fired)]
        return pending, [AlertEvent(EventKind.PENDING, now, pending)]

    current = replace(
        alert,
        severity=rule.severity,
        value=observation.value,
        threshold=observation.threshold,
        requests=observation.requests,
    )
    if current.status is Status.PENDING and (now - current.active_since).total_seconds() >= rule.for_:
        fired = replace(current, status=Status.FIRING, fired_at=now)
        return fired, [AlertEvent(EventKind.FIRING, now, fired)]
    return current, []


def end(alert: Alert, now: datetime) -> AlertEvent:
    """The transition of an alert whose condition no longer holds (or whose rule was removed)."""
    return AlertEvent(EventKind.RESOLVED if alert.firing else EventKind.CLEARED, now, alert)


def step_rule(
    before: Mapping[Edge, Alert], observed: Mapping[Edge, Observation], rule: Rule, now: datetime
) -> tuple[dict[Edge, Alert], list[AlertEvent]]:
    """Advance ``rule``'s alerts (``before``, by edge) on every edge observed now or alerting
    before, in edge order; returns the alerts active now, by edge, and the transitions."""
    alerts: dict[Edge, Alert] = {}
    events: list[AlertEvent] = []
    for edge in sorted(observed.keys() | before.keys()):
        alert, happened = step(before.get(edge), observed.get(edge), rule, now)
        events += happened
        if alert is not None:
            alerts[edge] = alert
    return alerts, events
