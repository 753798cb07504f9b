"""Grafana's time range as the spans Edgewatch reads: pure.

Numbers come in whole minutes of the rollup (edgewatch/windows.py plans which rows):

- a time series (:func:`series_span`) is cut in steps of Grafana's interval rounded up to whole
  minutes, widened further so that there are at most ``maxDataPoints`` (and :data:`MAX_POINTS`)
  of them; the span runs from the step holding ``from`` to the end of the step holding ``to``;
- a table or graph over the range (:func:`minute_span`) covers the minutes it touches, from the
  minute holding ``from`` to the end of the minute holding ``to``: for a range of whole minutes,
  exactly what ``/api/v1/edges?window=...&end=<to>`` reads.

Both start no earlier than the rollup keeps (:data:`ROLLUP_RETENTION`). Where no range is sent
(payload options, tag values), :data:`OPTIONS_LOOKBACK` before now is used.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from api.grafana.protocol import GrafanaError, GrafanaRange
from api.params import MAX_POINTS
from edgewatch.calls import from_epoch
from edgewatch.windows import ROLLUP_RETENTION, TimeRange

OPTIONS_LOOKBACK = timedelta(hours=24)
"""The edges whose names are offered when the request carries no range."""


def _start(range_: GrafanaRange, now: datetime) -> datetime:
    if range_.from_ >= range_.to:
        raise GrafanaError(f"range: 'from' ({range_.from_.isoformat()}) must be before 'to' ({range_.to.isoformat()})",
                           "range", range_.model_dump(mode="json", by_alias=True))
    start = max(range_.from_, now - ROLLUP_RETENTION)
    if start >= range_.to:
        raise GrafanaError(f"range: it ends before the {ROLLUP_RETENTION.days} days the rollup keeps", "range",
                           range_.model_dump(mode="json", by_alias=True))
    return start


def series_span(range_: GrafanaRange, interval_ms: float, max_points: int | None, now: datetime
                ) -> tuple[TimeRange, int]:
    """The span and step (seconds) of a time series over ``range_``. Raises GrafanaError for an
    empty range or one wholly beyond the rollup's retention."""
    start = _start(range_, now)
    seconds = (range_.to - start).total_seconds()
    points = min(max_points or MAX_POINTS, MAX_POINTS)
    step = max(60, math.ceil(interval_ms / 60_000) * 60, math.ceil(seconds / max(points, 1) / 60) * 60)
    while True:  # aligning both ends to the step may add one: widen until the points fit
        first = int(start.timestamp()) // step * step
        last = math.ceil(range_.to.timestamp() / step) * step
        if (last - first) // step <= points:
            return TimeRange(from_epoch(first), from_epoch(last)), step
        step += 60


def minute_span(range_: GrafanaRange, now: datetime) -> TimeRange:
    """The whole minutes ``range_`` touches. Raises GrafanaError as :func:`series_span` does."""
    start = _start(range_, now)
    end = math.ceil(range_.to.timestamp() / 60) * 60
    return TimeRange(from_epoch(int(start.timestamp()) // 60 * 60), from_epoch(end))


def lookback_span(range_: GrafanaRange | None, now: datetime) -> TimeRange:
    """:func:`minute_span` of ``range_``, or the :data:`OPTIONS_LOOKBACK` before ``now``."""
    if range_ is None:
        return TimeRange.ending(now, int(OPTIONS_LOOKBACK.total_seconds()))
    return minute_span(range_, now)


def steps(span: TimeRange, step: int) -> list[datetime]:
    """The start of every step of ``span``."""
    first = int(span.start.timestamp()) // step * step
    return [from_epoch(t) for t in range(first, int(span.end.timestamp()), step)]
