"""Alert state and transitions in ClickHouse: ``alert_state`` and ``alert_events``.

``alert_state`` is a ReplacingMergeTree keyed by alert id and versioned by the evaluation
time that wrote the row: ``save_alerts`` writes every active alert and an ``inactive`` row
for every alert that ended, and ``load_alerts`` reads back what is pending or firing. That
is how a restarted evaluator carries on where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from alerts.model import Alert, AlertEvent, Edge, EventKind, Status, utc
from edgewatch.calls import epoch_ms
from edgewatch.edge import KEY_COLUMNS

_ALERT = ["alert_id", "rule", "condition", "severity", *KEY_COLUMNS]
_MEASURE = ["value", "threshold", "requests", "root_causes"]
_TIMES = ["active_since", "fired_at"]
STATE_COLUMNS = [*_ALERT, "status", *_TIMES, *_MEASURE, "updated_at"]
EVENT_COLUMNS = ["at", "event", *_ALERT, *_TIMES, *_MEASURE]


def _alert_fields(alert: Alert) -> list[Any]:
    return [alert.id, alert.rule, alert.condition, alert.severity, *alert.edge.columns()]


def _measures(alert: Alert) -> list[Any]:
    return [alert.active_since, alert.fired_at, alert.value, alert.threshold, alert.requests, list(alert.root_causes)]


def save_alerts(client: Client, active: Iterable[Alert], ended: Iterable[Alert], now: datetime) -> None:
    """Record the state after the evaluation at ``now``: active alerts as they are, ended ones as inactive."""
    rows = [[*_alert_fields(a), str(a.status), *_measures(a), now] for a in active]
    rows += [[*_alert_fields(a), "inactive", *_measures(a), now] for a in ended]
    if rows:
        client.insert("alert_state", rows, column_names=STATE_COLUMNS)


def load_alerts(client: Client) -> list[Alert]:
    """Every alert that is pending or firing according to the last evaluation that stored state."""
    rows = client.query(
        f"SELECT {', '.join(STATE_COLUMNS)} FROM alert_state FINAL WHERE status != 'inactive' ORDER BY alert_id"
    ).result_rows
    return [_alert(dict(zip(STATE_COLUMNS, row, strict=True))) for row in rows]


def record_events(client: Client, events: Sequence[AlertEvent]) -> None:
    rows = [[e.at, str(e.kind), *_alert_fields(e.alert), *_measures(e.alert)] for e in events]
    if rows:
        client.insert("alert_events", rows, column_names=EVENT_COLUMNS)


def load_events(
    client: Client,
    since: datetime,
    until: datetime,
    rule: str | None = None,
    source: str | None = None,
    destination: str | None = None,
    limit: int = 100,
) -> list[AlertEvent]:
    """Transitions in ``[since, until]``, newest first, optionally for one rule, source or destination."""
    rows = client.query(
        f"""SELECT {", ".join(EVENT_COLUMNS)} FROM alert_events
            WHERE at >= fromUnixTimestamp64Milli({{since_ms:Int64}}, 'UTC')
              AND at <= fromUnixTimestamp64Milli({{until_ms:Int64}}, 'UTC')
              AND ({{rule:String}} = '' OR rule = {{rule:String}})
              AND ({{source:String}} = '' OR source_workload = {{source:String}})
              AND ({{destination:String}} = '' OR destination_service = {{destination:String}})
            ORDER BY at DESC, alert_id LIMIT {{limit:UInt32}}""",
        parameters={
            "since_ms": epoch_ms(since),
            "until_ms": epoch_ms(until),
            "rule": rule or "",
            "source": source or "",
            "destination": destination or "",
            "limit": limit,
        },
    ).result_rows
    events = []
    for row in rows:
        record = dict(zip(EVENT_COLUMNS, row, strict=True))
        record["status"] = "pending" if record["fired_at"] is None else "firing"
        events.append(AlertEvent(EventKind(record["event"]), utc(record["at"]), _alert(record)))
    return events


def _alert(record: dict[str, Any]) -> Alert:
    """An Alert from a row of alert_state or alert_events, as a column -> value mapping."""
    return Alert(
        rule=record["rule"],
        condition=record["condition"],
        severity=record["severity"],
        edge=Edge(*(record[name] for name in KEY_COLUMNS)),
        status=Status(record["status"]),
        active_since=utc(record["active_since"]),
        fired_at=utc(record["fired_at"]) if record["fired_at"] is not None else None,
        value=float(record["value"]),
        threshold=float(record["threshold"]),
        requests=int(record["requests"]),
        root_causes=tuple(record["root_causes"]),
    )
