"""Dependencies of the routes: what ``create_app`` put on ``app.state``, the alert rules, the
bearer token, and the refusal of query parameters a route does not know."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.rules import Rule, load_rules
from edgewatch.health import HealthThresholds
from edgewatch.mesh.config import MeshConfig
from edgewatch.mesh.source import MeshConfigSource
from edgewatch.settings import Settings

Clock = Callable[[], datetime]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


def get_thresholds(request: Request) -> HealthThresholds:
    thresholds: HealthThresholds = request.app.state.thresholds
    return thresholds


def get_now(request: Request) -> datetime:
    """The time of the request, from the app's clock (tests set it)."""
    clock: Clock = request.app.state.clock
    return clock()


def get_mesh(request: Request) -> MeshConfig:
    """The mesh's own config as it is now (read again when its files changed; never raises)."""
    source: MeshConfigSource = request.app.state.mesh
    return source.refresh()


def get_rules(request: Request) -> list[Rule]:
    """The running alerting service's rules (``app.state.alerts``), else the configured file's
    (``RuleError`` -> 500)."""
    service = getattr(request.app.state, "alerts", None)
    if service is not None:
        return list(service.rules)
    return load_rules(get_settings(request).rules_file)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
ThresholdsDep = Annotated[HealthThresholds, Depends(get_thresholds)]
NowDep = Annotated[datetime, Depends(get_now)]
RulesDep = Annotated[list[Rule], Depends(get_rules)]
MeshDep = Annotated[MeshConfig, Depends(get_mesh)]


_BEARER = HTTPBearer(auto_error=False, description="EDGEWATCH_API_TOKEN, when one is set")


def require_token(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    """401 unless the request carries ``Authorization: Bearer <token>`` (when a token is set;
    an empty token means none)."""
    if not settings.api_token:
        return
    given = credentials.credentials.encode() if credentials is not None else b""
    if not secrets.compare_digest(given, settings.api_token.encode()):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token: send 'Authorization: Bearer <EDGEWATCH_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _query_names(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        yield field.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def only_known_params(request: Request) -> None:
    """422 for a query parameter the route does not take (a typo would else be ignored)."""
    dependant: Dependant | None = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known = set(_query_names(dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise RequestValidationError([
            {"type": "value_error", "loc": ("query", name), "input": request.query_params[name],
             "msg": f"unknown query parameter {name!r}; this route takes: {accepted}"}
            for name in unknown
        ])
