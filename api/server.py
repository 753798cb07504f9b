"""``edgewatch api``: serve the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from edgewatch.clickhouse import connect
from edgewatch.settings import Settings


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Blocks serving on ``host:port`` (default ``settings.api_host``/``api_port``).

    Opens ClickHouse itself: with the embedded engine, no other process may hold the folder
    (use ``edgewatch up`` to run the ingester in the same process).
    """
    app = create_app(settings, connect(settings.clickhouse_url))
    uvicorn.run(
        app,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",
    )
