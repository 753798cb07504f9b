"""``create_app``: the FastAPI application, built from one Settings object.

Routes: ``/api/v1/...`` (edges, graph, requests, alerts, silences, backtests) and
``/grafana/...`` need the bearer token when ``EDGEWATCH_API_TOKEN`` is set; the writes (silences
created or expired, backtests) need ``EDGEWATCH_ADMIN_TOKEN`` when that is set; ``/healthz``,
``/readyz``, ``/metrics`` and the graph page (``/``, ``/ui``, ``/ui/...``: it holds no data and
asks for the token itself) are always open. Request bodies over ``EDGEWATCH_API_MAX_BODY_BYTES``
get 413. Nothing is read at import time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.body_limit import BodyLimitMiddleware
from api.deps import Clock, only_known_params, require_token
from api.routes import alerts, backtest, edges, grafana, graph, health, requests, silences, ui
from edgewatch.health import HealthThresholds
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.metrics import REGISTRY
from edgewatch.settings import Settings

API_LATENCY = REGISTRY.histogram(
    "edgewatch_api_request_duration_seconds", "Time the API took to answer, by method, route and status."
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LatencyMiddleware:
    """Observes every HTTP request's duration into ``API_LATENCY`` (route templates, not paths)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), "500"

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            API_LATENCY.observe(time.perf_counter() - started, method=scope["method"], route=route, status=status)


async def _clickhouse_unavailable(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"ClickHouse failed to answer: {error}"}, status_code=503)


def create_app(settings: Settings, client: Client, clock: Clock = _utcnow, mesh: MeshConfigSource | None = None
               ) -> FastAPI:
    """The API over ``client``, which its worker threads share (connects to nothing itself).

    Migrations are not run here (``launch`` runs them before serving); ``/readyz`` reports
    pending ones. ``clock`` gives "now" (tests pass a fixed one). ``mesh``: the mesh's own config
    (``EDGEWATCH_MESH_CONFIG``), none by default. ``app.state.alerts`` starts as None; a process
    that runs the alerting service sets it, and backtests use its rules. ``app.state.checks``
starts empty; a process that runs more parts (``edgewatch up``: the ingester) adds theirs.
    """
    app = FastAPI(
        title="Edgewatch",
        summary="Per-edge request, error and latency numbers of a service mesh, from one record per request.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.client = client
    app.state.thresholds = HealthThresholds.from_settings(settings)
    app.state.clock = clock
    app.state.mesh = mesh or MeshConfigSource(None)
    app.state.alerts = None
    app.state.checks = []  # ReadinessCheck (api/routes/health.py): the process's parts that /readyz asks
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(LatencyMiddleware)  # the outer one: 413s are timed too
    app.add_exception_handler(OperationalError, _clickhouse_unavailable)

    guarded = [Depends(require_token), Depends(only_known_params)]
    for module in (edges, graph, requests, grafana, alerts, silences, backtest):
        app.include_router(module.router, dependencies=guarded)
    app.include_router(health.router)
    app.include_router(ui.page_router())
    app.mount("/ui", ui.static_files(), name="ui")
    return app
