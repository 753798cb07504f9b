"""``edgewatch up``: ingester, API and alert evaluator (and the rollup settler) in one process.

The embedded ClickHouse engine allows one process per data folder, so in that mode the
services share the process, each with its own client on the shared engine. With a ClickHouse
server this works the same; compose.yaml runs them as separate containers instead.

Start order: alerts, settler, ingester, API (the API answers once everything behind it runs).
Shutdown (SIGINT/SIGTERM) goes the other way: the API stops accepting, the ingester stores and
commits the batch in hand, the settler and the alert scheduler finish what runs.
"""

from __future__ import annotations

import logging

from alerts.service import AlertService
from api.app import create_app
from edgewatch.settings import Settings
from ingest.service import Ingester
from launch.components import Alerting, Ingesting, Serving, Settling
from launch.database import Database
from launch.lifecycle import Lifecycle, StopRequest
from launch.mesh import open_mesh_config

log = logging.getLogger("edgewatch")


def run_all(settings: Settings, stop: StopRequest, host: str | None = None, port: int | None = None) -> None:
    """Blocks until ``stop`` is set (a signal, or a part that failed), then stops every part.

    Raises StartError when the database, a rule file or the API cannot start, and the error
    of a part that failed while running, once the others have stopped.
    """
    database = Database.open(settings)
    mesh = open_mesh_config(settings)
    alerts = AlertService(settings, database.connect(), mesh=mesh)
    app = create_app(settings, database.client, mesh=mesh)
    app.state.alerts = alerts  # backtests use the running rules
    api = Serving(app, settings, host, port)
    ingester = Ingester(settings, database.connect)
    app.state.checks.append(ingester.health)  # /readyz says so while the ingester's inserts fail

    def started() -> None:
        log.info("edgewatch up: API on %s, ingesting %s from %s",
                 api.url, settings.kafka_topic, settings.kafka_bootstrap)

    Lifecycle([Alerting(alerts), Settling(database.connect()), Ingesting(ingester), api], stop).run(started)
    log.info("edgewatch up: stopped")
