"""Apply ``migrations/NNNN_name.sql`` in order and record them in ``schema_migrations``.

The runner refuses a folder with gaps or duplicate numbers, and an applied migration whose
file changed since. Statements use ``IF NOT EXISTS``, so a migration interrupted half-way is
simply applied again. Safe to run any number of times, from any of the services.

On a cluster (``cluster``: its name, ``EDGEWATCH_CLICKHOUSE_CLUSTER``) every statement, the
ledger's included, is applied as :func:`edgewatch.cluster.cluster_statements` rewrites it:
replicated local tables and Distributed tables ``ON CLUSTER`` under the same names. The ledger
records the file's checksum either way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from edgewatch.cluster import cluster_statements, created_tables, retention_statement
from edgewatch.settings import REPO_ROOT

MIGRATIONS_DIR = REPO_ROOT / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The migrations folder or the database's record of it is inconsistent."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The file's statements: split on ';' at the end of a line, comments dropped."""
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*$", body, flags=re.MULTILINE) if s.strip()]


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read the folder; raises MigrationError on a stray file, a gap or a duplicate."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text())
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"{folder}: versions must run 1, 2, 3... without gaps; found {versions}")
    return [found[v] for v in versions]


def applied_versions(client: Client) -> dict[int, str]:
    """Version -> checksum of what the database has applied (nothing, before the ledger exists).
    Creates nothing: readiness checks call it too, and on a cluster only :func:`migrate` knows
    how the ledger must be created."""
    if str(client.command(f"EXISTS TABLE {LEDGER_TABLE}")) != "1":
        return {}
    rows = client.query("SELECT version, checksum FROM schema_migrations FINAL").result_rows
    return {int(version): str(checksum) for version, checksum in rows}


def pending(client: Client, folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations not applied yet; raises MigrationError if an applied file was edited."""
    done = applied_versions(client)
    todo = []
    for migration in load_migrations(folder):
        if migration.version not in done:
            todo.append(migration)
        elif done[migration.version] != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name}.sql changed after it was applied; "
                "add a new numbered migration instead of editing an applied one"
            )
    return todo


def migrate(
    client: Client, raw_ttl_days: int = 7, folder: Path = MIGRATIONS_DIR, cluster: str | None = None
) -> list[Migration]:
    """Apply what is pending, then the configured raw-data retention. Returns what was applied.

    With ``cluster``, each ``ON CLUSTER`` statement blocks until every node ran it (the server's
    ``distributed_ddl_task_timeout``) and raises clickhouse-connect's error when one did not."""
    _ensure_ledger(client, cluster)
    todo = pending(client, folder)
    for migration in todo:
        for statement in schema_statements(migration, cluster, client, folder):
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
    set_raw_retention(client, raw_ttl_days, cluster)
    return todo


def schema_statements(
    migration: Migration, cluster: str | None, client: Client, folder: Path = MIGRATIONS_DIR
) -> list[str]:
    """The statements that apply ``migration``: as written, or rewritten for ``cluster`` (in the
    client's database, reading every table of the folder's migrations as its local table)."""
    if cluster is None:
        return migration.statements()
    tables = [LEDGER_TABLE, *created_tables(s for m in load_migrations(folder) for s in m.statements())]
    return cluster_statements(migration.statements(), cluster, _database(client), tables)


def set_raw_retention(client: Client, days: int, cluster: str | None = None) -> None:
    """Make ``requests`` keep ``days`` days; a no-op when it already does. On a cluster, the
    local tables of every node (checked on the node the client talks to)."""
    days = int(days)  # an int from validated settings; DDL takes no query parameters
    table = "requests" if cluster is None else "requests_local"
    engine = client.command(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}",
        parameters={"table": table},
    )
    if f"toIntervalDay({days})" not in str(engine):
        client.command(retention_statement("requests", f"toDateTime(timestamp) + toIntervalDay({days})", cluster))


LEDGER_TABLE = "schema_migrations"
LEDGER = f"""CREATE TABLE IF NOT EXISTS {LEDGER_TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version"""
"""The ledger, in the style of the migrations so that the cluster rewrite reads it too."""


def _ensure_ledger(client: Client, cluster: str | None = None) -> None:
    if cluster is None:
        client.command(LEDGER)
        return
    for statement in cluster_statements([LEDGER], cluster, _database(client), [LEDGER_TABLE]):
        client.command(statement)


def _database(client: Client) -> str:
    return str(client.command("SELECT currentDatabase()"))
