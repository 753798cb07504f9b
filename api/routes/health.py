"""Operations: liveness, readiness, and Prometheus metrics. Never behind the token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import ClientDep
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.metrics import REGISTRY
from edgewatch.migrate import MigrationError, pending

router = APIRouter(tags=["operations"])


class ReadinessCheck(Protocol):
    """A part of the process that can be unable to do its work (the ingester: ingest.health)."""

    name: str

    def problem(self) -> str | None:
        """None while it works, else why not, for people; never blocks, never raises."""
        ...


def failing_check(checks: Sequence[ReadinessCheck]) -> str | None:
    """The first problem of ``checks``, named after its part."""
    for check in checks:
        if (problem := check.problem()) is not None:
            return f"{check.name}: {problem}"
    return None


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="ClickHouse answers, every migration is applied, and the process's parts work",
            responses={503: {"description": "Not ready, with the reason"}})
def readyz(client: ClientDep, request: Request) -> JSONResponse:
    """``details.mesh_config``: the mesh config in use (files, when read) and, when a change
    could not be read, why (the last good config stays in use: still ready). Not ready either
    while a part of the process (``app.state.checks``: in ``edgewatch up``, the ingester, whose
    inserts may be failing) reports a problem."""
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
    if (problem := failing_check(request.app.state.checks)) is not None:
        return _not_ready(problem, details)
    return JSONResponse({"status": "ready", "details": details})


def _not_ready(reason: str, details: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"status": "not ready", "reason": reason, "details": details}, status_code=503)


@router.get("/metrics", summary="Prometheus text: ingestion, consumer lag, API latency",
            response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    return PlainTextResponse(REGISTRY.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
