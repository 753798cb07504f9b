"""Block Kit messages: what they say and Block Kit's limits. Pure."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from alerts.model import Alert, Edge, EdgeDetails, Status
from alerts.notify.message import SlackMessage, describe, drilldown_url, render
from alerts.notify.plan import Notice, NoticeKind, plan
from alerts.rootcause import attribute
from edgewatch.mesh.config import MeshFacts
from edgewatch.mesh.objects import Retries
from edgewatch.services import ServiceMap
from tests.alerts.records import STAFF_EXTERNAL, WEBAPP

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DETAILS = EdgeDetails(120, 80, 78, [(504, 78), (200, 40), (503, 2)], [("UT", 78), ("URX", 2)], ["req-1", "req-2"])


def alert(rule: str, edge: Edge, condition: str, value: float, threshold: float) -> Alert:
    return Alert(rule, condition, "critical", edge, Status.FIRING, T0, T0, value, threshold, 120)


ROOT = alert("edge-timeouts", STAFF_EXTERNAL, "timeout_rate", 0.65, 0.02)
CALLER = alert("edge-errors", WEBAPP, "error_rate", 0.4, 0.05)


def firing_message() -> SlackMessage:
    notice = plan(attribute([CALLER, ROOT], ServiceMap([])), set(), {}, {}, T0)[0]
    return render(notice, DETAILS, "https://edgewatch.example.com/", T0 + timedelta(seconds=30))


def test_firing_message_names_root_external_values_callers_and_drilldown() -> None:
    message = firing_message()
    blob = json.dumps(message.blocks, ensure_ascii=False)
    assert message.text.startswith("FIRING [critical] staff-service → 2oujlno5e4.execute-api.us-east-1.amazonaws.com")
    assert "affected callers: webapp" in message.text
    assert "an external host (outside the mesh)" in blob
    assert "timeouts 65.0% &gt; 2%" in blob
    assert "120 (80 errors, 78 timeouts)" in blob
    assert "`504` ×78" in blob and "`UT` ×78" in blob
    assert "`req-1`, `req-2`" in blob
    assert "`webapp → staff-service`: edge-errors errors 40.0% &gt; 5%" in blob
    assert (
        "https://edgewatch.example.com/api/v1/requests?source=staff-service&"
        "destination=2oujlno5e4.execute-api.us-east-1.amazonaws.com&limit=100&status=timeout"
    ) in blob


def test_the_mesh_config_names_the_service_entry_and_the_timeout() -> None:
    notice = plan(attribute([CALLER, ROOT], ServiceMap([])), set(), {}, {}, T0)[0]
    facts = MeshFacts(service_entry="fleetman-driver-monitoring", service_entry_namespace="default",
                      location="MESH_EXTERNAL", timeout_ms=1000, retries=Retries(2, 400),
                      virtual_service="default/fleetman-driver-monitoring")
    blob = json.dumps(render(notice, DETAILS, "http://x", T0, facts).blocks, ensure_ascii=False)
    assert "an external host (ServiceEntry `fleetman-driver-monitoring`, MESH_EXTERNAL)" in blob
    assert ("*Mesh config*\\ntimeout 1,000 ms, 2 retries of 400 ms "
            "(VirtualService `default/fleetman-driver-monitoring`)") in blob
    assert "Mesh config" not in json.dumps(firing_message().blocks)  # nothing configured: no field


def test_resolved_message() -> None:
    incident = plan([ROOT], set(), {}, {}, T0)[0].incident
    resolved = plan([], set(), {incident.edge.key: incident}, {}, T0 + timedelta(minutes=7))[0]
    assert resolved.kind is NoticeKind.RESOLVED
    message = render(resolved, None, "http://x", T0 + timedelta(minutes=7, seconds=5))
    assert message.text == f"RESOLVED: {STAFF_EXTERNAL.label} (edge-timeouts) after 7m 5s"


def test_block_kit_limits_hold_for_long_names() -> None:
    long = Edge("w" * 200, "ns", "s" * 300 + "<&>", "ns", "service")
    many = [alert(f"rule-{i}", long, "latency", 1500.0 + i, 1000.0) for i in range(40)]
    message = render(plan(many, set(), {}, {}, T0)[0], DETAILS, "http://x", T0)
    header = message.blocks[0]["text"]["text"]
    assert len(header) <= 150
    for block in message.blocks:
        assert len(block.get("text", {}).get("text", "")) <= 3000
        assert len(block.get("fields", [])) <= 10
    assert "&lt;&amp;&gt;" in json.dumps(message.blocks)
    assert SlackMessage.from_json(message.to_json()) == message


def test_values_are_described_in_the_rules_unit() -> None:
    cases = {
        "latency": ("latency", 1234.0, 1000.0, "latency 1,234 ms > 1,000 ms"),
        "headroom": ("timeout_headroom", 850.0, 800.0, "p99 of successful calls 850 ms > 800 ms (timeout headroom)"),
        "burn": ("slo_burn_rate", 20.0, 14.4, "error budget burning 20.0x > 14.4x"),
        "errors": ("error_rate", 0.123, 0.05, "errors 12.3% > 5%"),
    }
    for condition, value, threshold, text in cases.values():
        assert describe(replace(ROOT, condition=condition, value=value, threshold=threshold)) == text


def test_drilldown_filters_to_failing_calls_before_timeouts() -> None:
    def status(*conditions: str) -> str | None:
        alerts = tuple(replace(ROOT, condition=condition) for condition in conditions)
        query = parse_qs(urlsplit(drilldown_url("http://x", STAFF_EXTERNAL, alerts)).query)
        return query["status"][0] if "status" in query else None

    assert status("error_rate") == status("slo_burn_rate") == "5xx"
    assert status("timeout_rate") == status("timeout_rate", "latency") == "timeout"
    assert status("timeout_rate", "error_rate") == status("slo_burn_rate", "timeout_rate") == "5xx"
    assert status("latency", "timeout_headroom") is None


def update_notice() -> Notice:
    opened = plan([ROOT], set(), {}, {}, T0)[0].incident
    later = replace(CALLER, active_since=T0 + timedelta(minutes=3), fired_at=T0 + timedelta(minutes=3))
    log = {opened.edge.key: opened}
    notices = plan(attribute([later, ROOT], ServiceMap([])), set(), log, {}, T0 + timedelta(minutes=3))
    assert [n.kind for n in notices] == [NoticeKind.UPDATE]
    return notices[0]


def test_update_is_a_short_note_that_the_caller_joins_plus_the_whole_message_to_edit() -> None:
    message = render(update_notice(), DETAILS, "https://edgewatch.example.com", T0 + timedelta(minutes=3))
    assert message.text == f"UPDATE: webapp joins the open incident {STAFF_EXTERNAL.label} (firing since 12:00 UTC)"
    assert message.reply
    note = json.dumps(message.blocks, ensure_ascii=False)
    assert all(block["type"] != "header" for block in message.blocks)  # a follow-up, not a page
    assert "`webapp → staff-service`: edge-errors errors 40.0% &gt; 5%" in note
    assert "timeouts 65.0%" not in note  # the root's values are in the incident's message

    assert message.edit is not None
    edited = json.dumps(message.edit.blocks, ensure_ascii=False)
    assert message.edit.text.startswith(f"FIRING [critical] {STAFF_EXTERNAL.label}: timeouts 65.0% > 2%")
    assert "affected callers: webapp (new)" in message.edit.text
    assert message.edit.blocks[0]["text"]["text"].startswith(":red_circle: FIRING · critical")
    assert "timeouts 65.0% &gt; 2%" in edited and "`504` ×78" in edited
    assert ":new: `webapp → staff-service`: edge-errors errors 40.0% &gt; 5%" in edited
    assert SlackMessage.from_json(message.to_json()) == message


def test_update_for_a_new_rule_on_the_root_edge_says_it_now_fires_too() -> None:
    opened = plan([ROOT], set(), {}, {}, T0)[0].incident
    errors = alert("edge-errors", STAFF_EXTERNAL, "error_rate", 0.7, 0.05)
    [notice] = plan([ROOT, errors], set(), {opened.edge.key: opened}, {}, T0 + timedelta(minutes=1))
    message = render(notice, DETAILS, "http://x", T0 + timedelta(minutes=1))
    assert message.text == (
        f"UPDATE: edge-errors now also fires on the open incident {STAFF_EXTERNAL.label} (firing since 12:00 UTC)"
    )
    assert message.edit is not None
    assert ":new: *edge-errors* (critical): errors 70.0% &gt; 5%" in json.dumps(message.edit.blocks)


def test_resolved_message_carries_the_incident_message_marked_resolved() -> None:
    opened = update_notice().incident
    resolved = plan([], set(), {opened.edge.key: opened}, {}, T0 + timedelta(minutes=7))[0]
    message = render(resolved, None, "http://x", T0 + timedelta(minutes=7, seconds=5))
    assert message.edit is not None and not message.reply
    assert message.edit.text == message.text
    assert message.edit.blocks[0]["text"]["text"].startswith(":white_check_mark: RESOLVED · critical")
    edited = json.dumps(message.edit.blocks, ensure_ascii=False)
    assert "*Affected callers:* webapp" in edited and "lasted 7m 5s" in edited
    assert SlackMessage.from_json(message.to_json()) == message


def test_firing_message_has_nothing_to_edit() -> None:
    message = firing_message()
    assert message.edit is None and not message.reply
    assert set(json.loads(message.to_json())) == {"text", "blocks"}


def test_block_kit_limits_hold_for_an_update_with_many_long_callers() -> None:
    root = alert("edge-timeouts", Edge("w" * 200, "ns", "x" * 300, "", "external"), "timeout_rate", 0.5, 0.02)
    opened = plan([root], set(), {}, {}, T0)[0].incident
    callers = [
        alert("edge-errors", Edge(f"c{i}" + "c" * 200, "ns", "w" * 200, "ns"), "error_rate", 0.4, 0.05)
        for i in range(60)
    ]
    [notice] = plan(attribute([root, *callers], ServiceMap([])), set(), {opened.edge.key: opened}, {}, T0)
    message = render(notice, DETAILS, "http://x", T0)
    assert message.edit is not None and len(notice.joined) == 60
    for block in message.blocks + message.edit.blocks:
        assert len(block.get("text", {}).get("text", "")) <= 3000
        assert all(len(e["text"]) <= 3000 for e in block.get("elements", []))
    assert len(message.text) <= 3000 and len(message.edit.blocks[0]["text"]["text"]) <= 150


def test_callers_from_outside_the_mesh_are_named_so() -> None:
    users = alert("edge-errors", Edge("unknown", "", "webapp", "default"), "error_rate", 0.3, 0.05)
    notice = plan(attribute([users, CALLER, ROOT], ServiceMap([])), set(), {}, {}, T0)[0]
    message = render(notice, DETAILS, "http://x", T0)
    assert "affected callers: unknown (outside the mesh), webapp" in message.text
