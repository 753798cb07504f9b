"""The alerting service: rules, evaluator and notification queue, driven by APScheduler.

Two interval jobs on a ``BackgroundScheduler``, each with ``max_instances=1`` and
``coalesce=True`` (no overlapping runs; missed runs collapse into one):

- ``evaluate`` every ``EDGEWATCH_EVAL_INTERVAL`` (default 15s), on a grid aligned to the
  interval; it evaluates at the grid time (so ``for: 15s`` means two evaluations 15 s apart
  exactly) and then delivers what it queued;
- ``deliver`` every second: retries queued messages once their backoff has passed.

The process that runs it (``launch``: ``edgewatch alerts`` or ``edgewatch up``) gives it a
client of its own, calls ``start()`` and, on shutdown, ``shutdown()``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from clickhouse_connect.driver.client import Client

from alerts.evaluate import Evaluation, Evaluator
from alerts.notify.queue import NotificationQueue
from alerts.notify.senders import Sender, build_sender
from alerts.rules import Rule, load_rules
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.settings import Settings

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_SECONDS = 1.0


def wall_clock() -> datetime:
    return datetime.now(UTC)


def grid_time(moment: datetime, interval: float) -> datetime:
    """``moment`` rounded down to a multiple of ``interval`` seconds since the epoch."""
    return datetime.fromtimestamp(math.floor(moment.timestamp() / interval) * interval, UTC)


class AlertService:
    """Alerting for one process. Uses ``client`` from its own threads, one call at a time,
    so give it a client of its own.

    Construction loads the rules (``settings.rules_file`` or the shipped default; raises
    ``RuleError``), the sender (``build_sender``; raises ValueError on half a Slack
    configuration), the alert state and the queued notifications. ``mesh``: the mesh's own
    config (``EDGEWATCH_MESH_CONFIG``), none by default.
    """

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        sender: Sender | None = None,
        rules: list[Rule] | None = None,
        clock: Callable[[], datetime] = wall_clock,
        mesh: MeshConfigSource | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules if rules is not None else load_rules(settings.rules_file)
        self._clock = clock
        db_lock = threading.RLock()
        self.queue = NotificationQueue(client, sender or build_sender(settings), db_lock=db_lock)
        self.evaluator = Evaluator(client, self.rules, self.queue, settings.public_url, db_lock, mesh)
        self._scheduler: BackgroundScheduler | None = None

    def evaluate_once(self, now: datetime) -> Evaluation:
        """Evaluate every rule at ``now``, then deliver what is due. Raises ClickHouse errors."""
        evaluation = self.evaluator.evaluate(now)
        self.queue.deliver_due(now)
        return evaluation

    def deliver(self, now: datetime) -> int:
        """Attempt the queued messages that are due at ``now``; returns how many went out."""
        return self.queue.deliver_due(now)

    def start(self) -> None:
        """Start the scheduler's jobs (background threads); returns at once."""
        interval = self.settings.eval_interval_seconds
        scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        first = grid_time(self._clock(), interval)
        scheduler.add_job(self._evaluate_tick, IntervalTrigger(seconds=interval, start_date=first), id="evaluate")
        scheduler.add_job(self._deliver_tick, IntervalTrigger(seconds=DELIVERY_INTERVAL_SECONDS), id="deliver")
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "alerts: %d rules every %s, notifications to %s",
            len(self.rules),
            self.settings.eval_interval,
            self.queue.sender.name,
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop the jobs; with ``wait``, let a running evaluation or delivery finish first."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None

    def _evaluate_tick(self) -> None:
        now = grid_time(self._clock(), self.settings.eval_interval_seconds)
        try:
            evaluation = self.evaluate_once(now)
        except Exception:  # keep the schedule alive: the next run retries from persisted state
            log.exception("alert evaluation at %s failed", now.isoformat())
            return
        log.debug("evaluated at %s in %.3f s: %d active", now.isoformat(), evaluation.seconds, len(evaluation.alerts))

    def _deliver_tick(self) -> None:
        try:
            self.queue.deliver_due(self._clock())
        except Exception:
            log.exception("notification delivery failed")

