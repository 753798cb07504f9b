"""``edgewatch up``: ingester, API and alert evaluator (and the rollup settler) in one process.

The embedded ClickHouse engine allows one process per data folder, so in that mode the
three services share the process (each with its own client on the shared engine). With a
ClickHouse server this works the same; compose.yaml runs them as separate containers instead.

Shutdown (SIGINT/SIGTERM, handled by uvicorn): the API stops, then the ingester stores and
commits the batch in hand, then the alert scheduler finishes a running evaluation.
"""

from __future__ import annotations

import logging
import threading

import uvicorn

from alerts.service import AlertService
from api.app import create_app
from edgewatch.clickhouse import connect
from edgewatch.migrate import migrate
from edgewatch.settings import Settings
from edgewatch.settle import start_settler
from ingest.service import Ingester

log = logging.getLogger(__name__)


def run_all(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Blocks until a signal stops the API server; raises on a start-up failure."""
    client = connect(settings.clickhouse_url)
    migrate(client, settings.raw_ttl_days)
    stop = threading.Event()
    ingester = Ingester(settings, lambda: connect(settings.clickhouse_url))
    alerts = AlertService(settings, connect(settings.clickhouse_url))
    app = create_app(settings, client)
    app.state.alerts = alerts
    server = uvicorn.Server(uvicorn.Config(
        app, host=host or settings.api_host, port=port or settings.api_port,
        log_level=settings.log_level.lower(), access_log=False,
    ))

    def ingest() -> None:
        try:
            ingester.run(stop=stop)
        except Exception:
            log.exception("the ingester stopped with an error; shutting down")
            server.should_exit = True

    worker = threading.Thread(target=ingest, name="edgewatch-ingest")
    worker.start()
    settler = start_settler(connect(settings.clickhouse_url), stop)
    alerts.start()
    log.info("edgewatch up: API on http://%s:%d, ingesting %s from %s",
             server.config.host, server.config.port, settings.kafka_topic, settings.kafka_bootstrap)
    try:
        server.run()
    finally:
        stop.set()
        worker.join()
        settler.join(timeout=30)
        alerts.shutdown()
        log.info("edgewatch up: stopped")
