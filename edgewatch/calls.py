"""Calls as ``requests`` holds them: what an error and a timeout are, and counting each call once.

In a mesh both proxies log a call, with the same ``request_id``: the caller's (reporter
``source``) and the callee's (reporter ``destination``). A call counts by the caller's
report; the callee's report counts only when no caller's report of the same request id
exists within the range widened by ``SLACK`` on both sides (traffic from outside the mesh).
A callee's report without a request id cannot be matched and counts.

Used by the window planner's raw rows (:mod:`edgewatch.windows`), by :mod:`edgewatch.drilldown`
and by :mod:`edgewatch.settle`. Fragments take the range as parameters ``{p}a_ms``, ``{p}b_ms``
(epoch milliseconds, [a, b)) and ``{p}slack_ms``, with a prefix ``p`` so that one query can read
several ranges; see :func:`range_params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SLACK = timedelta(seconds=60)
"""How far apart the caller's and the callee's timestamps of one call may be (clock skew)."""

IS_ERROR = "(code >= 500 OR code = 0)"
"""SQL over call rows: a server error (5xx) or no response at all."""
IS_TIMEOUT = "(has(splitByChar(',', flags), 'UT') OR code = 504)"
"""SQL over call rows: Envoy's upstream timeout, or a 504 from further down."""

CALL_ROWS = "(SELECT *, response_code AS code, toString(response_flags) AS flags FROM requests WHERE %s)"
"""``requests`` rows matching a condition, with the short names the measures use (``code``, ``flags``)."""


@dataclass(frozen=True)
class Range:
    """A time range of calls as SQL: ``start`` and ``end`` are Int64 expressions of epoch
    milliseconds ([start, end)), ``slack`` how far either report of a call may lie outside it."""

    start: str
    end: str
    slack: str = "{slack_ms:Int64}"

    @classmethod
    def of(cls, prefix: str = "") -> Range:
        """The range given by the parameters of :func:`range_params` with ``prefix``."""
        return cls(f"{{{prefix}a_ms:Int64}}", f"{{{prefix}b_ms:Int64}}", f"{{{prefix}slack_ms:Int64}}")

    def widened(self) -> Range:
        return Range(f"{self.start} - {self.slack}", f"{self.end} + {self.slack}", self.slack)

    def condition(self) -> str:
        """Condition on ``requests``: ``timestamp`` in the range, and ``time_bucket`` (which leads
        the sort key, migration 0001) in the ten-minute blocks that hold it, so that only those
        blocks are read: the index does not derive the block from a condition on ``timestamp``."""
        start, end = (f"fromUnixTimestamp64Milli({self.start}, 'UTC')", f"fromUnixTimestamp64Milli({self.end}, 'UTC')")
        return (f"timestamp >= {start} AND timestamp < {end} "
                f"AND time_bucket >= toStartOfTenMinutes(toDateTime({start})) "
                f"AND time_bucket <= toStartOfTenMinutes(toDateTime({end}))")


def in_range(prefix: str = "") -> str:
    """Condition on ``requests``: ``timestamp`` in the range [``{prefix}a_ms``, ``{prefix}b_ms``)."""
    return Range.of(prefix).condition()


IN_RANGE = in_range()


def callee_only(filters: str = "1", prefix: str = "", within: Range | None = None) -> str:
    """Condition on ``requests``: a callee's report with no caller's report of the same call,
    among the callee's reports in range (``within``, default the parameters of ``prefix``).

    The caller's reports are looked up by the request ids of the callee's reports in range that
    match ``filters``, so the lookup's sets grow with the callee's reports only, never with all
    of the range's calls. Taking every caller's id of the range as the set instead saves a scan
    (a third of the unsettled tail's time at bench/api.py's small load) but builds a set of
    every call: at 50,000 records/s, 15 million ids for a tail of 3 minutes and its slack, about
    a GB per query and seconds (bench/soak.py, docs/reliability.md section 9).

    The lookup's inner set holds the callee's ids hashed (``cityHash64``), which halves the
    matching's time at 10,000 calls/s (1,034-1,558 against 545-591 ms for the tail of
    bench/alerts.py's store; a one-off scratch comparison, docs/edges.md "Speed"). The answer stays
    exact: a hash shared by two ids only lets a caller's id into the outer set that no callee's
    report of the range carries, and the outer test compares the ids themselves.
    """
    span = within or Range.of(prefix)
    return f"""reporter = 'destination' AND (request_id = '' OR request_id NOT IN (
        SELECT request_id FROM requests
        WHERE reporter = 'source' AND {span.widened().condition()}
          AND cityHash64(request_id) IN (SELECT cityHash64(request_id) FROM requests
                                         WHERE reporter = 'destination' AND request_id != '' AND {span.condition()}
                                           AND {filters})))"""


def counted_once(filters: str = "1", prefix: str = "") -> str:
    """Condition on ``requests``: one report per call within the range, matching ``filters``."""
    return f"{in_range(prefix)} AND {filters} AND (reporter = 'source' OR ({callee_only(filters, prefix)}))"


def range_params(start: datetime, end: datetime, prefix: str = "") -> dict[str, int]:
    """The range parameters of :func:`in_range`, :func:`callee_only` and :func:`counted_once`."""
    return {f"{prefix}a_ms": epoch_ms(start), f"{prefix}b_ms": epoch_ms(end), f"{prefix}slack_ms": epoch_ms(SLACK)}


def epoch_ms(value: datetime | timedelta) -> int:
    """Milliseconds since the epoch (of a timezone-aware datetime) or in a timedelta."""
    return round((value.total_seconds() if isinstance(value, timedelta) else value.timestamp()) * 1000)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
