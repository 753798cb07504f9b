"""Silences: matchers on rule, source workload and destination service for a time range.

A silenced alert is still evaluated, stored and shown by the API; it is only left out of
notifications. Matchers are glob patterns (``*`` any run, ``?`` one character) and all of
them must match. Silences live in the ``silences`` table; the HTTP API writes them and the
evaluator reads the active ones at each evaluation, so they work across processes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from alerts.model import Alert, utc
from alerts.rules import glob_regex
from edgewatch.calls import epoch_ms


@dataclass(frozen=True)
class Silence:
    id: str
    rule: str
    source: str
    destination: str
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime
    updated_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        return all(
            re.match(glob_regex(pattern), value) is not None
            for pattern, value in (
                (self.rule, alert.rule),
                (self.source, alert.edge.source),
                (self.destination, alert.edge.destination),
            )
        )


_FIELDS = [field.name for field in fields(Silence)]  # the columns of ``silences``, in this order
_COLUMNS = ", ".join(_FIELDS)


def new_silence(
    *,
    rule: str,
    source: str,
    destination: str,
    starts_at: datetime,
    ends_at: datetime,
    comment: str,
    created_by: str,
    now: datetime,
) -> Silence:
    """A silence with a fresh id; raises ValueError when it would never be active or matches everything."""
    if ends_at <= now:
        raise ValueError("ends_at must be in the future")
    if ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")
    if rule == source == destination == "*":
        raise ValueError("give at least one matcher (rule, source or destination) other than '*'")
    return Silence(uuid.uuid4().hex, rule, source, destination, starts_at, ends_at, comment, created_by, now, now)


def silenced_ids(alerts: Iterable[Alert], silences: Iterable[Silence], now: datetime) -> set[str]:
    """Ids of the alerts that an active silence matches."""
    active = [s for s in silences if s.active(now)]
    return {alert.id for alert in alerts if any(s.matches(alert) for s in active)}


def save_silence(client: Client, silence: Silence) -> None:
    client.insert(
        "silences",
        [[getattr(silence, name) for name in _FIELDS]],
        column_names=_FIELDS,
    )


def load_silences(client: Client, now: datetime, include_expired: bool = False) -> list[Silence]:
    """Silences not yet ended at ``now`` (active or scheduled), newest first; all with ``include_expired``."""
    rows = client.query(
        f"""SELECT {_COLUMNS} FROM silences FINAL
            WHERE {{all:Bool}} OR ends_at > fromUnixTimestamp64Milli({{now_ms:Int64}}, 'UTC')
            ORDER BY created_at DESC, id""",
        parameters={"all": include_expired, "now_ms": epoch_ms(now)},
    ).result_rows
    return [_silence(row) for row in rows]


def get_silence(client: Client, silence_id: str) -> Silence | None:
    rows = client.query(
        f"SELECT {_COLUMNS} FROM silences FINAL WHERE id = {{id:String}}", parameters={"id": silence_id}
    ).result_rows
    return _silence(rows[0]) if rows else None


def expire_silence(client: Client, silence: Silence, now: datetime) -> Silence:
    """End ``silence`` at ``now`` (Alertmanager's expire); returns the stored version."""
    version = max(now, silence.updated_at + timedelta(milliseconds=1))
    expired = replace(silence, ends_at=min(silence.ends_at, now), updated_at=version)
    save_silence(client, expired)
    return expired


def _silence(row: Sequence[Any]) -> Silence:
    values = dict(zip(_FIELDS, row, strict=True))
    for name in ("starts_at", "ends_at", "created_at", "updated_at"):
        values[name] = utc(values[name])
    return Silence(**values)
