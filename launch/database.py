"""The one place that opens ClickHouse and applies the migrations, once per process."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from edgewatch.clickhouse import EngineInUseError, connect
from edgewatch.migrate import Migration, MigrationError, migrate
from edgewatch.settings import Settings
from launch.lifecycle import StartError


class Database:
    """The ClickHouse of one process: its first client, and new ones on demand.

    :meth:`open` is how every command that uses ClickHouse starts, so each one checks and
    applies the schema the same way (``edgewatch api`` too). :meth:`connect` is the
    zero-argument factory that a component calls for a client of its own: clients are not
    shared between threads that query at once, except the API's (``client``), which
    clickhouse-connect allows without a session. With the embedded engine, clients after the
    first are cheap (10-20 ms; the first starts the engine, about 1 s).
    """

    def __init__(self, url: str, client: Client, applied: list[Migration]) -> None:
        self.url = url
        self.client = client
        self.applied = applied
        """The migrations this process applied (empty when the schema was up to date)."""

    @classmethod
    def open(cls, settings: Settings) -> Database:
        """Connect to ``settings.clickhouse_url`` and apply what is pending, with the configured
        raw retention. Raises StartError saying what to do when another process holds the
        embedded folder or the migrations are inconsistent; clickhouse-connect's errors when
        the server does not answer."""
        try:
            client = connect(settings.clickhouse_url)
            applied = migrate(client, settings.raw_ttl_days, cluster=settings.clickhouse_cluster)
        except EngineInUseError as error:
            raise StartError(str(error)) from error
        except MigrationError as error:
            raise StartError(f"migrations: {error}") from error
        return cls(settings.clickhouse_url, client, applied)

    def connect(self) -> Client:
        """A new client on the same database."""
        return connect(self.url)
