"""The schema on a ClickHouse cluster: each single-node statement rewritten for shards and replicas.

With ``EDGEWATCH_CLICKHOUSE_CLUSTER`` set, :func:`edgewatch.migrate.migrate` applies
:func:`cluster_statements` of every migration instead of its statements as written. Every table
``T`` of the single-node schema becomes two, both created ``ON CLUSTER``:

- ``T_local`` on every node, with T's columns, keys and TTL: ``Replicated*MergeTree`` for the
  MergeTree family (replicas of a shard share ``/clickhouse/tables/{shard}/{database}/{table}`` in
  Keeper; ``{shard}`` and ``{replica}`` are each node's macros), ``Null`` stays ``Null``;
- ``T`` itself, ``Distributed`` over ``T_local`` with T's sharding key (:data:`SHARDING_KEYS`):
  every query of the code names ``T`` and so reads (and writes) the whole cluster unchanged.

Materialized views read and write the local tables (``FROM T`` -> ``FROM T_local``, ``TO T`` ->
``TO T_local``), so a view fires on the node that receives the local insert and its rows stay
on that shard. The ingester's insert into ``ingest_lines`` (Distributed, sharded by Kafka
partition) is split per shard; each shard's part carries the insert's deduplication token, and a
batch rebuilt after a restart splits the same way, so the token still drops it (this needs the
server profile's ``distributed_foreground_insert = 1``: docs/scaling.md). The sharding keys of the
``ReplacingMergeTree`` tables are their sort key, so the rows of one key lie on one shard and
``FINAL`` (applied per shard) still keeps one.

The rewrite reads the statements in the strict style of ``migrations/*.sql`` (``CREATE TABLE IF
NOT EXISTS name``, the engine on a line of its own as ``ENGINE = Name[(args)]``; ``CREATE
MATERIALIZED VIEW IF NOT EXISTS name TO target AS``) and raises :class:`ClusterSchemaError` on
anything else, so a new statement of another shape is refused rather than applied wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from edgewatch.edge import KEY_COLUMNS

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"

_EDGE_HASH = f"cityHash64({', '.join(KEY_COLUMNS)})"
SHARDING_KEYS = {
    # The ingest chain by Kafka partition: a batch rebuilt after a restart lands where it did.
    "ingest_lines": "partition",
    "ingest_records": "partition",
    "ingest_decoded": "partition",
    "ingest_batches": "partition",
    "requests": "kafka_partition",
    "dead_letters": "kafka_partition",
    # Rollups and what settling writes: by edge, so a redone chunk goes to the same shard.
    "edge_minute": _EDGE_HASH,
    "edge_hour": _EDGE_HASH,
    "edge_10min": _EDGE_HASH,
    "edge_settle_log": "cityHash64(chunk_start)",
    "edge_tail": "snapshot",
    "service_workloads": "cityHash64(destination_namespace, destination_service, destination_workload)",
    # ReplacingMergeTree read with FINAL: every version of a key on one shard.
    "alert_state": "cityHash64(alert_id)",
    "alert_events": "cityHash64(alert_id)",
    "notifications": "cityHash64(id)",
    "silences": "cityHash64(id)",
    "schema_migrations": "version",
}
"""Table -> the expression that picks its shard. A table missing here is refused."""

_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+)(?P<rest>\s*\(.*)$", re.DOTALL)
_ENGINE = re.compile(r"^ENGINE = (?P<engine>\w+)(?:\((?P<args>[^()]*)\))?[ \t]*$", re.MULTILINE)
_CREATE_VIEW = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<name>\w+) TO (?P<target>\w+) AS\b(?P<body>.*)$", re.DOTALL
)
_DEDUP_WINDOW = re.compile(r"\bnon_replicated_deduplication_window\b")


class ClusterSchemaError(ValueError):
    """A statement the cluster rewrite does not know how to place on shards."""


def local_name(table: str) -> str:
    return table + LOCAL_SUFFIX


def created_tables(statements: Iterable[str]) -> list[str]:
    """The names of the tables (not views) that ``statements`` create, in order."""
    return [match["name"] for s in statements if (match := _CREATE_TABLE.match(s.strip()))]


def cluster_statements(statements: Iterable[str], cluster: str, database: str, tables: Iterable[str]) -> list[str]:
    """The statements of one migration as the cluster ``cluster`` runs them (see the module).

    ``tables``: every table of the whole schema, so that a view of a later migration reading a table
    of an earlier one reads its local table. Raises ClusterSchemaError on a statement of another style.
    """
    known = set(tables)
    rewritten: list[str] = []
    for statement in statements:
        text = statement.strip()
        if table := _CREATE_TABLE.match(text):
            rewritten += create_table_statements(table["name"], table["rest"], cluster, database)
        elif view := _CREATE_VIEW.match(text):
            rewritten.append(create_view_statement(view["name"], view["target"], view["body"], cluster, known))
        else:
            raise ClusterSchemaError(f"not a CREATE TABLE or MATERIALIZED VIEW of migrations' style: {text[:80]}")
    return rewritten


def create_table_statements(name: str, definition: str, cluster: str, database: str) -> list[str]:
    """``CREATE TABLE name <definition>`` as the local table and the Distributed table over it."""
    if not re.fullmatch(r"\w+", database):
        raise ClusterSchemaError(f"database {database!r}: letters, digits and _ only, for the DDL")
    if name not in SHARDING_KEYS:
        raise ClusterSchemaError(f"table {name} has no sharding key in edgewatch/cluster.py's SHARDING_KEYS")
    engines = list(_ENGINE.finditer(definition))
    if len(engines) != 1:
        raise ClusterSchemaError(f"table {name}: expected one line `ENGINE = Name[(args)]`, found {len(engines)}")
    engine = engines[0]
    local = local_name(name)
    replacement = _local_engine(name, engine["engine"], engine["args"])
    local_definition = definition[: engine.start()] + replacement + definition[engine.end():]
    local_definition = _DEDUP_WINDOW.sub("replicated_deduplication_window", local_definition)
    return [
        f"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER {cluster}{local_definition}",
        f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {local}\n"
        f"ENGINE = Distributed({cluster}, {database}, {local}, {SHARDING_KEYS[name]})",
    ]


def _local_engine(name: str, engine: str, args: str | None) -> str:
    if engine == "Null":
        return "ENGINE = Null"
    if not engine.endswith("MergeTree") or engine.startswith("Replicated"):
        raise ClusterSchemaError(f"table {name}: engine {engine} has no replicated form here")
    replicated_args = ", ".join([f"'{REPLICA_PATH}'", "'{replica}'", *([args] if args else [])])
    return f"ENGINE = Replicated{engine}({replicated_args})"


def create_view_statement(name: str, target: str, body: str, cluster: str, tables: set[str]) -> str:
    """The view on every node, from and to the local tables."""
    if target not in tables:
        raise ClusterSchemaError(f"view {name} writes to {target}, which no migration creates")

    def to_local(match: re.Match[str]) -> str:
        table = match["table"]
        return f"{match['keyword']}{local_name(table)}" if table in tables else match[0]

    local_body = re.sub(r"(?P<keyword>\b(?:FROM|JOIN)\s+)(?P<table>\w+)\b", to_local, body)
    return f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} ON CLUSTER {cluster} TO {local_name(target)} AS{local_body}"


def retention_statement(table: str, ttl: str, cluster: str | None) -> str:
    """``ALTER TABLE table MODIFY TTL ttl``; on a cluster, of the local tables on every node (a
    Distributed table has no TTL of its own)."""
    if cluster is None:
        return f"ALTER TABLE {table} MODIFY TTL {ttl}"
    return f"ALTER TABLE {local_name(table)} ON CLUSTER {cluster} MODIFY TTL {ttl}"
