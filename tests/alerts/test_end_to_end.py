"""End to end: records published to the real Kafka broker, stored by the real ingester in the
real engine, evaluated by the alert service, delivered to a local Slack stand-in.

The fault: staff-service's calls to an external API time out (504, flag UT) and webapp's
calls to staff-service fail (503) because of it. Slack must get one message, about the
external edge, naming webapp as affected; then nothing more across a restart; then one
resolve message once the fault is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from alerts.model import Edge
from alerts.rules import Rule, load_rules
from alerts.service import AlertService
from alerts.silences import new_silence, save_silence
from edgewatch.settings import Settings
from tests.alerts.records import STAFF_EXTERNAL, TRACKER, WEBAPP, ndjson, recent_minute, traffic
from tests.alerts.slack_server import CHANNEL_ID, SlackStandIn

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

B = recent_minute()
INBOUND = Edge("webapp", "default", "staff-service", "default", "service")


def at(seconds: float) -> datetime:
    return B + timedelta(seconds=seconds)


def fast_rules() -> list[Rule]:
    """The shipped rules that react within a minute (the burn-rate rules need hours to clear)."""
    return [r for r in load_rules() if r.name in ("edge-errors", "edge-timeouts")]


def healthy(start: float, end: float) -> list[dict[str, Any]]:
    return (
        traffic(WEBAPP, at(start), at(end), every=0.5)
        + traffic(INBOUND, at(start), at(end), every=0.5, reporter="destination", destination_workload="staff-service")
        + traffic(STAFF_EXTERNAL, at(start), at(end), every=0.5, duration_ms=80.0)
        + traffic(TRACKER, at(start), at(end), every=0.5)
    )


def fault(start: float, end: float) -> list[dict[str, Any]]:
    return (
        traffic(WEBAPP, at(start), at(end), every=0.5, code=503, duration_ms=1000.0)
        + traffic(STAFF_EXTERNAL, at(start), at(end), every=0.5, code=504, flags="UT", duration_ms=1000.0)
        + traffic(TRACKER, at(start), at(end), every=0.5)
    )


@pytest.fixture
def deliver(
    make_settings: Callable[..., Settings], publish: Callable[..., None], ingest: Callable[[Settings], Any]
) -> Callable[[list[dict[str, Any]]], Settings]:
    def run(records: list[dict[str, Any]]) -> Settings:
        settings = make_settings()
        publish(settings, ndjson(records))
        ingest(settings)
        return settings

    return run


def test_one_message_about_the_root_cause_then_resolved_across_restart_and_outage(
    ch: Client, slack: SlackStandIn, deliver: Callable[[list[dict[str, Any]]], Settings]
) -> None:
    settings = deliver(healthy(-240, 0) + fault(0, 40)).model_copy(update={"slack_webhook_url": slack.webhook_url})
    service = AlertService(settings, ch, rules=fast_rules())

    assert service.evaluate_once(at(20)).notices == ()  # pending: `for` has not passed
    slack.fail_next(500, count=2)  # Slack is down when the alert fires
    fired = service.evaluate_once(at(35))
    assert [n.kind for n in fired.notices] == ["firing"] and slack.messages == []
    assert service.deliver(at(36)) == 0  # still down
    assert service.deliver(at(38)) == 1  # back: delivered

    [message] = slack.messages
    assert message["text"].startswith(f"FIRING [critical] {STAFF_EXTERNAL.label}: ")
    assert "affected callers: webapp" in message["text"]
    by_id = {a.id: a for a in fired.alerts}
    caller = by_id["edge-errors@default/webapp->default/staff-service"]
    assert caller.firing and caller.root_causes == (
        "edge-errors@default/staff-service->/2oujlno5e4.execute-api.us-east-1.amazonaws.com",
        "edge-timeouts@default/staff-service->/2oujlno5e4.execute-api.us-east-1.amazonaws.com",
    )

    restarted = AlertService(settings, ch, rules=fast_rules())  # a restart forgets nothing
    assert {a.id for a in restarted.evaluator.alerts} == set(by_id)
    assert restarted.evaluate_once(at(50)).notices == ()
    assert restarted.deliver(at(60)) == 0 and len(slack.messages) == 1

    deliver(healthy(40, 240))
    cleared = restarted.evaluate_once(at(200))
    assert [n.kind for n in cleared.notices] == ["resolved"] and cleared.alerts == ()
    assert len(slack.messages) == 2
    assert slack.messages[1]["text"].startswith(f"RESOLVED: {STAFF_EXTERNAL.label}")
    assert AlertService(settings, ch, rules=fast_rules()).evaluate_once(at(215)).notices == ()
    assert len(slack.messages) == 2


def test_silenced_root_cause_still_evaluates_but_does_not_notify(
    ch: Client, slack: SlackStandIn, deliver: Callable[[list[dict[str, Any]]], Settings]
) -> None:
    settings = deliver(healthy(-120, 0) + fault(0, 40)).model_copy(update={"slack_webhook_url": slack.webhook_url})
    silence = new_silence(
        rule="*", source="staff-service", destination="*.amazonaws.com", starts_at=at(-60), ends_at=at(60),
        comment="vendor outage, ticket 42", created_by="test", now=at(-60),
    )  # fmt: skip
    save_silence(ch, silence)
    service = AlertService(settings, ch, rules=fast_rules())
    service.evaluate_once(at(20))
    evaluation = service.evaluate_once(at(35))
    assert len([a for a in evaluation.alerts if a.firing]) == 3
    assert evaluation.silenced == {a.id for a in evaluation.alerts if a.edge == STAFF_EXTERNAL}
    assert slack.messages == []  # neither the root cause nor its symptom
    service.evaluate_once(at(65))  # the silence ended: now it notifies
    assert [m["text"].split(":")[0] for m in slack.messages] == [f"FIRING [critical] {STAFF_EXTERNAL.label}"]


def root_fault(start: float, end: float) -> list[dict[str, Any]]:
    """The external API times out; webapp's calls to staff-service still succeed."""
    return (
        traffic(STAFF_EXTERNAL, at(start), at(end), every=0.5, code=504, flags="UT", duration_ms=1000.0)
        + traffic(WEBAPP, at(start), at(end), every=0.5)
        + traffic(TRACKER, at(start), at(end), every=0.5)
    )


@pytest.mark.parametrize("via", ["bot", "webhook"])
def test_caller_failing_after_the_page_joins_the_incident_without_a_page_of_its_own(
    ch: Client, slack: SlackStandIn, deliver: Callable[[list[dict[str, Any]]], Settings], via: str
) -> None:
    slack_settings: dict[str, Any] = (
        {"slack_bot_token": "xoxb-test", "slack_channel": "#alerts", "slack_api_url": slack.api_url}
        if via == "bot"
        else {"slack_webhook_url": slack.webhook_url}
    )
    settings = deliver(healthy(-240, 0) + root_fault(0, 40))
    settings = settings.model_copy(update=slack_settings)
    service = AlertService(settings, ch, rules=fast_rules())

    service.evaluate_once(at(20))  # the root cause is pending
    assert [n.kind for n in service.evaluate_once(at(35)).notices] == ["firing"]  # webapp is healthy still
    caller_id = "edge-errors@default/webapp->default/staff-service"
    deliver(fault(40, 100))  # from now on webapp's calls fail too
    joining = service.evaluate_once(at(50))  # webapp's errors: pending, a symptom
    assert joining.notices == () and {a.id: a.status for a in joining.alerts}[caller_id] == "pending"

    restarted = AlertService(settings, ch, rules=fast_rules())  # a restart between page and update
    joined = restarted.evaluate_once(at(65))
    caller = {a.id: a for a in joined.alerts}[caller_id]
    assert caller.firing and caller.root_causes  # a symptom of the external edge
    assert [(n.kind, n.incident.edge) for n in joined.notices] == [("update", STAFF_EXTERNAL)]
    assert restarted.evaluate_once(at(80)).notices == ()

    pages = [m for m in slack.messages if m["text"].startswith("FIRING")]
    assert len(pages) == 1 and pages[0]["text"].startswith(f"FIRING [critical] {STAFF_EXTERNAL.label}: ")
    assert "webapp" not in pages[0]["text"]  # it was not affected yet when the page went out
    [note] = [m for m in slack.messages if m["text"].startswith("UPDATE")]
    assert note["text"].startswith(f"UPDATE: webapp joins the open incident {STAFF_EXTERNAL.label} (firing since ")
    assert len(slack.messages) == 2
    if via == "bot":
        [page] = slack.channel_view()  # one message in the channel: the page, edited
        [edit] = slack.updates
        assert (edit["channel"], edit["ts"]) == (CHANNEL_ID, page["ts"]) and note["thread_ts"] == page["ts"]
        assert page["text"].startswith(f"FIRING [critical] {STAFF_EXTERNAL.label}: ")
        assert "affected callers: webapp (new)" in page["text"]
    else:
        assert slack.updates == []

    deliver(healthy(100, 300))
    assert [n.kind for n in restarted.evaluate_once(at(240)).notices] == ["resolved"]
    assert slack.messages[-1]["text"].startswith(f"RESOLVED: {STAFF_EXTERNAL.label}")
    if via == "bot":
        assert [m["text"].split(":")[0] for m in slack.channel_view()] == ["RESOLVED", "RESOLVED"]
