"""Grafana's JSON datasource (the simPod plugin, v0.6+): the endpoints of its ``openapi.yaml``.

Point a ``simpod-json-datasource`` at ``http://HOST:PORT/grafana`` (access: Server, with the
bearer token as a custom ``Authorization`` header). ``GET /`` answers the connection test;
``POST /metrics`` lists what the builder offers (``/search`` is the retired contract's name
for it); ``/metric-payload-options``, ``/variable``, ``/tag-keys`` and ``/tag-values`` fill its
pickers; ``/query`` answers panels and annotations (:mod:`api.grafana`).

Grafana shows a datasource error's ``message``: every request this router cannot answer, a
body that does not parse or validate included, gets 400 ``{"message", "detail"}`` (``detail``
in FastAPI's error format), never 500.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.deps import ClientDep, MeshDep, NowDep, ThresholdsDep, TokenFirstRoute
from api.grafana.answers import Reader
from api.grafana.catalogue import METRICS
from api.grafana.frames import Json
from api.grafana.options import payload_options, tag_keys, tag_values, variable_values
from api.grafana.protocol import (
    GrafanaError,
    MetricConfig,
    MetricsRequest,
    Option,
    PayloadOptionsRequest,
    QueryRequest,
    SearchRequest,
    TagKey,
    TagKeysRequest,
    TagValue,
    TagValuesRequest,
    VariableItem,
    VariableRequest,
)
from api.grafana.query import answer_query


def bad_request(message: str, detail: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"message": message, "detail": detail}, status_code=400)


def _described(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "the request does not match the datasource's protocol"


class GrafanaRoute(TokenFirstRoute):
    """A route whose refusals are 400 with a message Grafana shows (see the module); a missing
    token is still 401, checked first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                errors = jsonable_encoder(error.errors())  # a validator's ValueError is in ctx
                return bad_request(_described(errors), errors)
            except GrafanaError as error:
                detail = [{"type": "value_error", "loc": ["body", error.where], "msg": error.message,
                           "input": error.value}]
                return bad_request(error.message, detail)

        return answer


router = APIRouter(prefix="/grafana", tags=["grafana"], route_class=GrafanaRoute)


def get_reader(client: ClientDep, now: NowDep, thresholds: ThresholdsDep, mesh: MeshDep) -> Reader:
    return Reader(client, now, thresholds, mesh)


ReaderDep = Annotated[Reader, Depends(get_reader)]
# The plugin sends these bodies, but an empty one must do as well.
MetricsBody = Annotated[MetricsRequest | None, Body()]
SearchBody = Annotated[SearchRequest | None, Body()]
TagKeysBody = Annotated[TagKeysRequest | None, Body()]


@router.get("/", summary="Grafana: the connection test")
def test_connection() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/metrics", response_model=list[MetricConfig], response_model_exclude_none=True,
             summary="Grafana: the metrics and the payload fields each takes")
def list_metrics(body: MetricsBody = None) -> list[MetricConfig]:
    return [metric.config() for metric in METRICS]


@router.post("/search", summary="Grafana (retired simple-json contract): the metric names containing a text")
def search(body: SearchBody = None) -> list[str]:
    text = (body.target if body else "").lower()
    return [metric.value for metric in METRICS if text in metric.value]


@router.post("/metric-payload-options", response_model=list[Option],
             summary="Grafana: the options of a payload field, from the edges seen")
def metric_payload_options(body: PayloadOptionsRequest, reader: ReaderDep) -> list[Option]:
    return payload_options(reader, body)


@router.post("/query", summary="Grafana: time series, tables, node graph frames and annotations")
def query(body: QueryRequest, reader: ReaderDep) -> list[Json]:
    return answer_query(reader, body)


@router.post("/variable", response_model=list[VariableItem], response_model_by_alias=True,
             summary="Grafana: the values of a query variable")
def variable(body: VariableRequest, reader: ReaderDep) -> list[VariableItem]:
    return variable_values(reader, body)


@router.post("/tag-keys", response_model=list[TagKey], summary="Grafana: the keys of ad-hoc filters")
def keys(body: TagKeysBody = None) -> list[TagKey]:
    return tag_keys()


@router.post("/tag-values", response_model=list[TagValue], summary="Grafana: the values of an ad-hoc filter key")
def values(body: TagValuesRequest, reader: ReaderDep) -> list[TagValue]:
    return tag_values(reader, body)

