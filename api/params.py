"""Query parameters shared by the routes: windows, steps, ends, edge filters, the status filter.

Each dependency validates its parameters against what the data allows and raises
:class:`fastapi.exceptions.RequestValidationError` (HTTP 422, FastAPI's usual error body)
with a message that says what is accepted. Values only ever reach SQL as parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, AwareDatetime

from api.deps import NowDep, SettingsDep
from edgewatch.drilldown import STATUS_HELP, StatusCondition, status_condition
from edgewatch.edge import EdgeFilter
from edgewatch.windows import ROLLUP_RETENTION, STORED_FROM, STORED_UNTIL, TimeRange

WINDOW_HELP = "a whole number and a unit s, m, h or d: 30s, 5m, 1h, 24h, 7d"
MAX_POINTS = 11_000
_DURATION = re.compile(r"^([1-9][0-9]{0,6})(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def invalid(name: str, value: object, message: str, where: str = "query") -> RequestValidationError:
    """A 422 about parameter ``name`` (of the query, or ``where`` else), shaped like FastAPI's own."""
    return RequestValidationError([{"type": "value_error", "loc": (where, name), "msg": message, "input": value}])


def parse_duration(name: str, text: str) -> int:
    """``"5m"`` -> 300. Raises a 422 naming ``name`` otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise invalid(name, text, f"{name} {text!r} is not a duration; use {WINDOW_HELP}")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _check_retention(name: str, text: str, seconds: int, retention: timedelta, what: str) -> None:
    if seconds > retention.total_seconds():
        raise invalid(name, text, f"{name} {text} reaches beyond the {retention.days} days {what} keeps; "
                                  f"use at most {retention.days}d")


STORED_RANGE = f"from {STORED_FROM:%Y-%m-%d} to {STORED_UNTIL:%Y-%m-%d}"


def outside_store(moment: datetime) -> str | None:
    """Why ``moment`` (timezone-aware) cannot be asked about: outside the times the store holds
    (:data:`edgewatch.windows.STORED_FROM`...); None when it can. Compared before any
    conversion, which could overflow (year 1 at +01:00)."""
    if STORED_FROM <= moment < STORED_UNTIL:
        return None
    return f"{moment.isoformat()} is outside the times Edgewatch stores ({STORED_RANGE})"


def _in_store(moment: datetime) -> datetime:
    if (problem := outside_store(moment)) is not None:
        raise ValueError(problem)
    return moment.astimezone(UTC)


StoredTime = Annotated[AwareDatetime, AfterValidator(_in_store)]
"""A time with a timezone, within the times the store holds (else 422 saying so), in UTC."""


def parse_end(text: str | None, now: datetime) -> datetime:
    """RFC 3339 with a timezone (``2026-11-26T10:00:00Z``) within the times the store holds, or
    ``now`` when absent."""
    if text is None:
        return now
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid("end", text, f"end {text!r} is not an RFC 3339 time with a timezone, e.g. 2026-11-26T10:00:00Z")
    if (problem := outside_store(moment)) is not None:
        raise invalid("end", text, f"end {problem}")
    return moment.astimezone(UTC)


# The schema declares the formats (clients and schemathesis read them); the checks are the
# dependencies' own, so that a refusal says what is accepted.
_DURATION_SCHEMA = {"pattern": _DURATION.pattern}
WindowQuery = Annotated[str, Query(description=f"How far back: {WINDOW_HELP}.", json_schema_extra=_DURATION_SCHEMA)]
EndQuery = Annotated[str | None, Query(description=f"End of the window, RFC 3339, {STORED_RANGE} (default: now).",
                                       json_schema_extra={"format": "date-time"})]


@dataclass(frozen=True)
class Window:
    """A validated window: its length, the range read, and the time it was asked at."""

    seconds: int
    span: TimeRange
    now: datetime

    def fields(self) -> dict[str, Any]:
        """The window fields of a response body."""
        return {"window_seconds": self.seconds, "start": self.span.start, "end": self.span.end}


def edge_window(now: NowDep, window: WindowQuery = "5m", end: EndQuery = None) -> Window:
    """Windows of edge numbers: under a minute from the raw table (exact), else whole minutes
    of the rollup ending with the minute that holds ``end``."""
    seconds = parse_duration("window", window)
    if seconds >= 60 and seconds % 60:
        raise invalid("window", window, f"window {window}: windows of a minute or more read the per-minute "
                                        "rollup, so they are whole minutes (e.g. 1m, 2m, 90m)")
    _check_retention("window", window, seconds, ROLLUP_RETENTION, "the rollup")
    return Window(seconds, TimeRange.ending(parse_end(end, now), seconds), now)


def raw_window(settings: SettingsDep, now: NowDep, window: WindowQuery = "1h", end: EndQuery = None) -> Window:
    """Windows over individual requests: exact, within the raw table's retention."""
    seconds = parse_duration("window", window)
    _check_retention("window", window, seconds, timedelta(days=settings.raw_ttl_days), "the raw request table")
    return Window(seconds, TimeRange.ending(parse_end(end, now), seconds, grain=0), now)


@dataclass(frozen=True)
class Series:
    window: Window
    step: int


def series_window(
    settings: SettingsDep,
    now: NowDep,
    window: WindowQuery = "1h",
    step: Annotated[str, Query(description="Width of each point: 1m or more in whole minutes (rollup), "
                                           "or seconds over the raw table's retention.",
                               json_schema_extra=_DURATION_SCHEMA)] = "1m",
    end: EndQuery = None,
) -> Series:
    """A window cut in steps aligned to multiples of ``step`` since the epoch."""
    seconds, step_seconds = parse_duration("window", window), parse_duration("step", step)
    if step_seconds >= 60 and step_seconds % 60:
        raise invalid("step", step, f"step {step}: the rollup holds minutes, so steps of a minute or more are "
                                    "whole minutes (1m, 5m, 1h)")
    if step_seconds < 60:  # finer than the rollup: only the raw table has it
        _check_retention("window", window, seconds, timedelta(days=settings.raw_ttl_days),
                         "the raw request table (read for steps under a minute)")
    _check_retention("window", window, seconds, ROLLUP_RETENTION, "the rollup")
    if seconds % step_seconds:
        raise invalid("step", step, f"window {window} is not a whole number of steps of {step}")
    if seconds // step_seconds > MAX_POINTS:
        raise invalid("step", step, f"window {window} in steps of {step} makes over {MAX_POINTS} points; "
                                    "use a larger step")
    span = TimeRange.ending(parse_end(end, now), seconds, grain=step_seconds)
    return Series(Window(seconds, span, now), step_seconds)


Kind = Literal["service", "external", "unknown"]


def edge_filter(
    source: Annotated[str | None, Query(description="Caller workload.")] = None,
    destination: Annotated[str | None, Query(description="Called service or host.")] = None,
    namespace: Annotated[str | None, Query(description="Namespace of either end.")] = None,
    kind: Annotated[Kind | None, Query(description="Kind of the called destination.")] = None,
) -> EdgeFilter:
    return EdgeFilter(
        sources=(source,) if source else (),
        destinations=(destination,) if destination else (),
        namespace=namespace or None,
        kind=kind,
    )


def status_filter(
    status: Annotated[str | None, Query(description=f"Which calls: {STATUS_HELP}.")] = None,
) -> StatusCondition | None:
    """The drill-down's status filter as an SQL condition; None when absent."""
    if status is None:
        return None
    try:
        return status_condition(status)
    except ValueError as error:
        raise invalid("status", status, str(error)) from error


EdgeWindowDep = Annotated[Window, Depends(edge_window)]
RawWindowDep = Annotated[Window, Depends(raw_window)]
SeriesDep = Annotated[Series, Depends(series_window)]
EdgeFilterDep = Annotated[EdgeFilter, Depends(edge_filter)]
StatusDep = Annotated[StatusCondition | None, Depends(status_filter)]
