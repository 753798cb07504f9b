"""Backtesting: replay one rule over a past window of stored data.

The rule's query and the state machine run at ``start``, ``start + step`` ... ``end``
exactly as the evaluator would have run them, without writing anything. The result lists,
per edge, when the rule would have fired and resolved (``resolved_at`` None: still firing
at ``end``). Pending alerts that cleared before firing are not reported. The number of
steps is capped (``MAX_STEPS``) because each is one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from alerts.model import Alert, Edge, EventKind
from alerts.queries import observe
from alerts.rules import Rule
from alerts.state import step_rule

MAX_STEPS = 1440


@dataclass(frozen=True)
class Episode:
    """One time the rule fired on an edge."""

    edge: Edge
    pending_at: datetime
    fired_at: datetime
    resolved_at: datetime | None
    peak_value: float
    threshold: float


def backtest_steps(start: datetime, end: datetime, step_seconds: float) -> int:
    """How many evaluations a backtest makes; raises ValueError for an empty or reversed range."""
    if end <= start:
        raise ValueError("end must be after start")
    if step_seconds <= 0:
        raise ValueError("step must be positive")
    return int((end - start).total_seconds() // step_seconds) + 1


def backtest(client: Client, rule: Rule, start: datetime, end: datetime, step_seconds: float) -> list[Episode]:
    """Replay ``rule``; raises ValueError past ``MAX_STEPS`` steps."""
    steps = backtest_steps(start, end, step_seconds)
    if steps > MAX_STEPS:
        raise ValueError(f"{steps} steps: at most {MAX_STEPS}; use a larger step or a shorter range")
    alerts: dict[Edge, Alert] = {}
    peaks: dict[Edge, float] = {}
    episodes: list[Episode] = []
    for index in range(steps):
        now = start + timedelta(seconds=index * step_seconds)
        observed = {obs.edge: obs for obs in observe(client, rule, now)}
        for edge, obs in observed.items():
            peaks[edge] = max(peaks.get(edge, obs.value), obs.value)
        alerts, events = step_rule(alerts, observed, rule, now)
        for event in events:  # only edges no longer observed resolve or clear
            if event.kind is EventKind.RESOLVED:
                episodes.append(_episode(event.alert, now, peaks.pop(event.alert.edge, event.alert.value)))
            elif event.kind is EventKind.CLEARED:
                peaks.pop(event.alert.edge, None)
    episodes += [_episode(a, None, peaks.get(a.edge, a.value)) for a in alerts.values() if a.firing]
    return sorted(episodes, key=lambda e: (e.fired_at, e.edge))


def _episode(alert: Alert, resolved_at: datetime | None, peak: float) -> Episode:
    assert alert.fired_at is not None  # only firing alerts resolve
    return Episode(alert.edge, alert.active_since, alert.fired_at, resolved_at, peak, alert.threshold)
