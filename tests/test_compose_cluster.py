"""compose.cluster.yaml over compose.yaml, and deploy/clickhouse/cluster/, checked against each other.

As in tests/test_compose.py nothing starts: the files are read, the override merged over the base
file as Compose merges them (mappings key by key, volumes by container path, anything else
replaced), and what one file names is looked up in the others: the servers of ``remote_servers``
are services with matching macros, the Keeper nodes form one quorum, the Edgewatch services name
the cluster that the servers define.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml

from edgewatch.settings import REPO_ROOT, Settings
from tests.test_compose import COMPOSE_FILE, _interpolated, bind_mounts, environment

CLUSTER_FILE = REPO_ROOT / "compose.cluster.yaml"
SERVER_CONFIG = "/etc/clickhouse-server/config.d/cluster.xml"
SERVER_USERS = "/etc/clickhouse-server/users.d/distributed.xml"
KEEPER_CONFIG = "/etc/clickhouse-keeper/keeper_config.xml"


def _target(volume: str) -> str:
    return str(volume).split(":")[1]


def merged(base: Any, override: Any, key: str = "") -> Any:
    """``override`` laid over ``base`` by Compose's merge rules, for what these files use."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for name, value in override.items():
            out[name] = merged(base[name], value, name) if name in base else value
        return out
    if key == "volumes" and isinstance(base, list) and isinstance(override, list):
        by_target = {_target(v): v for v in base}
        by_target.update({_target(v): v for v in override})
        return list(by_target.values())
    return override


@cache
def cluster_compose() -> dict[str, Any]:
    base = yaml.safe_load(COMPOSE_FILE.read_text())
    override = yaml.safe_load(CLUSTER_FILE.read_text())
    return dict(_interpolated(merged(base, override)))


def services() -> dict[str, dict[str, Any]]:
    return dict(cluster_compose()["services"])


def mounted(spec: dict[str, Any], container_path: str) -> Path:
    mounts = {target: source for source, target in bind_mounts(spec)}
    assert container_path in mounts, f"{container_path} is not mounted"
    return mounts[container_path]


def clickhouse_servers() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services().items()
            if str(spec.get("image", "")).startswith("clickhouse/clickhouse-server:")}


def keepers() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services().items()
            if str(spec.get("image", "")).startswith("clickhouse/clickhouse-keeper:")}


def config(path: Path) -> ElementTree.Element:
    root = ElementTree.parse(path).getroot()
    assert root.tag == "clickhouse", f"{path}: a ClickHouse config file has <clickhouse> at the top"
    return root


def hostname(name: str) -> str:
    return str(services()[name].get("hostname", name))


def server_config() -> ElementTree.Element:
    paths = {mounted(spec, SERVER_CONFIG) for spec in clickhouse_servers().values()}
    assert len(paths) == 1, f"the servers mount different cluster configs: {paths}"
    return config(paths.pop())


def cluster_name() -> str:
    (cluster,) = list(server_config().find("remote_servers") or [])
    return cluster.tag


def test_the_cluster_has_two_shards_of_two_replicas_that_are_services() -> None:
    cluster = server_config().find(f"remote_servers/{cluster_name()}")
    assert cluster is not None
    shards = cluster.findall("shard")
    assert len(shards) == 2 and all(len(shard.findall("replica")) == 2 for shard in shards)
    for name, spec in clickhouse_servers().items():
        # Replicas fetch parts at the hostname each announces: a container id would not resolve.
        assert spec.get("hostname"), f"{name} has no fixed hostname"
    hosts = {hostname(name): name for name in clickhouse_servers()}
    listed = [replica.findtext("host") for shard in shards for replica in shard.findall("replica")]
    assert sorted(str(h) for h in listed) == sorted(hosts), f"remote_servers lists {listed}, the servers are {hosts}"
    for shard in shards:
        # Replicated tables copy their own rows; a Distributed insert must write one replica only.
        assert shard.findtext("internal_replication") == "true"
        assert {replica.findtext("port") for replica in shard.findall("replica")} == {"9000"}


def test_each_server_has_its_own_macros_from_its_place_in_remote_servers() -> None:
    root = server_config()
    macros = root.find("macros")
    assert macros is not None and macros.findtext("cluster") == cluster_name()
    shard_variable = macros.find("shard").get("from_env")  # type: ignore[union-attr]
    replica_variable = macros.find("replica").get("from_env")  # type: ignore[union-attr]
    cluster = root.find(f"remote_servers/{cluster_name()}")
    assert cluster is not None and shard_variable and replica_variable
    place = {replica.findtext("host"): str(number)
             for number, shard in enumerate(cluster.findall("shard"), start=1) for replica in shard.findall("replica")}
    replicas = set()
    for name, spec in clickhouse_servers().items():
        env = environment(spec)
        assert env.get(shard_variable) == place[hostname(name)], f"{name} is in shard {place[hostname(name)]}"
        replicas.add((env.get(shard_variable), env.get(replica_variable)))
        assert env.get(replica_variable), f"{name} has no replica macro"
    assert len(replicas) == len(clickhouse_servers()), "two servers share a replica name within a shard"


def test_every_server_is_configured_alike_and_keeps_its_data() -> None:
    secret = server_config().find(f"remote_servers/{cluster_name()}/secret")
    assert secret is not None and secret.get("from_env")
    declared = set(cluster_compose()["volumes"])
    data_volumes = []
    for name, spec in clickhouse_servers().items():
        env = environment(spec)
        assert env.get(str(secret.get("from_env"))), f"{name} has no cluster secret"
        for variable in ("CLICKHOUSE_DB", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_GRAFANA_PASSWORD"):
            assert env.get(variable) == environment(services()["clickhouse"]).get(variable), f"{name}: {variable}"
        mounted(spec, "/etc/clickhouse-server/users.d/grafana.xml")
        volume = {_target(v): str(v).split(":")[0] for v in spec["volumes"]}["/var/lib/clickhouse"]
        assert volume in declared
        data_volumes.append(volume)
        assert spec.get("healthcheck"), f"{name} has no healthcheck"
    assert len(set(data_volumes)) == len(data_volumes), "two servers share a data volume"


def test_the_unchanged_queries_get_what_they_need_on_a_cluster() -> None:
    for spec in clickhouse_servers().values():
        profile = config(mounted(spec, SERVER_USERS)).find("profiles/default")
        assert profile is not None
        assert profile.findtext("distributed_product_mode") == "global"  # IN (subquery) over Distributed
        assert profile.findtext("distributed_foreground_insert") == "1"  # commit after every shard stored


def test_keepers_form_one_quorum_that_the_servers_use() -> None:
    nodes = keepers()
    assert len(nodes) >= 3 and len(nodes) % 2 == 1, "a Keeper quorum is an odd number of nodes, 3 or more"
    paths = {mounted(spec, KEEPER_CONFIG) for spec in nodes.values()}
    assert len(paths) == 1
    keeper = config(paths.pop()).find("keeper_server")
    assert keeper is not None
    raft = keeper.find("raft_configuration")
    assert raft is not None
    members = {server.findtext("hostname"): server.findtext("id") for server in raft.findall("server")}
    variable = keeper.find("server_id").get("from_env")  # type: ignore[union-attr]
    assert members.keys() == {hostname(name) for name in nodes}
    for name, spec in nodes.items():
        assert environment(spec).get(str(variable)) == members[hostname(name)], f"{name}'s id is not its raft id"
        assert "/ready" in " ".join(spec["healthcheck"]["test"]) and keeper.find("http_control/port") is not None
    zookeeper = server_config().findall("zookeeper/node")
    assert {(node.findtext("host"), node.findtext("port")) for node in zookeeper} == {
        (host, keeper.findtext("tcp_port")) for host in members
    }
    for name, spec in clickhouse_servers().items():
        assert set(nodes) <= set(spec.get("depends_on", {})), f"{name} starts before Keeper"


def test_edgewatch_services_name_the_cluster_and_migrate_waits_for_every_server() -> None:
    edgewatch = {name: spec for name, spec in services().items() if "build" in spec}
    assert edgewatch
    for name, spec in edgewatch.items():
        env = environment(spec)
        assert env.get("EDGEWATCH_CLICKHOUSE_CLUSTER") == cluster_name(), f"{name} does not use the cluster"
        settings = Settings(clickhouse_cluster=env["EDGEWATCH_CLICKHOUSE_CLUSTER"],
                            clickhouse_url=str(env["EDGEWATCH_CLICKHOUSE_URL"]))
        assert settings.clickhouse_cluster == cluster_name()
    waits = services()["migrate"]["depends_on"]
    for name in clickhouse_servers():
        assert waits.get(name, {}).get("condition") == "service_healthy", f"migrate does not wait for {name}"
