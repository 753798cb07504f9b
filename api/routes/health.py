"""Operations: liveness, readiness, and Prometheus metrics. Never behind the token."""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import ClientDep
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.metrics import REGISTRY
from edgewatch.migrate import MigrationError, pending

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="ClickHouse answers and every migration is applied",
            responses={503: {"description": "Not ready, with the reason"}})
def readyz(client: ClientDep, request: Request) -> JSONResponse:
    """``details.mesh_config``: the mesh config in use (files, when read) and, when a change
    could not be read, why (the last good config stays in use: still ready)."""
    source: MeshConfigSource = request.app.state.mesh
    source.refresh()
    details = {"mesh_config": source.status.details()}
    try:
        todo = pending(client)
    except (ClickHouseError, MigrationError, OSError) as error:
        return _not_ready(str(error), details)
    if todo:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in todo)
        return _not_ready(f"migrations not applied: {names}; run `edgewatch migrate`", details)
    return JSONResponse({"status": "ready", "details": details})


def _not_ready(reason: str, details: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"status": "not ready", "reason": reason, "details": details}, status_code=503)


@router.get("/metrics", summary="Prometheus text: ingestion, consumer lag, API latency",
            response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    return PlainTextResponse(REGISTRY.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
