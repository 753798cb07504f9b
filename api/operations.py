"""The HTTP face of a process without the API: ``/healthz``, ``/readyz`` and ``/metrics`` only.

``edgewatch ingest`` serves it on ``EDGEWATCH_INGEST_PORT`` (launch/cli.py), so that an
orchestrator can tell an ingester whose inserts fail (ready: no) from one that works, and
Prometheus can scrape its lag and insert metrics. Nothing here touches ClickHouse or Kafka:
``/readyz`` asks the process's parts (:class:`api.routes.health.ReadinessCheck`).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from api.routes.health import ReadinessCheck, failing_check
from edgewatch.metrics import REGISTRY


def create_operations_app(title: str, checks: Sequence[ReadinessCheck]) -> FastAPI:
    """Answers ``/readyz`` 200 while no check reports a problem, else 503 with the first."""
    app = FastAPI(title=title, summary="Liveness, readiness and Prometheus metrics of one process.",
                  version="0.1.0")

    @app.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Every part of the process does its work",
             responses={503: {"description": "Not ready, with the reason"}})
    def readyz() -> JSONResponse:
        if (problem := failing_check(checks)) is not None:
            return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", summary="Prometheus text", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(REGISTRY.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
