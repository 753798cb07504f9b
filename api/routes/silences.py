"""Silences: create, list and expire them. The evaluator reads them at its next run.

They live in the ``silences`` table, so a silence made through one process's API mutes the
evaluator of another. Creating and expiring need ``EDGEWATCH_ADMIN_TOKEN`` when it is set.
"""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError

from alerts.silences import expire_silence, get_silence, load_silences, new_silence, save_silence
from api.deps import AdminOnly, ClientDep, NowDep, TokenFirstRoute
from api.models import SilenceIn, SilenceOut
from api.routes import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["alerts"], route_class=TokenFirstRoute)


@router.post("/silences", status_code=status.HTTP_201_CREATED, response_model=SilenceOut, dependencies=[AdminOnly])
def create_silence(client: ClientDep, now: NowDep, body: SilenceIn) -> SilenceOut:
    """Silence matching alerts until ``ends_at``: they still evaluate and show, but do not notify.
    A silence that would never be active or matches everything is a 422 in FastAPI's format."""
    try:
        silence = new_silence(
            rule=body.rule,
            source=body.source,
            destination=body.destination,
            starts_at=(body.starts_at or now).astimezone(UTC),
            ends_at=body.ends_at.astimezone(UTC),
            comment=body.comment,
            created_by=body.created_by,
            now=now,
        )
    except ValueError as error:
        raise RequestValidationError([{"type": "value_error", "loc": ("body",), "msg": str(error),
                                       "input": body.model_dump(mode="json")}]) from None
    save_silence(client, silence)
    return SilenceOut.of(silence, active=silence.active(now))


@router.get("/silences", response_model=dict[str, list[SilenceOut]])
def list_silences(client: ClientDep, now: NowDep, expired: bool = False) -> dict[str, list[SilenceOut]]:
    """Active and scheduled silences (``expired=true``: ended ones too), newest first."""
    silences = load_silences(client, now, include_expired=expired)
    return {"silences": [SilenceOut.of(s, active=s.active(now)) for s in silences]}


@router.delete("/silences/{silence_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[AdminOnly])
def delete_silence(client: ClientDep, now: NowDep, silence_id: str) -> Response:
    """Expire a silence now; 404 when it does not exist or has already ended."""
    silence = get_silence(client, silence_id)
    if silence is None or silence.ends_at <= now:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active or scheduled silence {silence_id!r}")
    expire_silence(client, silence, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
