"""Backtests: when a rule would have fired and resolved over stored data. They need
``EDGEWATCH_ADMIN_TOKEN`` when it is set: a backtest of a rule given in the body can run long
queries over the whole retention."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter

from alerts.backtest import backtest
from alerts.rules import RuleError, parse_rule
from api.deps import AdminOnly, ClientDep, RulesDep, TokenFirstRoute
from api.models import BacktestIn, BacktestOut, EpisodeOut
from api.params import invalid
from api.routes import API_PREFIX
from edgewatch.settings import parse_duration

router = APIRouter(prefix=API_PREFIX, tags=["alerts"], route_class=TokenFirstRoute)


@router.post("/rules/backtest", response_model=BacktestOut, dependencies=[AdminOnly])
def backtest_rule(client: ClientDep, rules: RulesDep, body: BacktestIn) -> BacktestOut:
    """When the rule would have fired and resolved between ``start`` and ``end``. A rule, step or
    range it cannot run is a 422 in FastAPI's format, naming the field."""
    try:
        if isinstance(body.rule, str):
            rule = next((r for r in rules if r.name == body.rule), None)
            if rule is None:
                raise RuleError(f"no rule {body.rule!r}; known: {', '.join(r.name for r in rules)}")
        else:
            rule = parse_rule(body.rule)
    except ValueError as error:  # RuleError is a ValueError too
        raise invalid("rule", body.rule, str(error), where="body") from None
    try:
        step_seconds = parse_duration(body.step)
        if step_seconds <= 0:
            raise ValueError("step must be positive")
    except ValueError as error:
        raise invalid("step", body.step, str(error), where="body") from None
    try:
        episodes = backtest(client, rule, body.start.astimezone(UTC), body.end.astimezone(UTC), step_seconds)
    except ValueError as error:  # an empty range, too many steps
        raise invalid("end", body.end.isoformat(), str(error), where="body") from None
    return BacktestOut(rule=rule.name, start=body.start, end=body.end, step_seconds=step_seconds,
                       episodes=[EpisodeOut.of(e) for e in episodes])
