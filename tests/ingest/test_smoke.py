from datetime import UTC, datetime, timedelta

import orjson
import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


def test_records_flow_from_kafka_to_clickhouse(ch, make_settings, publish, ingest):
    settings = make_settings()
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # within the raw retention
    records = [
        {"timestamp": an_hour_ago, "destination_service": "reviews", "response_code": 200,
         "duration_ms": i, "source_workload": "productpage"}
        for i in range(100)
    ]
    lines = [orjson.dumps(r) for r in records]
    publish(settings, [b"\n".join(lines[:50]), *lines[50:]])
    stats = ingest(settings)
    assert ch.command("SELECT count() FROM requests") == 100
    assert stats.records == 100  # lines framed
    assert stats.messages == 51
