"""Fixtures of the API tests: a fixed clock and a small mesh's traffic through Kafka."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from edgewatch.settings import Settings
from tests.api.mesh import Mesh, api_client, mesh_records
from tests.api.records import batched


@pytest.fixture
def now() -> datetime:
    """A fixed "now", 30 s into a minute, ten minutes ago (the data must be within retention)."""
    real = datetime.now(UTC)
    return real.replace(second=30, microsecond=0) - timedelta(minutes=10)


@pytest.fixture
def mesh(ch: Client, make_settings: Callable[..., Settings], publish: Callable[..., None],
         ingest: Callable[[Settings], Any], now: datetime) -> Mesh:
    """``mesh_records`` published to Kafka in batched messages, consumed by the real ingester."""
    settings = make_settings()
    records = mesh_records(now)
    records.reverse()  # callee reports first: arrival order must not matter
    publish(settings, batched(records, per_message=40))
    ingest(settings)
    return Mesh(ch, settings, now, api_client(settings, ch, now))
