"""ingest/membership.py: which static group member an ingester is."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.settings import Settings
from ingest.membership import InstanceClaim, InstanceIdInUse, host_instance_id


def settings(**values: str) -> Settings:
    return Settings(clickhouse_url="chdb:///unused", kafka_group="g", **values)  # type: ignore[arg-type]


def test_the_host_name_is_made_a_valid_instance_id() -> None:
    assert host_instance_id("ingest-0.edgewatch.svc") == "ingest-0.edgewatch.svc"
    assert host_instance_id("my host/€") == "my-host--"
    assert host_instance_id("") == "edgewatch"
    assert len(host_instance_id("h" * 300)) == 240


def test_ingesters_on_one_host_take_the_first_free_slot_and_a_replacement_takes_the_dead_ones(tmp_path: Path) -> None:
    def claim() -> InstanceClaim:
        return InstanceClaim(settings(), tmp_path, hostname=lambda: "box")

    with claim() as first, claim() as second:
        assert (first, second) == ("box", "box-2")
        with claim() as third:
            assert third == "box-3"
        with claim() as replacement:  # the third's slot is free again
            assert replacement == "box-3"
    with claim() as again:
        assert again == "box"
    other_group = InstanceClaim(Settings(clickhouse_url="chdb:///unused", kafka_group="h"), tmp_path,
                                hostname=lambda: "box")
    with claim() as one, other_group as two:
        assert one == two == "box"  # slots are per group


def test_an_explicit_instance_id_is_used_once_per_host(tmp_path: Path) -> None:
    explicit = settings(kafka_instance_id="ingest-1")
    with InstanceClaim(explicit, tmp_path) as instance_id:
        assert instance_id == "ingest-1"
        with pytest.raises(InstanceIdInUse, match="runs as instance id 'ingest-1'"), InstanceClaim(explicit, tmp_path):
            pass


@pytest.mark.parametrize("bad", ["", ".", "..", "has space", "a" * 250, "ä"])
def test_an_invalid_instance_id_setting_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="use 1-249 letters"):
        settings(kafka_instance_id=bad)
