"""HTTP routes of alerting: alerts, their history, silences and rule backtests.

The API app includes ``router`` without a prefix (paths here are complete). Handlers use
``request.app.state.client`` (ClickHouse), ``.settings``, ``.clock`` (the time of a request)
and ``.alerts`` (the running ``AlertService`` or None). Alerts and history are read from
ClickHouse, so they answer the same in a process without the evaluator; silences are written
there for the evaluator to read at its next run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from alerts import store
from alerts.backtest import backtest
from alerts.model import Alert
from alerts.rules import Rule, RuleError, load_rules, parse_rule
from alerts.silences import Silence, expire_silence, get_silence, load_silences, new_silence, save_silence, silenced_ids
from api.deps import ClientDep, NowDep, get_settings
from edgewatch.settings import parse_duration

router = APIRouter(tags=["alerts"])


def _rules(request: Request) -> list[Rule]:
    """The running service's rules, else the configured file's (``RuleError`` -> 500)."""
    service = getattr(request.app.state, "alerts", None)
    if service is not None:
        return list(service.rules)
    return load_rules(get_settings(request).rules_file)


RulesDep = Annotated[list[Rule], Depends(_rules)]


class AlertRef(BaseModel):
    id: str
    rule: str
    source: str
    destination: str


class AlertOut(BaseModel):
    id: str
    rule: str
    condition: str
    severity: str
    status: str
    source: str
    source_namespace: str
    destination: str
    destination_namespace: str
    destination_kind: str
    value: float
    threshold: float
    requests: int
    active_since: datetime
    fired_at: datetime | None
    root_causes: list[AlertRef] = Field(description="The alerts this one is a symptom of; empty for a root cause.")
    affected: list[AlertRef] = Field(description="Alerts explained by this one (its affected callers).")
    silenced: bool


def _ref(alert: Alert) -> AlertRef:
    return AlertRef(
        id=alert.id, rule=alert.rule, source=alert.edge.source, destination=alert.edge.destination
    )


def _alert_out(alert: Alert, by_id: dict[str, Alert], silenced: set[str], status_text: str | None = None) -> AlertOut:
    edge = alert.edge
    return AlertOut(
        id=alert.id,
        rule=alert.rule,
        condition=alert.condition,
        severity=alert.severity,
        status=status_text or str(alert.status),
        source=edge.source,
        source_namespace=edge.source_namespace,
        destination=edge.destination,
        destination_namespace=edge.destination_namespace,
        destination_kind=edge.destination_kind,
        value=alert.value,
        threshold=alert.threshold,
        requests=alert.requests,
        active_since=alert.active_since,
        fired_at=alert.fired_at,
        root_causes=[_ref(by_id[r]) for r in alert.root_causes if r in by_id],
        affected=[_ref(a) for a in by_id.values() if alert.id in a.root_causes],
        silenced=alert.id in silenced,
    )


@router.get("/api/v1/alerts", response_model=dict[str, list[AlertOut]])
def list_alerts(
    client: ClientDep, now: NowDep, state: Annotated[Literal["pending", "firing"] | None, Query()] = None
) -> dict[str, list[AlertOut]]:
    """Pending and firing alerts as of the last evaluation, with root causes and affected callers."""
    alerts = store.load_alerts(client)
    by_id = {a.id: a for a in alerts}
    silenced = silenced_ids(alerts, load_silences(client, now), now)
    shown = [a for a in alerts if state is None or a.status == state]
    return {"alerts": [_alert_out(a, by_id, silenced) for a in shown]}


class EventOut(BaseModel):
    at: datetime
    event: str
    alert: AlertOut


@router.get("/api/v1/alerts/history", response_model=dict[str, list[EventOut]])
def alert_history(
    client: ClientDep,
    now: NowDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    rule: str | None = None,
    source: str | None = None,
    destination: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, list[EventOut]]:
    """Transitions (pending, firing, resolved, cleared), newest first; default: the last 24 hours."""
    until = until or now
    since = since or until - timedelta(days=1)
    events = store.load_events(client, since, until, rule, source, destination, limit)
    out = [
        EventOut(at=e.at, event=str(e.kind), alert=_alert_out(e.alert, {}, set(), status_text=str(e.kind)))
        for e in events
    ]
    return {"events": out}


class SilenceIn(BaseModel):
    rule: str = Field(default="*", min_length=1, description="Glob pattern on the rule name.")
    source: str = Field(default="*", min_length=1, description="Glob pattern on the source workload.")
    destination: str = Field(default="*", min_length=1, description="Glob pattern on the destination service.")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime
    comment: str = Field(min_length=1)
    created_by: str = ""


class SilenceOut(BaseModel):
    id: str
    rule: str
    source: str
    destination: str
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime
    active: bool


def _silence_out(silence: Silence, now: datetime) -> SilenceOut:
    fields = {name: getattr(silence, name) for name in SilenceOut.model_fields if name != "active"}
    return SilenceOut(**fields, active=silence.active(now))


@router.post("/api/v1/silences", status_code=status.HTTP_201_CREATED, response_model=SilenceOut)
def create_silence(client: ClientDep, now: NowDep, body: SilenceIn) -> SilenceOut:
    """Silence matching alerts until ``ends_at``: they still evaluate and show, but do not notify."""
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
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    save_silence(client, silence)
    return _silence_out(silence, now)


@router.get("/api/v1/silences", response_model=dict[str, list[SilenceOut]])
def list_silences(client: ClientDep, now: NowDep, expired: bool = False) -> dict[str, list[SilenceOut]]:
    """Active and scheduled silences (``expired=true``: ended ones too), newest first."""
    return {"silences": [_silence_out(s, now) for s in load_silences(client, now, include_expired=expired)]}


@router.delete("/api/v1/silences/{silence_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_silence(client: ClientDep, now: NowDep, silence_id: str) -> Response:
    """Expire a silence now; 404 when it does not exist or has already ended."""
    silence = get_silence(client, silence_id)
    if silence is None or silence.ends_at <= now:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active or scheduled silence {silence_id!r}")
    expire_silence(client, silence, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class BacktestIn(BaseModel):
    rule: str | dict[str, Any] = Field(description="A rule name from the rules file, or a whole rule.")
    start: AwareDatetime
    end: AwareDatetime
    step: str = Field(default="1m", description="Time between evaluations, e.g. 15s or 1m.")


class EpisodeOut(BaseModel):
    source: str
    source_namespace: str
    destination: str
    destination_namespace: str
    destination_kind: str
    pending_at: datetime
    fired_at: datetime
    resolved_at: datetime | None
    peak_value: float
    threshold: float


class BacktestOut(BaseModel):
    rule: str
    start: datetime
    end: datetime
    step_seconds: float
    episodes: list[EpisodeOut]


@router.post("/api/v1/rules/backtest", response_model=BacktestOut)
def backtest_rule(client: ClientDep, rules: RulesDep, body: BacktestIn) -> BacktestOut:
    """When the rule would have fired and resolved between ``start`` and ``end``."""
    try:
        if isinstance(body.rule, str):
            rule = next((r for r in rules if r.name == body.rule), None)
            if rule is None:
                raise RuleError(f"no rule {body.rule!r}; known: {', '.join(r.name for r in rules)}")
        else:
            rule = parse_rule(body.rule)
        step_seconds = parse_duration(body.step)
        episodes = backtest(client, rule, body.start.astimezone(UTC), body.end.astimezone(UTC), step_seconds)
    except ValueError as error:  # RuleError is a ValueError too
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return BacktestOut(
        rule=rule.name,
        start=body.start,
        end=body.end,
        step_seconds=step_seconds,
        episodes=[
            EpisodeOut(
                source=e.edge.source,
                source_namespace=e.edge.source_namespace,
                destination=e.edge.destination,
                destination_namespace=e.edge.destination_namespace,
                destination_kind=e.edge.destination_kind,
                pending_at=e.pending_at,
                fired_at=e.fired_at,
                resolved_at=e.resolved_at,
                peak_value=e.peak_value,
                threshold=e.threshold,
            )
            for e in episodes
        ],
    )
