"""The cluster schema (edgewatch/cluster.py): every statement parses, and it is the single-node
schema column for column, its views reading and writing only local tables.

No cluster runs here: chDB has no Keeper and no ``remote_servers``. So every rewritten statement is
checked by the engine's own parser (``formatQuery``), and the local half is built for real in a
scratch database of the embedded engine, as the statement says except the two things that need a
cluster: ``ON CLUSTER`` is dropped and ``Replicated<X>MergeTree('path', '{replica}', args)`` becomes
``<X>MergeTree(args)``. The Distributed tables are checked by what they name: the local table and
a sharding key that the engine evaluates over it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from edgewatch import cluster
from edgewatch.clickhouse import chdb_path
from edgewatch.migrate import LEDGER, load_migrations, retention_statement

CLUSTER = "edgewatch_cluster"
SCRATCH = "cluster_scratch"


def single_node_statements() -> list[str]:
    return [LEDGER, *(s for m in load_migrations() for s in m.statements())]


def schema_tables() -> list[str]:
    return cluster.created_tables(single_node_statements())


def rewritten(database: str = "edgewatch") -> list[str]:
    statements = single_node_statements()
    return cluster.cluster_statements(statements, CLUSTER, database, schema_tables())


_REPLICATED = re.compile(r"ENGINE = Replicated(?P<engine>\w*MergeTree)\('(?P<path>[^']*)', '(?P<replica>[^']*)'(?:, )?")
_DISTRIBUTED = re.compile(r"ENGINE = Distributed\((?P<cluster>\w+), (?P<database>\w+), (?P<local>\w+), (?P<key>.*)\)$")


def on_one_node(statement: str) -> str:
    """The statement as a node without Keeper can run it (see the module docstring)."""
    assert f" ON CLUSTER {CLUSTER}" in statement
    local = statement.replace(f" ON CLUSTER {CLUSTER}", "", 1)
    return _REPLICATED.sub(lambda m: f"ENGINE = {m['engine']}(", local)


# ---------------------------------------------------------------------------------------------
# Pure checks of the rewrite


def test_every_table_has_a_sharding_key_and_no_key_is_stale() -> None:
    assert set(schema_tables()) == set(cluster.SHARDING_KEYS)


def test_tables_become_replicated_local_tables_and_distributed_ones() -> None:
    statements = cluster.cluster_statements(
        ["CREATE TABLE IF NOT EXISTS silences\n(\n    id String,\n    updated_at DateTime\n)\n"
         "ENGINE = ReplacingMergeTree(updated_at)\nORDER BY id\nSETTINGS non_replicated_deduplication_window = 5"],
        CLUSTER, "edgewatch", ["silences"],
    )
    local, distributed = statements
    assert local.startswith(f"CREATE TABLE IF NOT EXISTS silences_local ON CLUSTER {CLUSTER}\n(")
    assert ("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', "
            "updated_at)\n") in local
    assert local.endswith("SETTINGS replicated_deduplication_window = 5")
    assert distributed == (f"CREATE TABLE IF NOT EXISTS silences ON CLUSTER {CLUSTER} AS silences_local\n"
                           f"ENGINE = Distributed({CLUSTER}, edgewatch, silences_local, cityHash64(id))")


def test_views_read_and_write_local_tables_only() -> None:
    view = cluster.create_view_statement(
        "edge_hour_mv", "edge_hour", " SELECT sum(requests) AS requests FROM edge_minute JOIN requests USING (x)",
        CLUSTER, {"edge_hour", "edge_minute", "requests"},
    )
    assert view == (f"CREATE MATERIALIZED VIEW IF NOT EXISTS edge_hour_mv ON CLUSTER {CLUSTER} TO edge_hour_local AS"
                    " SELECT sum(requests) AS requests FROM edge_minute_local JOIN requests_local USING (x)")


def test_statements_of_another_style_are_refused() -> None:
    with pytest.raises(cluster.ClusterSchemaError, match="no sharding key"):
        cluster.cluster_statements(["CREATE TABLE IF NOT EXISTS newtable\n(\n    a UInt8\n)\nENGINE = MergeTree\n"
                                    "ORDER BY a"], CLUSTER, "edgewatch", ["newtable"])
    with pytest.raises(cluster.ClusterSchemaError, match="one line `ENGINE"):
        cluster.cluster_statements(["CREATE TABLE IF NOT EXISTS silences (id String) ENGINE = MergeTree ORDER BY id"],
                                   CLUSTER, "edgewatch", ["silences"])
    with pytest.raises(cluster.ClusterSchemaError, match="not a CREATE"):
        cluster.cluster_statements(["ALTER TABLE requests DROP COLUMN path"], CLUSTER, "edgewatch", [])
    with pytest.raises(cluster.ClusterSchemaError, match="Memory has no replicated form"):
        cluster.cluster_statements(["CREATE TABLE IF NOT EXISTS silences\n(\n    id String\n)\nENGINE = Memory"],
                                   CLUSTER, "edgewatch", ["silences"])


def test_retention_goes_to_the_local_tables_on_every_node() -> None:
    ttl = "toDateTime(timestamp) + toIntervalDay(3)"
    assert retention_statement("requests", ttl, None) == f"ALTER TABLE requests MODIFY TTL {ttl}"
    on_cluster = retention_statement("requests", ttl, CLUSTER)
    assert on_cluster == f"ALTER TABLE requests_local ON CLUSTER {CLUSTER} MODIFY TTL {ttl}"


def test_replacing_tables_keep_every_version_of_a_key_on_one_shard() -> None:
    """FINAL runs per shard: a key whose versions lay on two shards would be read twice."""
    for statement in single_node_statements():
        table = cluster._CREATE_TABLE.match(statement)
        if table is None or "ReplacingMergeTree" not in statement:
            continue
        order_by = re.search(r"^ORDER BY (.+)$", statement, re.MULTILINE)
        assert order_by, table["name"]
        sort_key = {part.strip() for part in order_by.group(1).strip("()").split(",")}
        key_columns = set(re.findall(r"\w+", cluster.SHARDING_KEYS[table["name"]])) - {"cityHash64"}
        assert key_columns <= sort_key, f"{table['name']} is sharded by {key_columns}, not by its key {sort_key}"


# ---------------------------------------------------------------------------------------------
# The engine's own checks


@pytest.mark.clickhouse
def test_every_cluster_statement_parses(ch: Client) -> None:
    statements = rewritten()
    assert len(statements) > len(single_node_statements())
    for statement in statements:
        formatted = str(ch.query("SELECT formatQuery({q:String})", parameters={"q": statement}).result_rows[0][0])
        assert f"ON CLUSTER {CLUSTER}" in formatted


@pytest.fixture
def scratch(ch: Client, ch_url: str) -> Iterator[Client]:
    """An empty database of the session's engine holding the local half of the cluster schema."""
    ch.command(f"DROP DATABASE IF EXISTS {SCRATCH} SYNC")
    ch.command(f"CREATE DATABASE {SCRATCH}")
    client = clickhouse_connect.get_client(interface="chdb", path=str(chdb_path(ch_url).resolve()), database=SCRATCH)
    try:
        yield client
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {SCRATCH} SYNC")


def _columns(client: Client, database: str, table: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in client.query(
        "SELECT name, type, default_kind, default_expression, compression_codec FROM system.columns "
        "WHERE database = {d:String} AND table = {t:String} ORDER BY position",
        parameters={"d": database, "t": table},
    ).result_rows]


def _table(client: Client, database: str, table: str) -> tuple[object, ...]:
    rows = client.query(
        "SELECT engine, partition_key, sorting_key, primary_key FROM system.tables "
        "WHERE database = {d:String} AND name = {t:String}",
        parameters={"d": database, "t": table},
    ).result_rows
    assert rows, f"{database}.{table} does not exist"
    return tuple(rows[0])


@pytest.mark.clickhouse
def test_cluster_schema_is_the_single_node_schema(ch: Client, scratch: Client) -> None:
    single = str(ch.command("SELECT currentDatabase()"))
    distributed: list[re.Match[str]] = []
    for statement in rewritten(SCRATCH):
        if match := _DISTRIBUTED.search(statement):
            distributed.append(match)
            continue
        if replicated := _REPLICATED.search(statement):
            assert {"{shard}", "{table}"} <= set(re.findall(r"\{\w+\}", replicated["path"]))
            assert replicated["replica"] == "{replica}"
        # Views are created too: a view naming a Distributed table would fail here, none exist.
        scratch.command(on_one_node(statement))

    for table in schema_tables():
        local = cluster.local_name(table)
        assert _columns(scratch, SCRATCH, local) == _columns(ch, single, table), f"{local}: other columns than {table}"
        assert _table(scratch, SCRATCH, local) == _table(ch, single, table), f"{local}: other engine, keys than {table}"

    assert {m["local"] for m in distributed} == {cluster.local_name(t) for t in schema_tables()}
    for match in distributed:
        assert (match["cluster"], match["database"]) == (CLUSTER, SCRATCH)
        scratch.query(f"SELECT {match['key']} FROM {match['local']} LIMIT 0")  # the key names real columns

    views = "SELECT name FROM system.tables WHERE database = {d:String} AND engine = 'MaterializedView' ORDER BY name"
    local_views = scratch.query(views, parameters={"d": SCRATCH}).result_rows
    assert local_views == ch.query(views, parameters={"d": single}).result_rows


@pytest.mark.clickhouse
def test_local_views_carry_a_record_from_the_local_null_table_to_the_rollups(scratch: Client) -> None:
    """The ingest chain on one shard: a line inserted into a node's local ingest_lines reaches that
    node's requests_local and its rollups, through views of local tables only."""
    for statement in rewritten(SCRATCH):
        if not _DISTRIBUTED.search(statement):
            scratch.command(on_one_node(statement))
    now = datetime.now(UTC).isoformat(timespec="milliseconds")  # within the tables' TTL
    record = (f'{{"timestamp": "{now}", "source_workload": "a", "destination_service": "b", '
              '"response_code": 503, "duration_ms": 12.5, "request_id": "r1"}')
    scratch.insert("ingest_lines_local", [["t", 3, 42, record]], column_names=["topic", "partition", "offset", "line"])
    assert scratch.command("SELECT count() FROM dead_letters_local") == 0
    assert scratch.command("SELECT count() FROM requests_local WHERE kafka_partition = 3 AND kafka_offset = 42") == 1
    assert scratch.query("SELECT sum(requests), sum(errors) FROM edge_minute_local").result_rows == [(1, 1)]
    assert scratch.command("SELECT sum(requests) FROM edge_hour_local") == 1
    assert scratch.command("SELECT count() FROM ingest_batches_local WHERE partition = 3") == 1
