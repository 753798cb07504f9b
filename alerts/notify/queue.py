"""The notification queue, persisted in ClickHouse; it doubles as the notification log.

Every planned notice becomes a row of ``notifications`` with a deterministic id (see
plan.py): ``queued`` for messages, ``suppressed`` for the log-only ``closed`` notice. An id
already stored is never enqueued again, and a message marked ``sent`` is never sent again,
so nothing is sent twice, across restarts too. The one gap: a crash after Slack accepted a
message and before ``sent`` was stored sends it once more on restart.

Delivery is first in, first out, one attempt per message per ``deliver_due`` call, never
sleeping: a failed head waits (``backoff``: 1 s doubling to 5 min, or Slack's
``Retry-After``) and holds back the rest, so messages arrive in order once Slack answers.
Permanent failures (e.g. a revoked webhook) are marked ``failed`` and skipped; messages older
than ``max_age`` are ``expired``; beyond ``max_queued`` the oldest are ``dropped``.

Where Slack put a sent message (``Posted``: channel id and ``ts``, which only a bot learns)
is stored with it. An update or a resolved message of an incident is handed to the sender
with where the incident's firing message is, so a bot edits that message in place. The
firing was queued before them, so in-order delivery makes them wait for it; when it never
went out (failed, expired, dropped) or its sender could not say where, they are posted as
new messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from alerts.model import Edge, utc
from alerts.notify.message import SlackMessage
from alerts.notify.plan import Incident, Notice, NoticeKind
from alerts.notify.senders import Posted, Sender
from edgewatch.edge import EDGE_SEPARATOR, KEY_COLUMNS
from edgewatch.metrics import REGISTRY

log = logging.getLogger(__name__)

NOTIFICATIONS = REGISTRY.counter("edgewatch_notifications_total", "Notification attempts by result.")
QUEUE_SIZE = REGISTRY.gauge("edgewatch_notification_queue", "Notifications waiting for delivery.")

COLUMNS = [
    "id",
    "group_key",
    "incident_id",
    "kind",
    "sequence",
    "opened_at",
    "created_at",
    *KEY_COLUMNS,
    "rules",
    "affected",
    "severity",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
    "slack_channel",
    "slack_ts",
    "revision",
]


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: 1, 2, 4 ... at most 300."""
    return float(min(2 ** max(attempts - 1, 0), 300))


@dataclass(frozen=True)
class Outgoing:
    """One row of ``notifications``: a notice, its rendered message, and its delivery state."""

    id: str
    incident: Incident
    created_at: datetime
    payload: str
    status: str
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = ""
    sent_at: datetime | None = None
    posted: Posted | None = None
    revision: int = 0

    def row(self) -> list[Any]:
        i, edge = self.incident, self.incident.edge
        return [
            self.id,
            edge.key,
            i.incident_id,
            str(i.kind),
            i.sequence,
            i.opened_at,
            self.created_at,
            *edge.columns(),
            list(i.rules),
            [EDGE_SEPARATOR.join(e.columns()) for e in i.affected],
            i.severity,
            self.payload,
            self.status,
            self.attempts,
            self.next_attempt_at or self.created_at,
            self.last_error,
            self.sent_at,
            self.posted.channel if self.posted else "",
            self.posted.ts if self.posted else "",
            self.revision,
        ]


def _outgoing(values: Sequence[Any]) -> Outgoing:
    r = dict(zip(COLUMNS, values, strict=True))
    incident = Incident(
        edge=Edge(*(r[name] for name in KEY_COLUMNS)),
        incident_id=r["incident_id"],
        opened_at=utc(r["opened_at"]),
        kind=NoticeKind(r["kind"]),
        sequence=int(r["sequence"]),
        notified_at=utc(r["created_at"]),
        rules=tuple(r["rules"]),
        severity=r["severity"],
        affected=tuple(Edge.from_key(key) for key in r["affected"]),
    )
    return Outgoing(
        r["id"],
        incident,
        utc(r["created_at"]),
        r["payload"],
        r["status"],
        int(r["attempts"]),
        utc(r["next_attempt_at"]),
        r["last_error"],
        utc(r["sent_at"]) if r["sent_at"] else None,
        Posted(r["slack_channel"], r["slack_ts"]) if r["slack_ts"] else None,
        int(r["revision"]),
    )


class NotificationQueue:
    """Persisted, bounded FIFO of Slack messages plus the log of incidents per edge.

    Thread-safe: ``enqueue`` (the evaluator) and ``deliver_due`` (the delivery job) may run
    at once; ClickHouse is used under ``db_lock`` (shared with the evaluator, which owns the
    client) and only one caller delivers at a time. Sending happens outside the lock.
    """

    def __init__(
        self,
        client: Client,
        sender: Sender,
        *,
        max_queued: int = 1000,
        max_age: timedelta = timedelta(hours=24),
        db_lock: threading.RLock | None = None,
    ) -> None:
        self._client = client
        self.sender = sender
        self._max_queued = max_queued
        self._max_age = max_age
        self._lock = db_lock or threading.RLock()
        self._delivering = threading.Lock()
        with self._lock:
            self._queued = [_outgoing(row) for row in self._select("status = 'queued'", order="created_at, id")]
            latest = self._select("1", order="group_key, created_at DESC, sequence DESC LIMIT 1 BY group_key")
            self._incidents = {o.incident.edge.key: o.incident for o in map(_outgoing, latest)}
        QUEUE_SIZE.set(len(self._queued))

    def _select(self, where: str, order: str) -> list[Sequence[Any]]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM notifications FINAL WHERE {where} ORDER BY {order}"
        return list(self._client.query(sql).result_rows)

    @property
    def incidents(self) -> dict[str, Incident]:
        """Edge key -> the newest notification's incident (the notification log)."""
        with self._lock:
            return dict(self._incidents)

    def queued(self) -> list[Outgoing]:
        with self._lock:
            return list(self._queued)

    def enqueue(self, items: Sequence[tuple[Notice, SlackMessage | None]], now: datetime) -> list[str]:
        """Store the notices (messages queued, ``closed`` ones as suppressed) in one insert and
        update the log; returns the ids stored (those already stored are skipped)."""
        with self._lock:
            ids = [notice.id for notice, _ in items]
            known = (
                {
                    row[0]
                    for row in self._client.query(
                        "SELECT id FROM notifications WHERE id IN {ids:Array(String)}", parameters={"ids": ids}
                    ).result_rows
                }
                if ids
                else set()
            )
            fresh = [
                Outgoing(
                    notice.id,
                    notice.incident,
                    now,
                    message.to_json() if message else "",
                    "queued" if notice.deliver and message else "suppressed",
                    next_attempt_at=now,
                )
                for notice, message in items
                if notice.id not in known
            ]
            if fresh:
                self._client.insert("notifications", [o.row() for o in fresh], column_names=COLUMNS)
            for outgoing in fresh:
                self._incidents[outgoing.incident.edge.key] = outgoing.incident
                if outgoing.status == "queued":
                    self._queued.append(outgoing)
            while len(self._queued) > self._max_queued:
                dropped = self._queued[0]
                log.warning("notification queue full (%d): dropping %s", self._max_queued, dropped.id)
                self._finish(dropped, "dropped", now, "queue full")
            QUEUE_SIZE.set(len(self._queued))
            return [o.id for o in fresh]

    def deliver_due(self, now: datetime) -> int:
        """Attempt the due messages in order until one fails; returns how many were delivered.
        Returns 0 at once if another thread is delivering."""
        if not self._delivering.acquire(blocking=False):
            return 0
        delivered = 0
        try:
            while True:
                with self._lock:
                    head = self._queued[0] if self._queued else None
                    if head is None or (head.next_attempt_at and head.next_attempt_at > now):
                        return delivered
                    if now - head.created_at > self._max_age:
                        self._finish(head, "expired", now, head.last_error)
                        continue
                    message = SlackMessage.from_json(head.payload)
                    thread = self._where_firing_went(head.incident) if message.edit or message.reply else None
                result = self.sender.send(message, thread)
                with self._lock:
                    if result.delivered:
                        self._finish(head, "sent", now, posted=result.posted)
                        delivered += 1
                    elif result.permanent:
                        log.error("notification %s refused by %s: %s", head.id, self.sender.name, result.error)
                        self._finish(head, "failed", now, result.error)
                    else:
                        attempts = head.attempts + 1
                        delay = result.retry_after if result.retry_after is not None else backoff(attempts)
                        log.warning("notification %s: %s; retry in %.0f s", head.id, result.error, delay)
                        NOTIFICATIONS.inc(result="retry")
                        retry = replace(
                            head,
                            attempts=attempts,
                            next_attempt_at=now + timedelta(seconds=delay),
                            last_error=result.error,
                            revision=head.revision + 1,
                        )
                        self._client.insert("notifications", [retry.row()], column_names=COLUMNS)
                        self._queued[0] = retry
                        return delivered
        finally:
            self._delivering.release()

    def _where_firing_went(self, incident: Incident) -> Posted | None:
        """Where Slack put the incident's firing message, if it was sent and the sender said
        (caller holds the lock)."""
        rows = self._client.query(
            "SELECT slack_channel, slack_ts FROM notifications FINAL WHERE id = {id:String} AND status = 'sent'",
            parameters={"id": incident.firing_id},
        ).result_rows
        return Posted(rows[0][0], rows[0][1]) if rows and rows[0][1] else None

    def _finish(
        self, outgoing: Outgoing, status: str, now: datetime, error: str = "", posted: Posted | None = None
    ) -> None:
        """Take ``outgoing`` off the queue with its final status (caller holds the lock)."""
        final = replace(
            outgoing,
            status=status,
            sent_at=now if status == "sent" else None,
            posted=posted,
            last_error=error,
            attempts=outgoing.attempts + (status in ("sent", "failed")),
            revision=outgoing.revision + 1,
        )
        self._client.insert("notifications", [final.row()], column_names=COLUMNS)
        self._queued = [o for o in self._queued if o.id != outgoing.id]
        NOTIFICATIONS.inc(result=status)
        QUEUE_SIZE.set(len(self._queued))
