"""The production shape (compose.yaml, Dockerfile, .dockerignore, deploy/) checked against the code.

Where the tests run there is no container engine, so nothing here starts a container: the files
are read and compared with what the code accepts (Settings, the CLI's parser, the API's routes).
Variables are interpolated with their defaults only (``${X:-default}``; an unset ``${X}`` is
empty), so the outcome does not depend on the environment the tests run in; any other ``$``
syntax fails the tests rather than being read wrong. Where the Compose
CLI exists, ``docker compose config`` validates the file too (it needs no engine).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from xml.etree import ElementTree

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from pydantic import ValidationError

from api.app import create_app
from edgewatch.settings import REPO_ROOT, Settings
from launch.cli import build_parser
from simulator.scenarios import load_scenario

COMPOSE_FILE = REPO_ROOT / "compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())

CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SETTINGS_VARIABLES = {f"EDGEWATCH_{name.upper()}" for name in Settings.model_fields}
_EDGEWATCH_VARIABLE = re.compile(r"\bEDGEWATCH_[A-Z0-9_]+")
_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-(?P<default>[^}]*))?\}")


# ---------------------------------------------------------------------------------------------
# Reading the files


def with_defaults(text: str) -> str:
    """``text`` with no variable set: ``${X:-default}`` -> default, ``${X}`` -> empty, the forms
    compose.yaml uses. Raises ValueError on any other ``$`` (``$$``, ``$X``, ``${X:?e}``...)."""
    resolved = _VARIABLE.sub(lambda match: match["default"] or "", text)
    if "$" in resolved:
        raise ValueError(f"{text!r}: only ${{X}} and ${{X:-default}} are interpolated here")
    return resolved


def _interpolated(node: Any) -> Any:
    if isinstance(node, str):
        return with_defaults(node)
    if isinstance(node, list):
        return [_interpolated(item) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value) for key, value in node.items()}
    return node


@cache
def compose() -> dict[str, Any]:
    """compose.yaml with YAML anchors merged and variables at their defaults."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), "compose.yaml is not a mapping"
    return dict(_interpolated(loaded))


def services() -> dict[str, dict[str, Any]]:
    found = compose().get("services")
    assert isinstance(found, dict) and found, "compose.yaml has no services"
    return found


def edgewatch_services() -> dict[str, dict[str, Any]]:
    """The services built from this repository's Dockerfile."""
    return {name: spec for name, spec in services().items() if "build" in spec}


def environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    """A service's environment as a mapping; None for a variable passed on from the host."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {key: value if sep else None for key, sep, value in pairs}
    return {key: None if value is None else str(value) for key, value in env.items()}


def command(service: Mapping[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def parse_port(entry: str | int | Mapping[str, Any]) -> tuple[str, int | None, int]:
    """(host ip, published port or None, container port) of one ``ports`` entry."""
    if isinstance(entry, Mapping):
        published = entry.get("published")
        return str(entry.get("host_ip", "")), int(published) if published else None, int(entry["target"])
    text = str(entry).split("/")[0]
    parts = text.rsplit(":", 2)
    if len(parts) == 1:
        return "", None, int(parts[0])
    if len(parts) == 2:
        return "", int(parts[0]), int(parts[1])
    return parts[0], int(parts[1]), int(parts[2])


def published_ports(service: Mapping[str, Any]) -> list[tuple[str, int | None, int]]:
    return [parse_port(entry) for entry in service.get("ports") or []]


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Target service -> condition (the short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def dockerfile(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_instructions() if name == instruction]


def bind_mounts(service: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    """(host path, container path) of the bind mounts from the repository."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, Mapping):
            source, target = str(volume.get("source", "")), str(volume["target"])
        else:
            source, target = str(volume).split(":")[:2]
        if source.startswith(("./", "../", "/")):
            yield (REPO_ROOT / source).resolve(), target


def parse_args(argv: list[str]) -> Any:
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`edgewatch {' '.join(argv)}` is not a valid edgewatch command line (see the error above)")


def listeners(text: str) -> dict[str, tuple[str, int]]:
    """``A://host:1,B://:2`` -> {A: (host, 1), B: ("", 2)}."""
    found = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host, int(port))
    return found


# ---------------------------------------------------------------------------------------------
# compose.yaml


def test_variables_read_as_unset_and_other_syntax_is_refused() -> None:
    assert with_defaults("a${X:-http://h:1}b${Y}c${Z:-}") == "ahttp://h:1bc"
    for text in ("$$X", "$X", "${X-d}", "${X:?needed}"):
        with pytest.raises(ValueError, match="only"):
            with_defaults(text)


def test_every_service_has_an_image_or_a_build() -> None:
    for name, spec in services().items():
        assert spec.get("image") or spec.get("build"), f"service {name} has neither image nor build"


def test_third_party_images_are_pinned() -> None:
    for name, spec in services().items():
        if "build" in spec:
            continue
        image = str(spec["image"])
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"service {name}: image {image} has no tag"
        assert tag != "latest" and re.match(r"^\d+\.\d+", tag), f"service {name}: pin {image} to a version"


def test_edgewatch_services_share_one_image() -> None:
    built = edgewatch_services()
    assert {"migrate", "ingest", "api", "alerts"} <= set(built)
    images = {spec.get("image") for spec in built.values()}
    assert len(images) == 1, f"the Edgewatch services name different images: {images}"
    for name, spec in built.items():
        build = spec["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (REPO_ROOT / context).resolve() == REPO_ROOT, f"service {name} builds from {context}, not the repo"
        image = str(spec.get("image", ""))
        assert not image.endswith(":latest"), f"service {name}: tag the built image, not latest"


def test_every_edgewatch_variable_is_a_setting() -> None:
    """Catches a renamed or removed setting: its old name would be silently ignored."""
    provisioning = sorted((REPO_ROOT / "deploy").rglob("*.y*ml"))
    for path in [COMPOSE_FILE, *provisioning]:
        unknown = set(_EDGEWATCH_VARIABLE.findall(path.read_text())) - SETTINGS_VARIABLES
        assert not unknown, f"{path.name} uses {sorted(unknown)}, which are not fields of edgewatch.settings.Settings"


def test_settings_accept_every_edgewatch_service_environment() -> None:
    for name, spec in edgewatch_services().items():
        values = {
            key.removeprefix("EDGEWATCH_").lower(): value
            for key, value in environment(spec).items()
            if key.startswith("EDGEWATCH_") and value is not None
        }
        try:
            Settings.model_validate(values)
        except ValidationError as error:
            pytest.fail(f"service {name}: Settings refuse its environment: {error}")


def test_commands_are_edgewatch_subcommands() -> None:
    (subparsers,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    subcommands = set(subparsers.choices)
    for name, spec in edgewatch_services().items():
        argv = command(spec)
        assert argv, f"service {name} has no command (the image's default would run `edgewatch up`)"
        assert argv[0] in subcommands, f"service {name}: `{argv[0]}` is not one of {sorted(subcommands)}"
        args = parse_args(argv)
        if argv[0] == "simulate":
            load_scenario(args.scenario, args.topology)


def test_the_processes_each_run_once_as_a_service() -> None:
    """`up` bundles the embedded engine; the production shape runs one process per job."""
    jobs = [command(spec)[0] for spec in edgewatch_services().values()]
    assert "up" not in jobs
    for job in ("migrate", "ingest", "api", "alerts"):
        assert job in jobs, f"no service runs `edgewatch {job}`"


def test_depends_on_targets_and_conditions() -> None:
    all_services = services()
    for name, spec in all_services.items():
        for target, condition in depends_on(spec).items():
            assert target in all_services, f"service {name} depends on unknown service {target}"
            assert condition in CONDITIONS, f"service {name}: condition {condition!r} is not one of {CONDITIONS}"
            target_spec = all_services[target]
            if condition == "service_healthy":
                assert target_spec.get("healthcheck"), f"{name} waits for {target} to be healthy; it has no healthcheck"
            if condition == "service_completed_successfully":
                assert str(target_spec.get("restart", "no")) == "no", f"{target} runs once; it must not restart"
            if target_spec.get("profiles"):
                assert spec.get("profiles"), f"{name} always runs but depends on {target}, which runs under a profile"


def test_dependencies_have_no_cycle() -> None:
    graph = {name: set(depends_on(spec)) for name, spec in services().items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for target in graph[name]:
                visit(target, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())


def test_the_pipeline_waits_for_what_it_needs() -> None:
    spec = services()
    assert depends_on(spec["migrate"]) == {"clickhouse": "service_healthy"}
    assert depends_on(spec["ingest"]) == {"kafka": "service_healthy", "migrate": "service_completed_successfully"}
    for name in ("api", "alerts"):
        assert depends_on(spec[name]).get("migrate") == "service_completed_successfully"
    for name in ("kafka", "clickhouse", "ingest", "api", "alerts", "grafana"):
        assert spec[name].get("restart") in ("always", "unless-stopped", "on-failure"), f"{name} does not restart"


def test_demo_traffic_runs_only_under_its_profile() -> None:
    simulators = [name for name, spec in edgewatch_services().items() if command(spec)[0] == "simulate"]
    assert simulators
    for name in simulators:
        assert services()[name].get("profiles") == ["demo"], f"{name} must run only with --profile demo"


def test_published_ports_do_not_clash() -> None:
    seen: dict[int, str] = {}
    for name, spec in services().items():
        for _, published, _ in published_ports(spec):
            if published is None:
                continue
            assert published not in seen, f"host port {published} is published by {seen[published]} and {name}"
            seen[published] = name


def test_api_listens_where_it_is_published() -> None:
    spec = services()["api"]
    args = parse_args(command(spec))
    env = environment(spec)
    defaults = Settings.model_validate({})
    host = args.host or env.get("EDGEWATCH_API_HOST") or defaults.api_host
    port = args.port or int(env.get("EDGEWATCH_API_PORT") or defaults.api_port)
    assert host == "0.0.0.0", f"the API listens on {host} inside its container; other containers cannot reach it"
    targets = [target for _, published, target in published_ports(spec) if published is not None]
    assert targets == [port], f"the API listens on {port} but the published container ports are {targets}"
    health = " ".join(str(part) for part in spec["healthcheck"]["test"])
    assert f":{port}/readyz" in health, "the API's healthcheck does not ask /readyz on the API's port"


def test_clickhouse_url_matches_the_server() -> None:
    server = environment(services()["clickhouse"])
    urls = {environment(spec).get("EDGEWATCH_CLICKHOUSE_URL") for spec in edgewatch_services().values()}
    assert len(urls) == 1, f"the Edgewatch services use different ClickHouse URLs: {urls}"
    url = str(urls.pop())
    assert Settings(clickhouse_url=url).clickhouse_url == url
    parsed = urlparse(url)
    assert parsed.scheme == "http" and parsed.hostname == "clickhouse" and parsed.port == 8123
    assert parsed.username == server["CLICKHOUSE_USER"]
    assert parsed.password == server["CLICKHOUSE_PASSWORD"]
    assert parsed.path.strip("/") == server["CLICKHOUSE_DB"]
    health = " ".join(str(part) for part in services()["clickhouse"]["healthcheck"]["test"])
    assert "/ping" in health


def test_kafka_listeners_are_consistent() -> None:
    name = "kafka"
    spec = services()[name]
    env = environment(spec)
    listening = listeners(str(env["KAFKA_LISTENERS"]))
    advertised = listeners(str(env["KAFKA_ADVERTISED_LISTENERS"]))
    protocols = dict(item.split(":") for item in str(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]).split(","))
    controller = str(env["KAFKA_CONTROLLER_LISTENER_NAMES"])
    inter_broker = str(env["KAFKA_INTER_BROKER_LISTENER_NAME"])
    hostnames = {name, spec.get("hostname", name)}

    assert set(listening) <= set(protocols), "a listener has no security protocol"
    assert set(advertised) <= set(listening), "an advertised listener is not a listener"
    assert controller in listening and controller not in advertised
    assert inter_broker in advertised
    for listener, (host, port) in advertised.items():
        if host in hostnames:  # reached inside the network: the port the broker listens on
            assert listening[listener][1] == port, f"{listener} advertises {port}, listens elsewhere"

    voter_id, _, voter = str(env["KAFKA_CONTROLLER_QUORUM_VOTERS"]).partition("@")
    voter_host, _, voter_port = voter.rpartition(":")
    assert voter_id == str(env["KAFKA_NODE_ID"])
    assert voter_host in hostnames and int(voter_port) == listening[controller][1]

    # The containers bootstrap through a listener advertised under the service name.
    bootstraps = {environment(s).get("EDGEWATCH_KAFKA_BOOTSTRAP") for s in edgewatch_services().values()}
    assert len(bootstraps) == 1, f"the Edgewatch services bootstrap from different brokers: {bootstraps}"
    host, _, bootstrap_port = str(bootstraps.pop()).rpartition(":")
    in_network = [lst for lst, (h, p) in advertised.items() if h in hostnames and p == int(bootstrap_port)]
    assert host == name and in_network, f"no listener is advertised as {host}:{bootstrap_port}"
    assert listening[in_network[0]][1] == int(bootstrap_port)

    # Every other advertised listener is for the host: published on the port it advertises.
    published = {target: (ip, port) for ip, port, target in published_ports(spec)}
    for listener, (adv_host, adv_port) in advertised.items():
        if adv_host in hostnames:
            continue
        container_port = listening[listener][1]
        assert container_port in published, f"listener {listener} is advertised to the host but not published"
        ip, host_port = published[container_port]
        assert host_port == adv_port, f"{listener} advertises port {adv_port} but is published on {host_port}"
        assert adv_host in ("127.0.0.1", "localhost") and ip in ("127.0.0.1", ""), listener

    health = [str(part) for part in spec["healthcheck"]["test"]]
    server = health[health.index("--bootstrap-server") + 1]
    assert int(server.rpartition(":")[2]) in {p for _, p in listening.values()}


def test_clickhouse_and_kafka_keep_their_data_in_volumes() -> None:
    declared = set(compose().get("volumes") or {})
    expected = {"kafka": "/var/lib/kafka/data", "clickhouse": "/var/lib/clickhouse", "grafana": "/var/lib/grafana"}
    for name, path in expected.items():
        mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in services()[name].get("volumes") or []}
        assert path in mounts and mounts[path] in declared, f"{name} keeps {path} outside a named volume"
    assert environment(services()["kafka"])["KAFKA_LOG_DIRS"] == expected["kafka"]


def test_two_ingesters_share_the_partitions_under_distinct_hostnames() -> None:
    spec = services()["ingest"]
    replicas = int(spec["deploy"]["replicas"])
    partitions = int(str(environment(services()["kafka"])["KAFKA_NUM_PARTITIONS"]))
    assert 2 <= replicas <= partitions, f"{replicas} ingesters for {partitions} partitions: some would idle"
    # Static membership names a replica by its hostname: a fixed one would give every replica the same.
    assert "hostname" not in spec and "container_name" not in spec, "replicas need a hostname each"
    assert "EDGEWATCH_KAFKA_GROUP" in environment(spec), "the replicas' one consumer group is not configurable"


def test_long_running_services_have_resource_limits() -> None:
    for name, spec in services().items():
        if str(spec.get("restart", "no")) == "no":
            continue
        limits = (spec.get("deploy") or {}).get("resources", {}).get("limits", {})
        assert float(limits.get("cpus", 0)) > 0, f"{name} has no CPU limit"
        assert re.fullmatch(r"\d+[mg]", str(limits.get("memory", ""))), f"{name} has no memory limit (e.g. 1g)"


def test_servers_are_the_official_images() -> None:
    official = {"kafka": "apache/kafka", "clickhouse": "clickhouse/clickhouse-server", "grafana": "grafana/grafana"}
    for name, repository in official.items():
        assert str(services()[name]["image"]).partition(":")[0] == repository, f"{name}: use {repository}"


def test_every_long_running_server_has_a_healthcheck() -> None:
    for name in ("kafka", "clickhouse", "api", "grafana"):
        test = services()[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    assert "/api/health" in " ".join(services()["grafana"]["healthcheck"]["test"])  # Grafana's own endpoint


def clickhouse_users(path: Path) -> ElementTree.Element:
    root = ElementTree.parse(path).getroot()
    assert root.tag == "clickhouse", f"{path}: the top element of a ClickHouse config file is <clickhouse>"
    return root


def test_grafana_reads_clickhouse_as_a_read_only_user() -> None:
    spec = services()["clickhouse"]
    mounts = {target: source for source, target in bind_mounts(spec)}
    users_file = mounts["/etc/clickhouse-server/users.d/grafana.xml"]
    root = clickhouse_users(users_file)
    user = root.find("users/grafana")
    assert user is not None, "no user `grafana`"
    password = user.find("password")
    assert password is not None and password.get("from_env") == "CLICKHOUSE_GRAFANA_PASSWORD"
    assert environment(spec).get("CLICKHOUSE_GRAFANA_PASSWORD"), "the server gets no password for `grafana`"
    profile = root.find(f"profiles/{user.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1", "the profile of `grafana` is not read-only"
    # The plugin sets max_execution_time on every query; readonly = 1 refuses that unless allowed.
    assert profile.find("constraints/max_execution_time/changeable_in_readonly") is not None
    grants = [query.text for query in user.findall("grants/query")]
    database = environment(spec)["CLICKHOUSE_DB"]
    assert grants == [f"GRANT SELECT ON {database}.*"], f"`grafana` may do more than read {database}: {grants}"


# ---------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore


def test_dockerfile_base_matches_the_supported_python() -> None:
    (base,) = dockerfile("FROM")
    match = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-slim(?:-\w+)?", base.split()[0])
    assert match, f"base image {base}: use python:3.X-slim"
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert match.group(1) + ".0" in requires, f"{base} does not satisfy requires-python {requires}"


def test_entrypoint_is_the_console_script() -> None:
    (entrypoint,) = dockerfile("ENTRYPOINT")
    argv = json.loads(entrypoint)  # exec form, so signals reach edgewatch itself
    assert argv == ["edgewatch"] and "edgewatch" in PYPROJECT["project"]["scripts"]
    (default,) = dockerfile("CMD")
    parse_args(json.loads(default))


def test_image_runs_as_a_user_and_keeps_the_repository_layout() -> None:
    users = dockerfile("USER")
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    copies = [args.split() for args in dockerfile("COPY")]
    app = next(parts[-1] for parts in copies if parts[:-1] == ["."])
    installs = " ".join(args for args in dockerfile("RUN") if "pip install" in args)
    # Editable, because edgewatch.migrate reads REPO_ROOT/migrations next to the package.
    assert re.search(rf"(--editable|-e)\s+{re.escape(app)}\b", installs), "install the copied repository editable"


def test_the_files_the_dockerfile_copies_exist() -> None:
    ignored = {line.strip().strip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    for args in dockerfile("COPY"):
        *sources, _ = [part for part in args.split() if not part.startswith("--")]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file"
            assert source == "." or source not in ignored, f"COPY {source}, but .dockerignore leaves it out"


def test_dockerignore_keeps_what_the_image_needs() -> None:
    ignored = {line.strip().strip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    ignored.discard("")
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {"pyproject.toml", "README.md", "migrations", "web", *packages}  # web/: the graph page
    for path in needed:
        assert path.rstrip("*") not in ignored, f".dockerignore leaves {path} out of the image"
    for local in (".venv", ".git", ".edgewatch"):
        assert local in ignored, f".dockerignore should leave {local} out of the build context"


# ---------------------------------------------------------------------------------------------
# Grafana provisioning


def grafana_mounts() -> dict[str, Path]:
    """Container path -> host path of Grafana's bind mounts."""
    return {target: source for source, target in bind_mounts(services()["grafana"])}


def test_bind_mounted_files_exist() -> None:
    for name, spec in services().items():
        for source, target in bind_mounts(spec):
            assert source.exists(), f"service {name} mounts {source} at {target}; it does not exist"


def provisioned(kind: str) -> list[dict[str, Any]]:
    folder = grafana_mounts()[f"/etc/grafana/provisioning/{kind}"]
    files = sorted(folder.glob("*.y*ml"))
    assert files, f"no provisioning file in {folder}"
    docs = [yaml.safe_load(path.read_text()) for path in files]
    assert all(doc.get("apiVersion") == 1 for doc in docs)
    key = "datasources" if kind == "datasources" else "providers"
    return [item for doc in docs for item in doc[key]]


def dashboards() -> dict[Path, dict[str, Any]]:
    mounts = grafana_mounts()
    found = {}
    for provider in provisioned("dashboards"):
        folder = mounts[provider["options"]["path"]]
        for path in sorted(folder.glob("*.json")):
            found[path] = json.loads(path.read_text())
    assert found, "no dashboard is provisioned"
    return found


def api_routes() -> dict[str, set[str]]:
    """GET path -> query parameter names, from the real application's OpenAPI schema."""
    app = create_app(Settings.model_validate({}), client=object())  # type: ignore[arg-type]  # routes only, no queries
    return {
        path: {param["name"] for param in operations["get"].get("parameters", []) if param["in"] == "query"}
        for path, operations in app.openapi()["paths"].items()
        if "get" in operations
    }


# The datasources' and dashboards' own checks are in tests/test_grafana_dashboards.py.


def test_grafana_home_dashboard_is_mounted() -> None:
    home = str(environment(services()["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    folder, _, name = home.rpartition("/")
    assert (grafana_mounts()[folder] / name).is_file()


# ---------------------------------------------------------------------------------------------
# The real Compose CLI, where it is installed


def _compose_cli() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _compose_cli(), reason="the docker compose CLI plugin is not installed")
@pytest.mark.parametrize("profile", [None, "demo"])
def test_docker_compose_config_accepts_the_file(profile: str | None) -> None:
    argv = ["docker", "compose", "--file", str(COMPOSE_FILE), "--project-directory", str(REPO_ROOT)]
    if profile:
        argv += ["--profile", profile]
    result = subprocess.run([*argv, "config", "--quiet"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
