"""The drill-down: the most recent individual calls of some edges, one report per call.

What metric-based tools cannot give: the request id, trace id, path, flags and exact
duration of each matching call. Reads ``requests`` only (kept ``raw_ttl_days``), counting
each call once as :mod:`edgewatch.calls` describes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from edgewatch.calls import CALL_ROWS, IS_ERROR, IS_TIMEOUT, counted_once, from_epoch, range_params
from edgewatch.edge import ALL_EDGES, EdgeFilter
from edgewatch.windows import TimeRange

STATUS_HELP = "5xx, 4xx, 3xx, 2xx, 1xx, error (5xx or no response), timeout (flag UT or 504), or a code 0-999"
_CLASS = re.compile(r"^([1-5])xx$")


StatusCondition = tuple[str, dict[str, Any]]
"""An SQL condition over CALL_ROWS and its parameters, from :func:`status_condition`."""


def status_condition(status: str) -> StatusCondition:
    """SQL condition (over CALL_ROWS) for a ``status`` filter; raises ValueError saying what is accepted."""
    text = status.strip().lower()
    if text == "error":
        return IS_ERROR, {}
    if text == "timeout":
        return IS_TIMEOUT, {}
    if match := _CLASS.match(text):
        return "intDiv(code, 100) = {status_class:UInt16}", {"status_class": int(match.group(1))}
    if text.isdigit() and int(text) <= 999:
        return "code = {status_code:UInt16}", {"status_code": int(text)}
    raise ValueError(f"status {status!r} is not known; use {STATUS_HELP}")


class CallRecord(BaseModel):
    """One call as its counted report has it: fields of the request record
    (:data:`edgewatch.record.REQUEST_FIELDS`), in the record's order, three of them under the
    API's names (``RECORD_NAMES``: the edge's ``source`` and ``destination``, and ``time``)."""

    RECORD_NAMES: ClassVar[dict[str, str]] = {
        "time": "timestamp", "source": "source_workload", "destination": "destination_service",
    }
    """API name -> the record field it holds; the other fields keep the record's names."""

    time: datetime
    source: str
    source_namespace: str
    destination: str
    destination_namespace: str
    destination_kind: str
    reporter: str
    method: str
    path: str
    response_code: int
    response_flags: str
    duration_ms: float
    request_id: str
    trace_id: str


_CALL_COLUMNS = ", ".join(CallRecord.RECORD_NAMES.get(name, name) for name in list(CallRecord.model_fields)[1:])
"""The columns after ``time``, in CallRecord's order."""


def recent_calls(
    client: Client, span: TimeRange, filters: EdgeFilter = ALL_EDGES, status: StatusCondition | None = None,
    limit: int = 100,
) -> list[CallRecord]:
    """Up to ``limit`` calls in ``span`` matching ``filters`` and ``status`` (a
    :func:`status_condition`; None: any), newest first. Raises clickhouse_connect's errors.
    """
    where, params = filters.sql()
    condition, status_params = status if status is not None else ("1", {})
    params.update(status_params, limit=limit, **range_params(span.start, span.end))
    rows = client.query(
        f"""SELECT toUnixTimestamp64Milli(timestamp), {_CALL_COLUMNS}
            FROM {CALL_ROWS % counted_once(where)}
            WHERE {condition}
            ORDER BY timestamp DESC, request_id
            LIMIT {{limit:UInt32}}""",
        parameters=params,
    ).result_rows
    names = list(CallRecord.model_fields)[1:]
    return [CallRecord(time=from_epoch(row[0] / 1000), **dict(zip(names, row[1:], strict=True))) for row in rows]
