"""launch/database.py: the clients a process opens, and which of them carry the query memory limit."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from edgewatch.settings import Settings
from launch.database import Database

pytestmark = pytest.mark.clickhouse


def max_memory_usage(client: Client) -> int:
    return int(client.command("SELECT value FROM system.settings WHERE name = 'max_memory_usage'"))


def test_readers_carry_the_query_memory_limit_and_the_other_clients_do_not(ch: Client, ch_url: str) -> None:
    database = Database.open(Settings(clickhouse_url=ch_url, query_max_memory=300 * 1024 * 1024))
    assert max_memory_usage(database.reader()) == 300 * 1024 * 1024
    assert max_memory_usage(database.connect()) == 0  # the ingester's and the settler's: a refused insert is retried
    assert max_memory_usage(Database.open(Settings(clickhouse_url=ch_url, query_max_memory=0)).reader()) == 0
