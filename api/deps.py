"""Dependencies of the routes: what ``create_app`` put on ``app.state``, the alert rules, the
bearer tokens (API and admin), and the refusal of query parameters a route does not know."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Annotated, Any

from clickhouse_connect.driver.client import Client
from fastapi import Depends, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

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


_BEARER = HTTPBearer(auto_error=False, description="EDGEWATCH_API_TOKEN (or EDGEWATCH_ADMIN_TOKEN), when one is set")
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def _secret(value: SecretStr | None) -> bytes | None:
    """The token's bytes; None when it is unset or empty (an empty token means none)."""
    return value.get_secret_value().encode() if value is not None and value.get_secret_value() else None


def _matches(given: bytes, token: bytes | None) -> bool:
    """Constant-time comparison (``secrets.compare_digest``): the answer's timing does not say
    how much of a guess was right."""
    return token is not None and secrets.compare_digest(given, token)


def _given(credentials: HTTPAuthorizationCredentials | None) -> bytes:
    return credentials.credentials.encode() if credentials is not None else b""


def require_token(settings: SettingsDep, credentials: CredentialsDep) -> None:
    """401 unless the request carries ``Authorization: Bearer <token>`` with the API token or the
    admin token (when an API token is set). Error messages never repeat a token."""
    api_token = _secret(settings.api_token)
    if api_token is None:
        return
    given = _given(credentials)
    # Both comparisons always run, so the timing does not tell which token was close.
    accepted = [_matches(given, api_token), _matches(given, _secret(settings.admin_token))]
    if not any(accepted):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token: send 'Authorization: Bearer <EDGEWATCH_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_admin(settings: SettingsDep, credentials: CredentialsDep) -> None:
    """For routes that change stored state (silences, backtests): when ``EDGEWATCH_ADMIN_TOKEN``
    is set, 401 without a bearer token and 403 with one that is not the admin token. Without an
    admin token, ``require_token`` alone guards them."""
    admin_token = _secret(settings.admin_token)
    if admin_token is None:
        return
    if credentials is None:
        raise HTTPException(
            status_code=401,
            detail="this route changes stored state: send 'Authorization: Bearer <EDGEWATCH_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not _matches(_given(credentials), admin_token):
        raise HTTPException(
            status_code=403,
            detail="this route changes stored state and needs EDGEWATCH_ADMIN_TOKEN; the token sent is not it",
        )


AdminOnly = Depends(require_admin)


class TokenFirstRoute(APIRoute):
    """The route class of the data routers (``/api/v1``, ``/grafana``): ``require_token`` runs
    before anything else of the request is looked at.

    FastAPI reads and parses a JSON body before it runs any dependency, the router's included, so
    without this a request with no token and a body that does not parse got the parser's 422
    instead of 401. ``create_app`` still puts ``require_token`` on these routers as a dependency:
    that puts the bearer scheme in the OpenAPI schema.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            require_token(get_settings(request), await _BEARER(request))
            return await handler(request)

        return answer


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
