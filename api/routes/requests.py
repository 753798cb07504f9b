"""The drill-down: the most recent individual calls of matching edges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ClientDep, TokenFirstRoute
from api.models import RequestsResponse, json_response
from api.params import EdgeFilterDep, RawWindowDep, StatusDep
from api.routes import API_PREFIX
from edgewatch.drilldown import recent_calls

router = APIRouter(prefix=API_PREFIX, tags=["requests"], route_class=TokenFirstRoute)


@router.get("/requests", response_model=RequestsResponse, summary="The most recent matching requests")
def recent_requests(
    client: ClientDep,
    window: RawWindowDep,
    filters: EdgeFilterDep,
    status: StatusDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many calls.")] = 100,
) -> Response:
    """Each call once (the caller's report, or the callee's when the caller did not report),
    newest first, with request and trace ids to follow up."""
    calls = recent_calls(client, window.span, filters, status, limit)
    return json_response(RequestsResponse(**window.fields(), requests=calls))
