"""The migration runner on an empty database of the real engine, and its cluster statements."""

from __future__ import annotations

from collections.abc import Iterator

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from edgewatch import cluster
from edgewatch.clickhouse import chdb_path
from edgewatch.migrate import LEDGER_TABLE, load_migrations, migrate, pending, schema_statements

EMPTY = "migrate_scratch"


@pytest.fixture
def empty(ch: Client, ch_url: str) -> Iterator[Client]:
    ch.command(f"DROP DATABASE IF EXISTS {EMPTY} SYNC")
    ch.command(f"CREATE DATABASE {EMPTY}")
    try:
        yield clickhouse_connect.get_client(interface="chdb", path=str(chdb_path(ch_url).resolve()), database=EMPTY)
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {EMPTY} SYNC")


@pytest.mark.clickhouse
def test_pending_creates_nothing_and_migrate_applies_everything(empty: Client) -> None:
    """Readiness (``pending``) only reads: on a cluster only ``migrate`` knows how to create the ledger."""
    assert [m.version for m in pending(empty)] == [m.version for m in load_migrations()]
    assert empty.command(f"EXISTS TABLE {LEDGER_TABLE}") == 0
    applied = migrate(empty, raw_ttl_days=3)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    assert pending(empty) == [] and migrate(empty, raw_ttl_days=3) == []
    engine = empty.command(f"SELECT engine_full FROM system.tables WHERE database = '{EMPTY}' AND name = 'requests'")
    assert "toIntervalDay(3)" in str(engine)


@pytest.mark.clickhouse
def test_cluster_statements_of_a_migration_read_tables_of_earlier_ones(ch: Client) -> None:
    """0003's view reads 0001's `requests`: as its local table, in the client's database."""
    settle_and_services = load_migrations()[2]
    statements = schema_statements(settle_and_services, "edgewatch", ch)
    assert statements == cluster.cluster_statements(
        settle_and_services.statements(), "edgewatch", str(ch.command("SELECT currentDatabase()")),
        [LEDGER_TABLE, *cluster.created_tables(s for m in load_migrations() for s in m.statements())],
    )
    (view,) = [s for s in statements if s.startswith("CREATE MATERIALIZED VIEW")]
    assert "FROM requests_local" in view and " TO service_workloads_local AS" in view
    assert schema_statements(settle_and_services, None, ch) == settle_and_services.statements()
