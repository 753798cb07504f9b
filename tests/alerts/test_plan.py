"""Notification planning against the notification log, at explicit times: pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alerts.model import Alert, Edge, Status
from alerts.notify.plan import Incident, Notice, plan
from alerts.rootcause import attribute
from edgewatch.services import ServiceMap
from tests.alerts.records import STAFF_EXTERNAL, WEBAPP

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPEAT = {"edge-errors": 3600.0, "edge-timeouts": 4 * 3600.0}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def firing(rule: str, edge=WEBAPP, condition: str = "error_rate", severity: str = "critical") -> Alert:  # type: ignore[no-untyped-def]
    return Alert(rule, condition, severity, edge, Status.FIRING, T0, T0, 0.5, 0.05, 100)


CALLER = firing("edge-errors")
ROOT = firing("edge-timeouts", STAFF_EXTERNAL, "timeout_rate")


class Log:
    """Plays the notification log: applies every notice's incident, like the queue does."""

    def __init__(self) -> None:
        self.incidents: dict[str, Incident] = {}

    def run(self, alerts: list[Alert], now: datetime, silenced: set[str] | None = None) -> list[Notice]:
        notices = plan(attribute(alerts, ServiceMap([])), silenced or set(), self.incidents, REPEAT, now)
        for notice in notices:
            self.incidents[notice.incident.edge.key] = notice.incident
        return notices


def kinds(notices: list[Notice]) -> list[tuple[str, str]]:
    return [(str(n.kind), n.incident.edge.source) for n in notices]


def test_one_message_about_the_root_listing_affected_callers() -> None:
    log = Log()
    notices = log.run([CALLER, ROOT], at(0))
    assert kinds(notices) == [("firing", "staff-service")]
    assert [a.rule for a in notices[0].alerts] == ["edge-timeouts"]
    assert [a.edge for a in notices[0].affected] == [WEBAPP]
    assert log.run([CALLER, ROOT], at(1)) == []  # still firing: nothing new


def test_reminder_after_the_repeat_interval_then_resolved_once() -> None:
    log = Log()
    first = log.run([ROOT], at(0))[0]
    assert log.run([ROOT], at(239)) == []
    reminder = log.run([ROOT], at(240))
    assert kinds(reminder) == [("reminder", "staff-service")]
    assert reminder[0].id == f"{first.incident.incident_id}:reminder:1"
    assert log.run([ROOT], at(241)) == []
    resolved = log.run([], at(250))
    assert kinds(resolved) == [("resolved", "staff-service")]
    assert resolved[0].incident.rules == ("edge-timeouts",)
    assert log.run([], at(251)) == []


def test_pending_alerts_do_not_notify() -> None:
    assert Log().run([replace(ROOT, status=Status.PENDING, fired_at=None)], at(0)) == []


def test_root_resolves_while_callers_still_fail_then_they_are_notified_alone() -> None:
    log = Log()
    log.run([CALLER, ROOT], at(0))
    notices = log.run([CALLER], at(5))
    assert sorted(kinds(notices)) == [("firing", "webapp"), ("resolved", "staff-service")]


def test_caller_notified_first_stays_open_as_a_symptom_and_resolves_with_it() -> None:
    log = Log()
    assert kinds(log.run([CALLER], at(0))) == [("firing", "webapp")]
    notices = log.run([CALLER, ROOT], at(1))
    assert kinds(notices) == [("firing", "staff-service")]
    assert log.run([CALLER, ROOT], at(200)) == []  # the symptom's incident gets no reminders
    assert sorted(kinds(log.run([], at(201)))) == [("resolved", "staff-service"), ("resolved", "webapp")]


def test_silenced_root_sends_nothing_for_root_or_symptoms() -> None:
    log = Log()
    assert log.run([CALLER, ROOT], at(0), silenced={ROOT.id}) == []
    assert log.run([CALLER, ROOT], at(1), silenced={ROOT.id}) == []
    assert kinds(log.run([CALLER, ROOT], at(2))) == [("firing", "staff-service")]  # silence over


def test_silenced_after_firing_closes_without_a_message() -> None:
    log = Log()
    log.run([ROOT], at(0))
    closed = log.run([ROOT], at(1), silenced={ROOT.id})
    assert kinds(closed) == [("closed", "staff-service")]
    assert not closed[0].deliver
    assert log.run([ROOT], at(2), silenced={ROOT.id}) == []


def test_two_rules_on_one_edge_make_one_notification_with_the_worst_severity() -> None:
    errors = firing("edge-errors", STAFF_EXTERNAL, "error_rate", severity="warning")
    notices = Log().run([errors, ROOT], at(0))
    assert len(notices) == 1
    assert notices[0].incident.severity == "critical"
    assert [a.rule for a in notices[0].alerts] == ["edge-timeouts", "edge-errors"]


def pending(alert: Alert) -> Alert:
    return replace(alert, status=Status.PENDING, fired_at=None)


def test_caller_that_fires_later_joins_the_open_incident_with_one_update_never_a_page() -> None:
    log = Log()
    [opened] = log.run([ROOT], at(0))
    assert opened.incident.affected == ()
    assert log.run([pending(CALLER), ROOT], at(1)) == []  # pending: listed from now on, not news yet
    notices = log.run([CALLER, ROOT], at(2))
    assert kinds(notices) == [("update", "staff-service")]  # no page about webapp's own edge
    [update] = notices
    assert update.id == f"{opened.incident.incident_id}:update:1"
    assert update.joined == (WEBAPP,) and update.new_rules == ()
    assert [a.edge for a in update.affected] == [WEBAPP]
    assert update.incident.affected == (WEBAPP,) and update.incident.open
    assert log.run([CALLER, ROOT], at(3)) == []  # planned once
    assert log.run([CALLER, ROOT], at(200)) == []
    resolved = log.run([], at(210))
    assert kinds(resolved) == [("resolved", "staff-service")]
    assert resolved[0].incident.affected == (WEBAPP,)


def test_no_update_when_nothing_is_new() -> None:
    log = Log()
    assert kinds(log.run([CALLER, ROOT], at(0))) == [("firing", "staff-service")]
    assert log.run([ROOT], at(1)) == []  # the caller recovers ...
    assert log.run([CALLER, ROOT], at(2)) == []  # ... and fails again: the channel knows it already
    assert log.run([pending(CALLER), ROOT], at(3)) == []


def test_second_caller_joining_updates_and_keeps_the_first() -> None:
    log = Log()
    log.run([CALLER, ROOT], at(0))
    frontend = Edge("frontend", "default", "staff-service", "default", "service")
    notices = log.run([CALLER, firing("edge-errors", frontend), ROOT], at(1))
    assert kinds(notices) == [("update", "staff-service")]
    assert notices[0].joined == (frontend,)
    assert notices[0].incident.affected == (frontend, WEBAPP)


def test_a_rule_that_starts_firing_on_the_root_edge_updates_the_incident() -> None:
    log = Log()
    log.run([ROOT], at(0))
    errors = firing("edge-errors", STAFF_EXTERNAL, "error_rate")
    [update] = log.run([ROOT, errors], at(1))
    assert update.kind == "update" and update.new_rules == ("edge-errors",) and update.joined == ()
    assert update.incident.rules == ("edge-timeouts", "edge-errors")
    assert log.run([ROOT, errors], at(2)) == []
    assert log.run([ROOT], at(3)) == [] and log.run([ROOT, errors], at(4)) == []  # it came back: not news


def test_update_restarts_the_reminder_clock_and_wins_over_a_due_reminder() -> None:
    log = Log()
    log.run([ROOT], at(0))
    assert kinds(log.run([CALLER, ROOT], at(240))) == [("update", "staff-service")]  # the reminder was due too
    assert log.run([CALLER, ROOT], at(479)) == []
    [reminder] = log.run([CALLER, ROOT], at(480))
    assert reminder.kind == "reminder" and reminder.id.endswith(":reminder:2")
    assert reminder.incident.affected == (WEBAPP,)


def test_update_is_planned_while_the_firing_is_still_queued() -> None:
    """The plan reads the notification log, not deliveries: the firing is logged when it is
    queued, so a caller joining before Slack took the firing still gets an update (that the
    queue delivers after the firing), not a page."""
    log = Log()
    [opened] = log.run([ROOT], at(0))  # queued; Slack may be down
    [update] = log.run([CALLER, ROOT], at(0.25))
    assert update.kind == "update" and update.incident.incident_id == opened.incident.incident_id
