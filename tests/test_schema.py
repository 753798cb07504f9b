"""The rollup declared once: the committed migration, the spec and the migrated engine agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from edgewatch import rollup
from edgewatch.edge import EDGE_KEY, KEY_COLUMNS


@pytest.mark.parametrize("path", rollup.GENERATED, ids=lambda p: p.name)
def test_committed_migration_is_the_generated_one(path: Path) -> None:
    assert path.read_text() == rollup.GENERATED[path](), (
        f"migrations/{path.name} differs from edgewatch/rollup.py: run `python -m edgewatch.rollup --write`"
    )


def _formatted(client: Client, select: str) -> str:
    return str(client.query("SELECT formatQuery({q:String})", parameters={"q": select}).result_rows[0][0])


def _spec_columns(table: rollup.RollupTable) -> list[tuple[str, str, str]]:
    return [
        (table.time_column, "DateTime('UTC')", ""),
        *((name, "LowCardinality(String)", "") for name in KEY_COLUMNS),
        ("edge", "LowCardinality(String)", "MATERIALIZED"),
        *((m.name, m.stored_type, "") for m in table.measures),
    ]


@pytest.mark.clickhouse
@pytest.mark.parametrize("table", rollup.TABLES, ids=lambda t: t.name)
def test_migrated_tables_are_the_spec(ch: Client, table: rollup.RollupTable) -> None:
    columns = ch.query(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
        parameters={"t": table.name},
    ).result_rows
    assert [row[:3] for row in columns] == _spec_columns(table)
    (edge_expression,) = [row[3] for row in columns if row[0] == "edge"]
    assert _formatted(ch, f"SELECT {edge_expression}") == _formatted(ch, f"SELECT {EDGE_KEY}")

    engine, sorting_key, partition_key = ch.query(
        "SELECT engine_full, sorting_key, partition_key FROM system.tables "
        "WHERE database = currentDatabase() AND name = {t:String}",
        parameters={"t": table.name},
    ).result_rows[0]
    assert _formatted(ch, f"SELECT {sorting_key}") == _formatted(ch, f"SELECT {table.order_by}")
    assert _formatted(ch, f"SELECT {partition_key}") == _formatted(ch, f"SELECT {table.partition}")
    assert engine.startswith("AggregatingMergeTree ")
    assert f"TTL {table.time_column} + toIntervalDay({rollup.RETENTION_DAYS})" in engine
    assert f"index_granularity = {table.granularity}" in engine
    assert f"non_replicated_deduplication_window = {rollup.DEDUP_WINDOW}" in engine


@pytest.mark.clickhouse
@pytest.mark.parametrize("table", rollup.TABLES, ids=lambda t: t.name)
def test_migrated_views_are_the_spec(ch: Client, table: rollup.RollupTable) -> None:
    database, as_select, target = ch.query(
        "SELECT database, as_select, arrayStringConcat(dependencies_table, ',') FROM system.tables "
        "WHERE database = currentDatabase() AND name = {v:String}",
        parameters={"v": f"{table.name}_mv"},
    ).result_rows[0]
    stored = re.sub(rf"\b{re.escape(database)}\.", "", as_select)  # the engine qualifies table names
    assert _formatted(ch, stored) == _formatted(ch, rollup.view_select(table))
    assert target == ""  # a TO view: no inner table depends on it
    create = ch.command("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                        "AND name = {v:String}", parameters={"v": f"{table.name}_mv"})
    assert f" TO {database}.{table.name}" in str(create)


@pytest.mark.clickhouse
def test_the_migrated_snapshot_table_holds_edge_minutes_rows_under_a_snapshot_id(ch: Client) -> None:
    columns = ch.query(
        "SELECT name, type, default_kind FROM system.columns "
        "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
        parameters={"t": rollup.TAIL_TABLE},
    ).result_rows
    assert columns == [("snapshot", "UInt64", ""), ("taken_at", "DateTime('UTC')", "DEFAULT"),
                       *_spec_columns(rollup.EDGE_MINUTE)]
    engine = ch.command("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                        "AND name = {t:String}", parameters={"t": rollup.TAIL_TABLE})
    assert str(engine).startswith("MergeTree ")
    assert f"TTL taken_at + toIntervalMinute({rollup.TAIL_KEEP_MINUTES})" in str(engine)


def test_every_measure_is_read_by_its_merge_function() -> None:
    for measure in rollup.MEASURES:
        assert measure.read == f"{measure.merge}({measure.name})"
        assert measure.merge in ("sum", "sumMap", "min")
    assert [m.name for m in rollup.EDGE_10MIN.measures] == [m.name for m in rollup.MEASURES if m.in_10min]
