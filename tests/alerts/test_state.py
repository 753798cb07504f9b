"""The alert state machine at explicit times: table-driven, no clock, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.model import Alert, EventKind, Observation, Status
from alerts.rules import Rule, parse_rule
from alerts.state import step
from tests.alerts.records import WEBAPP

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RULE = parse_rule({"name": "errors", "severity": "critical", "for": "30s", "error_rate": {"above": 0.05}})
INSTANT = parse_rule({"name": "errors", "for": "0s", "error_rate": {"above": 0.05}})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def seen(value: float = 0.2) -> Observation:
    return Observation(WEBAPP, value, 0.05, 100)


# Each case: the rule, then (seconds, observed value or None) per evaluation, then the
# expected (status or None, event kinds) after each evaluation.
Case = tuple[Rule, list[tuple[float, float | None]], list[tuple[str | None, list[str]]]]
CASES: dict[str, Case] = {
    "stays pending until for has passed, then fires": (
        RULE,
        [(0, 0.2), (15, 0.3), (30, 0.3), (45, 0.3)],
        [("pending", ["pending"]), ("pending", []), ("firing", ["firing"]), ("firing", [])],
    ),
    "pending that clears vanishes": (
        RULE,
        [(0, 0.2), (15, None), (30, None)],
        [("pending", ["pending"]), (None, ["cleared"]), (None, [])],
    ),
    "firing that clears is resolved once": (
        RULE,
        [(0, 0.2), (30, 0.2), (45, None), (60, None)],
        [("pending", ["pending"]), ("firing", ["firing"]), (None, ["resolved"]), (None, [])],
    ),
    "comes back after resolving: pending again from the start": (
        RULE,
        [(0, 0.2), (30, 0.2), (45, None), (60, 0.2), (75, 0.2), (90, 0.2)],
        [
            ("pending", ["pending"]),
            ("firing", ["firing"]),
            (None, ["resolved"]),
            ("pending", ["pending"]),
            ("pending", []),
            ("firing", ["firing"]),
        ],
    ),
    "for 0 fires on the first observation": (
        INSTANT,
        [(0, 0.2), (15, None)],
        [("firing", ["firing"]), (None, ["resolved"])],
    ),
    "nothing observed, nothing happens": (RULE, [(0, None)], [(None, [])]),
}


@pytest.mark.parametrize("name", CASES)
def test_transitions(name: str) -> None:
    rule, evaluations, expected = CASES[name]
    alert: Alert | None = None
    for (seconds, value), (status, kinds) in zip(evaluations, expected, strict=True):
        alert, events = step(alert, None if value is None else seen(value), rule, at(seconds))
        assert (alert.status if alert else None) == (Status(status) if status else None), (name, seconds)
        assert [e.kind for e in events] == [EventKind(k) for k in kinds], (name, seconds)
        assert all(e.at == at(seconds) for e in events)


def test_firing_alert_keeps_its_times_and_tracks_the_latest_value() -> None:
    alert, _ = step(None, seen(0.2), RULE, at(0))
    alert, _ = step(alert, seen(0.3), RULE, at(30))
    alert, _ = step(alert, seen(0.9), RULE, at(45))
    assert alert is not None
    assert (alert.active_since, alert.fired_at, alert.value) == (at(0), at(30), 0.9)
    assert alert.id == "errors@default/webapp->default/staff-service"
    assert (alert.severity, alert.condition) == ("critical", "error_rate")


def test_resolved_event_carries_the_alert_as_it_fired() -> None:
    alert, _ = step(None, seen(0.2), INSTANT, at(0))
    _, events = step(alert, None, INSTANT, at(15))
    assert events[0].alert.fired_at == at(0)
    assert events[0].alert.value == 0.2
