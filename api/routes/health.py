"""Operations: liveness, readiness, and Prometheus metrics. Never behind the token."""

from __future__ import annotations

from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import ClientDep
from edgewatch.metrics import REGISTRY
from edgewatch.migrate import MigrationError, pending

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="ClickHouse answers and every migration is applied",
            responses={503: {"description": "Not ready, with the reason"}})
def readyz(client: ClientDep) -> JSONResponse:
    try:
        todo = pending(client)
    except (ClickHouseError, MigrationError, OSError) as error:
        return _not_ready(str(error))
    if todo:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in todo)
        return _not_ready(f"migrations not applied: {names}; run `edgewatch migrate`")
    return JSONResponse({"status": "ready"})


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)


@router.get("/metrics", summary="Prometheus text: ingestion, consumer lag, API latency",
            response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    return PlainTextResponse(REGISTRY.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
