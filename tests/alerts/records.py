"""Edgewatch records for alerting tests, at explicit times, and two ways to store them:
through Kafka and the real ingester (``ndjson`` + the ``publish``/``ingest`` fixtures), or
straight into the engine's decoder (``store``: the same ``ingest_lines`` path the ingester uses).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from alerts.model import Edge

WEBAPP = Edge("webapp", "default", "staff-service", "default", "service")
STAFF_EXTERNAL = Edge("staff-service", "default", "2oujlno5e4.execute-api.us-east-1.amazonaws.com", "", "external")
GATEWAY = Edge("api-gateway", "default", "fleetman-staff-service", "default", "service")
TRACKER = Edge("webapp", "default", "position-tracker", "default", "service")

_ids = itertools.count(1)


def recent_minute() -> datetime:
    """The start of the current minute: test times are explicit offsets from it, recent
    enough that the tables' TTLs keep what the tests store."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def record(
    at: datetime, edge: Edge, code: int = 200, flags: str = "-", duration_ms: float = 25.0, **extra: Any
) -> dict[str, Any]:
    """One native record of a call on ``edge`` reported by the caller (override with ``extra``)."""
    return {
        "timestamp": at.isoformat(),
        "source_workload": edge.source,
        "source_namespace": edge.source_namespace,
        "destination_service": edge.destination,
        "destination_namespace": edge.destination_namespace,
        "destination_kind": edge.destination_kind,
        "reporter": "source",
        "method": "GET",
        "path": "/",
        "response_code": code,
        "response_flags": flags,
        "duration_ms": duration_ms,
        "request_id": f"req-{next(_ids)}",
        **extra,
    }


def traffic(edge: Edge, start: datetime, end: datetime, every: float = 1.0, **fields: Any) -> list[dict[str, Any]]:
    """A call every ``every`` seconds in ``[start, end)`` with the given outcome fields."""
    count = int((end - start).total_seconds() / every)
    return [record(start + timedelta(seconds=i * every), edge, **fields) for i in range(count)]


def ndjson(records: list[dict[str, Any]], per_message: int = 200) -> list[bytes]:
    """Kafka message values: newline-delimited records, ``per_message`` to a message."""
    return [
        "\n".join(json.dumps(r) for r in records[i : i + per_message]).encode()
        for i in range(0, len(records), per_message)
    ]


def store(client: Client, records: list[dict[str, Any]]) -> None:
    """Decode and store ``records`` inside the engine as the ingester does (no Kafka)."""
    offset = int(client.query("SELECT count() FROM requests").result_rows[0][0])
    lines = "".join(f"t\t0\t{offset + i}\t{json.dumps(r)}\n" for i, r in enumerate(records))
    client.raw_insert("ingest_lines", None, lines.encode(), fmt="TSVRaw")
