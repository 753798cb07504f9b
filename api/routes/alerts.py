"""Alerts: the pending and firing ones with their root causes, and their history.

Both are read from ClickHouse (``alert_state``, ``alert_events``), so they answer the same in a
process without the evaluator.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from alerts import store
from alerts.model import Alert
from alerts.silences import load_silences, silenced_ids
from api.deps import ClientDep, MeshDep, NowDep, TokenFirstRoute
from api.models import AlertOut, AlertRef, EventOut
from api.params import StoredTime
from api.routes import API_PREFIX
from edgewatch.mesh.config import MeshConfig
from edgewatch.windows import STORED_FROM

router = APIRouter(prefix=API_PREFIX, tags=["alerts"], route_class=TokenFirstRoute)


def _alert_out(alert: Alert, by_id: dict[str, Alert], silenced: set[str], mesh: MeshConfig,
               status: str | None = None) -> AlertOut:
    """``alert`` with the alerts it names (``by_id``: the alerts shown with it), ``status`` overriding
    its own, and what the mesh's config says about its destination."""
    facts = mesh.for_edge(alert.edge)
    return AlertOut.of(
        alert,
        status=status or str(alert.status),
        root_causes=[AlertRef.of(by_id[r]) for r in alert.root_causes if r in by_id],
        affected=[AlertRef.of(a) for a in by_id.values() if alert.id in a.root_causes],
        silenced=alert.id in silenced,
        service_entry=facts.service_entry,
        location=facts.location,
    )


@router.get("/alerts", response_model=dict[str, list[AlertOut]])
def list_alerts(
    client: ClientDep, now: NowDep, mesh: MeshDep, state: Annotated[Literal["pending", "firing"] | None, Query()] = None
) -> dict[str, list[AlertOut]]:
    """Pending and firing alerts as of the last evaluation, with root causes and affected callers."""
    alerts = store.load_alerts(client)
    by_id = {a.id: a for a in alerts}
    silenced = silenced_ids(alerts, load_silences(client, now), now)
    shown = [a for a in alerts if state is None or a.status == state]
    return {"alerts": [_alert_out(a, by_id, silenced, mesh) for a in shown]}


@router.get("/alerts/history", response_model=dict[str, list[EventOut]])
def alert_history(
    client: ClientDep,
    now: NowDep,
    mesh: MeshDep,
    since: StoredTime | None = None,
    until: StoredTime | None = None,
    rule: str | None = None,
    source: str | None = None,
    destination: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, list[EventOut]]:
    """Transitions (pending, firing, resolved, cleared), newest first; default: the last 24 hours."""
    until = until or now
    since = since or max(until - timedelta(days=1), STORED_FROM)
    events = store.load_events(client, since, until, rule, source, destination, limit)
    out = [EventOut(at=e.at, event=str(e.kind), alert=_alert_out(e.alert, {}, set(), mesh, status=str(e.kind)))
           for e in events]
    return {"events": out}
