"""One evaluation of every rule at ``now``: queries -> state machine -> root cause ->
silences -> notification plan -> persistence. APScheduler only decides when it runs.

Order of writes, chosen so that a crash at any point neither loses nor repeats a message:
transitions (``alert_events``), then alert state (``alert_state``), then the notices in one
insert (``notifications``). A crash before the last write leaves state that the next
evaluation re-plans from: the notices are planned from the alerts and the notification
log, not from this evaluation's transitions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from alerts import queries, store
from alerts.conditions import CONDITIONS
from alerts.conditions.base import Samples
from alerts.model import Alert, AlertEvent
from alerts.notify.message import SlackMessage, render
from alerts.notify.plan import Notice, plan
from alerts.notify.queue import NotificationQueue
from alerts.rootcause import attribute
from alerts.rules import Rule
from alerts.silences import load_silences, silenced_ids
from alerts.state import end, step_rule
from edgewatch import snapshot
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.metrics import REGISTRY
from edgewatch.services import SERVING_LOOKBACK, service_map
from edgewatch.settle import settled_until
from edgewatch.windows import STORED_UNTIL

EVALUATIONS = REGISTRY.histogram("edgewatch_alert_evaluation_seconds", "Time to evaluate every rule once.")
ACTIVE = REGISTRY.gauge("edgewatch_alerts", "Active alerts by status.")


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation found and did."""

    at: datetime
    alerts: tuple[Alert, ...]  # pending and firing, with root causes
    events: tuple[AlertEvent, ...]
    notices: tuple[Notice, ...]
    silenced: frozenset[str]
    seconds: float


class Evaluator:
    """Evaluates ``rules`` against ClickHouse and hands notices to ``queue``.

    The state of every alert is loaded from ``alert_state`` on construction and kept in
    memory after that; the evaluator must be the only one writing alert state. ``evaluate``
    calls must not overlap and their ``now`` must not go backwards. ``db_lock`` guards the
    client, which the queue's delivery thread uses too. ``mesh``: the mesh's own config
    (configured timeouts), read again when it changes.
    """

    def __init__(
        self,
        client: Client,
        rules: Sequence[Rule],
        queue: NotificationQueue,
        public_url: str,
        db_lock: threading.RLock,
        mesh: MeshConfigSource | None = None,
    ) -> None:
        self._client = client
        self._mesh = mesh or MeshConfigSource(None)
        self.rules = {rule.name: rule for rule in rules}
        self._repeat = {name: rule.repeat_interval for name, rule in self.rules.items()}
        self._queue = queue
        self._public_url = public_url
        self._lock = db_lock
        with self._lock:
            self._alerts = {alert.id: alert for alert in store.load_alerts(client)}

    @property
    def alerts(self) -> list[Alert]:
        return list(self._alerts.values())

    def evaluate(self, now: datetime) -> Evaluation:
        """Evaluate every rule at ``now``, persist the outcome and queue the notices (delivery
        is the queue's job). Raises ClickHouse errors; state is then left as it was."""
        started = time.perf_counter()
        with self._lock:
            active, events = self._step_all(now)
            alerts: list[Alert] = []
            silenced: set[str] = set()
            if active:  # usually nothing is active: skip the service map and silences then
                alerts = attribute(active, service_map(self._client, now - SERVING_LOOKBACK))
                silenced = silenced_ids(alerts, load_silences(self._client, now), now)
            notices = plan(alerts, silenced, self._queue.incidents, self._repeat, now)
            messages = [(notice, self._render(notice, now)) for notice in notices]
            still_active = {alert.id for alert in alerts}
            ended = [event.alert for event in events if event.alert.id not in still_active]
            store.record_events(self._client, events)
            store.save_alerts(self._client, alerts, ended, now)
            self._queue.enqueue(messages, now)
            self._alerts = {alert.id: alert for alert in alerts}
        seconds = time.perf_counter() - started
        EVALUATIONS.observe(seconds)
        for status in ("pending", "firing"):
            ACTIVE.set(sum(1 for a in alerts if a.status == status), status=status)
        return Evaluation(now, tuple(alerts), tuple(events), tuple(notices), frozenset(silenced), seconds)

    def _step_all(self, now: datetime) -> tuple[list[Alert], list[AlertEvent]]:
        """Run the state machine for every (rule, edge) observed now or active before."""
        active: list[Alert] = []
        events: list[AlertEvent] = []
        mesh = self._mesh.refresh()
        # Once for every rule of this evaluation: where settling stands, and the callee-only calls
        # after that point, matched once instead of by each of the rules' windows.
        settled = settled_until(self._client)
        tail = snapshot.take(self._client, settled, now, STORED_UNTIL)
        for rule in self.rules.values():
            observed = {obs.edge: obs for obs in queries.observe(self._client, rule, now, mesh, settled, tail)}
            before = {a.edge: a for a in self._alerts.values() if a.rule == rule.name}
            alerts, happened = step_rule(before, observed, rule, now)
            active += alerts.values()
            events += happened
        events += [end(a, now) for a in self._alerts.values() if a.rule not in self.rules]
        return active, events

    def _render(self, notice: Notice, now: datetime) -> SlackMessage | None:
        if not notice.deliver:
            return None
        facts = self._mesh.config.for_edge(notice.incident.edge)
        if not notice.alerts:
            return render(notice, None, self._public_url, now, facts)
        window = max(self.rules[a.rule].condition.detail_window() for a in notice.alerts if a.rule in self.rules)
        slow = all(CONDITIONS[a.condition].samples is Samples.SLOWEST for a in notice.alerts)
        details = queries.edge_details(self._client, notice.incident.edge, now, window, slow)
        return render(notice, details, self._public_url, now, facts)
