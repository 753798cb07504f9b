"""The mesh's own config: reading ServiceEntry/VirtualService YAML, the lookup per edge, reloading.

Pure unit tests: files in a temporary folder, the clock set by the test. The YAML is shaped as
``kubectl get serviceentry,virtualservice -A -o yaml`` prints it (a ``kind: List`` with
metadata the API server adds), as a user's export would be.
"""

from __future__ import annotations

import logging
import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgewatch.edge import Edge
from edgewatch.mesh.config import EMPTY, NO_FACTS, MeshConfig, MeshFacts, service_host
from edgewatch.mesh.objects import MeshConfigError, Retries, duration_ms, read_objects
from edgewatch.mesh.source import MeshConfigSource, read_mesh_config
from edgewatch.settings import REPO_ROOT, Settings

SEED = REPO_ROOT / "deploy" / "mesh" / "fleetman.yaml"
DRIVER_MONITORING = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"


def config_of(*objects: dict[str, Any]) -> MeshConfig:
    found = read_objects(yaml.safe_dump_all(objects), "test.yaml")
    return MeshConfig(found.service_entries, found.virtual_services, found.ignored)


def vs(name: str, spec: dict[str, Any], namespace: str = "default", version: str = "v1",
       created: str = "2026-11-20T09:00:00Z") -> dict[str, Any]:
    return {"apiVersion": f"networking.istio.io/{version}", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}, "spec": spec}


def se(name: str, spec: dict[str, Any], namespace: str = "default", version: str = "v1") -> dict[str, Any]:
    return {"apiVersion": f"networking.istio.io/{version}", "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def route(timeout: str | None = None, *, match: list[dict[str, Any]] | None = None, host: str = "x",
          port: int | None = None, retries: dict[str, Any] | None = None) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": host}
    if port:
        destination["port"] = {"number": port}
    found: dict[str, Any] = {"route": [{"destination": destination}]}
    if match is not None:
        found["match"] = match
    if timeout is not None:
        found["timeout"] = timeout
    if retries is not None:
        found["retries"] = retries
    return found


# ---------------------------------------------------------------------------------------------
# Durations, as Istio reads them


@pytest.mark.parametrize(("text", "ms"), [
    ("1s", 1000), ("0.5s", 500), ("500ms", 500), ("1m", 60_000), ("1h", 3_600_000), ("1.5s", 1500),
    ("1m30s", 90_000), ("2.5m", 150_000), ("1000us", 1), ("1000000ns", 1), ("+2s", 2000), (".5s", 500),
    ("0", None), ("0s", None), ("0ms", None),
])
def test_durations_istio_accepts(text: str, ms: int | None) -> None:
    assert duration_ms(text) == ms


@pytest.mark.parametrize(("text", "why"), [
    ("1 s", "not a duration"), ("1", "not a duration"), ("s", "not a duration"), ("", "not a duration"),
    ("1d", "not a duration"), ("1S", "not a duration"), ("1s ", "not a duration"),
    ("-1s", "negative"), ("0.5ms", "below 1ms"), ("1500us", "whole milliseconds"), ("1.0005s", "whole milliseconds"),
])
def test_durations_istio_refuses(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        duration_ms(text)


# ---------------------------------------------------------------------------------------------
# The seed: the fleetman demo's export


def test_the_seed_declares_the_course_s_service_entry_and_timeouts() -> None:
    config, stamps = read_mesh_config(SEED)
    assert [stamp[0] for stamp in stamps] == [str(SEED)]
    assert (len(config.service_entries), len(config.virtual_services), config.ignored) == (1, 3, {})

    external = MeshFacts(service_entry="fleetman-driver-monitoring", service_entry_namespace="default",
                         location="MESH_EXTERNAL", timeout_ms=1000,
                         virtual_service="default/fleetman-driver-monitoring")
    # The route matches requests on port 80 and sends them to 443 (the records' cluster port).
    for port in (None, 80, 443):
        assert config.lookup(DRIVER_MONITORING, "", port) == external
    assert config.lookup(DRIVER_MONITORING, "", 8443).timeout_ms is None  # no route for that port
    edge = Edge("staff-service", "default", DRIVER_MONITORING, "", "external")
    assert config.for_edge(edge) == external

    telemetry = config.lookup("fleetman-vehicle-telemetry", "default", 8080)  # a short host in default
    assert telemetry == MeshFacts(timeout_ms=2000, virtual_service="default/fleetman-vehicle-telemetry")
    assert config.lookup("fleetman-vehicle-telemetry", "other") is NO_FACTS
    # fleetman-webapp's VirtualService is the ingress gateway's (hosts "*"): no sidecar uses it.
    for service in ("fleetman-webapp", "fleetman-staff-service", "fleetman-api-gateway"):
        assert config.lookup(service, "default") is NO_FACTS

    (declared,) = config.declared_hosts()
    assert (declared.host, declared.service_entry, declared.location, declared.ports) == (
        DRIVER_MONITORING, "fleetman-driver-monitoring", "MESH_EXTERNAL", (80, 443))


def test_destinations_are_named_as_the_records_name_them() -> None:
    assert service_host("fleetman-staff-service", "default") == "fleetman-staff-service.default.svc.cluster.local"
    assert service_host("reviews.prod.svc", "") == "reviews.prod.svc.cluster.local"
    assert service_host("Reviews.Prod.svc.cluster.local.", "x") == "reviews.prod.svc.cluster.local"
    assert service_host(DRIVER_MONITORING.upper(), "") == DRIVER_MONITORING
    assert service_host("webapp", "") == "webapp"
    config = config_of(vs("r", {"hosts": ["reviews"], "http": [route("3s")]}, namespace="prod"))
    for destination, namespace in (("reviews", "prod"), ("reviews.prod.svc.cluster.local", ""),
                                   ("reviews.prod.svc", "")):
        assert config.lookup(destination, namespace).timeout_ms == 3000


# ---------------------------------------------------------------------------------------------
# What is read


KUBECTL_LIST = """\
apiVersion: v1
items:
- apiVersion: networking.istio.io/v1beta1
  kind: ServiceEntry
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"networking.istio.io/v1beta1","kind":"ServiceEntry","metadata":{"annotations":{},"name":"payments","namespace":"shop"},"spec":{"hosts":["api.payments.example"],"ports":[{"name":"https","number":443,"protocol":"TLS"}]}}
    creationTimestamp: "2026-10-01T12:00:00Z"
    generation: 3
    managedFields:
    - apiVersion: networking.istio.io/v1beta1
      fieldsType: FieldsV1
      fieldsV1:
        f:spec:
          f:hosts: {}
      manager: kubectl-client-side-apply
      operation: Update
      time: "2026-10-01T12:00:00Z"
    name: payments
    namespace: shop
    resourceVersion: "901234"
    uid: 0b7c3c52-3f1e-4a5e-9d63-1a2b3c4d5e6f
  spec:
    hosts:
    - api.payments.example
    ports:
    - name: https
      number: 443
      protocol: TLS
    resolution: DNS
  status: {}
- apiVersion: networking.istio.io/v1beta1
  kind: VirtualService
  metadata:
    creationTimestamp: "2026-10-01T12:00:01Z"
    generation: 1
    name: payments
    namespace: shop
    resourceVersion: "901240"
    uid: 7d1e2f30-4a5b-4c6d-8e9f-0a1b2c3d4e5f
  spec:
    hosts:
    - api.payments.example
    http:
    - retries:
        attempts: 3
        perTryTimeout: 500ms
        retryOn: gateway-error,connect-failure,refused-stream
      route:
      - destination:
          host: api.payments.example
      timeout: 2s
kind: List
metadata:
  resourceVersion: ""
"""


def test_a_kubectl_list_with_server_metadata() -> None:
    found = read_objects(KUBECTL_LIST, "export.yaml")
    config = MeshConfig(found.service_entries, found.virtual_services)
    facts = config.lookup("api.payments.example")
    assert facts == MeshFacts(service_entry="payments", service_entry_namespace="shop", location="MESH_EXTERNAL",
                              timeout_ms=2000, retries=Retries(3, 500, "gateway-error,connect-failure,refused-stream"),
                              virtual_service="shop/payments")


def test_multi_document_files_and_other_kinds() -> None:
    text = textwrap.dedent("""\
        # applied by hand
        apiVersion: networking.istio.io/v1alpha3
        kind: ServiceEntry
        metadata:
          name: wiki
        spec:
          hosts: [wikipedia.org]
          location: MESH_INTERNAL
        ---
        apiVersion: networking.istio.io/v1alpha3
        kind: DestinationRule
        metadata: {name: wiki}
        spec: {host: wikipedia.org}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: webapp}
        ---
        apiVersion: networking.istio.io/v1alpha3
        kind: VirtualService
        metadata:
          name: wiki
        spec:
          hosts: [wikipedia.org]
          http:
          - timeout: 5s
            route:
            - destination: {host: wikipedia.org}
        ---
        """)
    found = read_objects(text, "by-hand.yaml")
    assert dict(found.ignored) == {"networking.istio.io/v1alpha3 DestinationRule": 1, "v1 Service": 1}
    config = MeshConfig(found.service_entries, found.virtual_services)
    facts = config.lookup("wikipedia.org")
    # No namespace in the manifests: kubectl's usual context, default.
    assert (facts.service_entry_namespace, facts.location, facts.timeout_ms) == ("default", "MESH_INTERNAL", 5000)


def test_a_typed_list_from_the_api_server() -> None:
    text = yaml.safe_dump({"apiVersion": "networking.istio.io/v1", "kind": "VirtualServiceList",
                           "items": [vs("a", {"hosts": ["a.example"], "http": [route("4s")]})]})
    found = read_objects(text, "api.yaml")
    assert [v.meta.name for v in found.virtual_services] == ["a"]
    assert read_objects("apiVersion: v1\nkind: List\nitems: []\n", "empty.yaml").virtual_services == []


@pytest.mark.parametrize("version", ["v1alpha3", "v1beta1", "v1"])
def test_every_api_version_reads_the_same(version: str) -> None:
    config = config_of(se("ext", {"hosts": ["ext.example"]}, version=version),
                       vs("ext", {"hosts": ["ext.example"], "http": [route("1.5s", retries={"attempts": 2})]},
                          version=version))
    assert config.lookup("ext.example") == MeshFacts(service_entry="ext", service_entry_namespace="default",
                                                     location="MESH_EXTERNAL", timeout_ms=1500,
                                                     retries=Retries(2), virtual_service="default/ext")


def test_a_folder_of_files_as_a_configmap_mounts_it(tmp_path: Path) -> None:
    # A ConfigMap volume: each key a symlink into the ..data folder, which is swapped on update.
    data = tmp_path / "..2026_11_20_09_14_03.1"
    data.mkdir()
    (tmp_path / "..data").symlink_to(data.name)
    (data / "external.yaml").write_text(yaml.safe_dump(se("ext", {"hosts": ["ext.example"]})))
    (data / "routes.yml").write_text(yaml.safe_dump(vs("ext", {"hosts": ["ext.example"], "http": [route("3s")]})))
    for name in ("external.yaml", "routes.yml"):
        (tmp_path / name).symlink_to(f"..data/{name}")
    (tmp_path / "README.txt").write_text("not yaml: not read")
    (tmp_path / ".hidden.yaml").write_text("{broken")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "stale.yaml").write_text("{broken")

    config, stamps = read_mesh_config(tmp_path)
    assert [Path(stamp[0]).name for stamp in stamps] == ["external.yaml", "routes.yml"]
    facts = config.lookup("ext.example")
    assert (facts.service_entry, facts.timeout_ms) == ("ext", 3000)


# ---------------------------------------------------------------------------------------------
# Hosts


def test_wildcard_hosts_most_specific_first() -> None:
    config = config_of(
        se("wiki", {"hosts": ["*.wikipedia.org"]}),
        se("en-wiki", {"hosts": ["en.wikipedia.org"]}),
        vs("all-org", {"hosts": ["*.org"], "http": [route("9s")]}),
        vs("wiki", {"hosts": ["*.wikipedia.org"], "http": [route("4s")]}),
    )
    assert config.lookup("de.wikipedia.org").service_entry == "wiki"
    assert config.lookup("a.b.wikipedia.org").service_entry == "wiki"  # a wildcard spans several labels
    assert config.lookup("en.wikipedia.org").service_entry == "en-wiki"  # the exact host wins
    assert config.lookup("wikipedia.org").service_entry is None  # *.wikipedia.org is not wikipedia.org
    assert config.lookup("de.wikipedia.org").timeout_ms == 4000  # the longer wildcard wins
    assert config.lookup("wikipedia.org").timeout_ms == 9000
    assert config.lookup("example.com") is NO_FACTS
    assert [h.host for h in config.declared_hosts()] == ["en.wikipedia.org"]  # wildcards name no node


def test_short_names_are_resolved_in_the_virtual_service_s_namespace() -> None:
    config = config_of(
        vs("reviews", {"hosts": ["reviews"], "http": [route("3s")]}, namespace="shop"),
        vs("ratings", {"hosts": ["ratings.prod.svc.cluster.local"], "http": [route("7s")]}, namespace="istio-system"),
    )
    assert config.lookup("reviews", "shop").timeout_ms == 3000
    assert config.lookup("reviews", "default") is NO_FACTS  # "reviews" in shop is reviews.shop
    assert config.lookup("ratings", "prod").timeout_ms == 7000  # an FQDN ignores the rule's namespace
    assert config.lookup("ratings", "istio-system") is NO_FACTS


def test_the_oldest_of_two_virtual_services_for_one_host_is_used() -> None:
    config = config_of(vs("newer", {"hosts": ["a.example"], "http": [route("1s")]}, created="2026-11-02T00:00:00Z"),
                       vs("older", {"hosts": ["a.example"], "http": [route("8s")]}, created="2026-11-01T00:00:00Z"))
    assert config.lookup("a.example").virtual_service == "default/older"


def test_export_to_limits_who_sees_an_object() -> None:
    config = config_of(
        se("private", {"hosts": ["db.example"], "exportTo": ["."]}, namespace="team-a"),
        vs("private", {"hosts": ["db.example"], "exportTo": [".", "team-b"], "http": [route("2s")]},
           namespace="team-a"),
    )
    assert config.lookup("db.example", caller_namespace="team-a").service_entry == "private"
    seen_from_b = config.lookup("db.example", caller_namespace="team-b")
    assert (seen_from_b.service_entry, seen_from_b.timeout_ms) == (None, 2000)
    assert config.lookup("db.example", caller_namespace="team-c") is NO_FACTS
    assert config.lookup("db.example").service_entry == "private"  # caller unknown: everything counts
    assert config.for_edge(Edge("api", "team-c", "db.example", "", "external")) is NO_FACTS


# ---------------------------------------------------------------------------------------------
# Routes: ports, the shortest timeout, retries, gateways


def test_the_route_for_the_port_and_otherwise_the_shortest() -> None:
    config = config_of(vs("multi", {"hosts": ["multi"], "http": [
        route("3s", match=[{"port": 8080}]),
        route("1s", match=[{"port": 9090}]),
        route("10s"),
    ]}))
    lookup = config.lookup
    assert lookup("multi", "default", 8080).timeout_ms == 3000  # the catch-all never sees 8080
    assert lookup("multi", "default", 9090).timeout_ms == 1000
    assert lookup("multi", "default", 7000).timeout_ms == 10_000  # only the catch-all takes 7000
    assert lookup("multi", "default").timeout_ms == 1000  # port unknown: the shortest


def test_a_route_that_takes_only_some_requests_does_not_hide_the_next() -> None:
    config = config_of(vs("api", {"hosts": ["api"], "http": [
        route("30s", match=[{"uri": {"prefix": "/export"}}]),
        route("2s"),
        route("1s"),  # after a route that takes everything: never used
    ]}))
    assert config.lookup("api", "default").timeout_ms == 2000
    assert config.lookup("api", "default", 8080).timeout_ms == 2000
    some = [{"headers": {"x-debug": {"exact": "1"}}}]
    no_timeout = config_of(vs("api", {"hosts": ["api"], "http": [route(None, match=some), route("2s")]}))
    assert no_timeout.lookup("api", "default").timeout_ms == 2000  # the shortest of those that set one


def test_retries_where_set() -> None:
    config = config_of(
        vs("a", {"hosts": ["a"], "http": [route("5s", retries={"attempts": 3, "perTryTimeout": "2s"})]}),
        vs("b", {"hosts": ["b"], "http": [route(retries={"attempts": 0})]}),
        vs("c", {"hosts": ["c"], "http": [
            route(match=[{"port": 80}], retries={"attempts": 5, "perTryTimeout": "1s", "retryOn": "5xx"}),
            route(retries={"attempts": 2, "perTryTimeout": "300ms"}),
        ]}),
        vs("d", {"hosts": ["d"], "http": [route("1s")]}),
    )
    assert config.lookup("a", "default").retries == Retries(3, 2000)
    assert config.lookup("b", "default") == MeshFacts(retries=Retries(0), virtual_service="default/b")
    assert config.lookup("c", "default", 80).retries == Retries(5, 1000, "5xx")
    assert config.lookup("c", "default", 81).retries == Retries(2, 300)
    assert config.lookup("c", "default").retries == Retries(2, 300)  # the shortest per-try timeout
    assert config.lookup("d", "default").retries is None  # Istio's default policy is not reported


def test_routes_bound_only_to_gateways_do_not_apply_to_sidecars() -> None:
    config = config_of(
        vs("ingress", {"hosts": ["shop.example", "web"], "gateways": ["istio-system/public"], "http": [route("1s")]}),
        vs("both", {"hosts": ["both"], "gateways": ["public", "mesh"], "http": [route("2s")]}),
        vs("per-route", {"hosts": ["split"], "gateways": ["public"], "http": [
            route("1s"),
            route("6s", match=[{"gateways": ["mesh"], "port": 8080}]),
        ]}),
        vs("web", {"hosts": ["web"], "http": [route("4s")]}, created="2026-12-01T00:00:00Z"),
    )
    assert config.lookup("shop.example") is NO_FACTS
    assert config.lookup("web", "default").timeout_ms == 4000  # the older gateway one does not shadow it
    assert config.lookup("both", "default").timeout_ms == 2000
    assert config.lookup("split", "default").timeout_ms == 6000
    assert config.lookup("split", "default", 9090).timeout_ms is None


def test_lookups_are_memoized_and_the_empty_config_knows_nothing() -> None:
    config = config_of(vs("a", {"hosts": ["a.example"], "http": [route("1s")]}))
    assert config.lookup("a.example", "", 80) is config.lookup("a.example", "", 80)
    assert EMPTY.lookup(DRIVER_MONITORING) is NO_FACTS and EMPTY.declared_hosts() == []


# ---------------------------------------------------------------------------------------------
# Broken files at start


def write(path: Path, text: str, mtime_ns: int) -> None:
    """Write and set an explicit mtime: file times are coarse, so two quick writes could look alike."""
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


BAD_TIMEOUT = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
    se("ext", {"hosts": ["ext.example"]}),
    vs("slow", {"hosts": ["ext.example"], "http": [route("1 s")]}),
]})


def dump(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj)


@pytest.mark.parametrize(("text", "expected"), [
    ("items: [a: b\n  - c", r"broken\.yaml: not valid YAML: line 3, column 1: did not find expected"),
    (BAD_TIMEOUT, r"broken\.yaml: items\[1\], VirtualService default/slow: "
                  r"spec\.http\[0\]\.timeout: '1 s' is not a duration"),
    (dump(se("ok", {"hosts": ["ok.example"]})) + "---\n- just a list\n",
     r"broken\.yaml: document 2: expected a Kubernetes object, got list"),
    ("rules:\n- name: x\n", r"broken\.yaml: not a Kubernetes object: it needs apiVersion and kind"),
    (dump(se("ext", {"hosts": []})), r"ServiceEntry default/ext: spec\.hosts: a ServiceEntry needs at least one host"),
    (dump(se("ext", {"hosts": ["e"], "location": "OUTSIDE"})), r"spec\.location: 'OUTSIDE'"),
    (dump(vs("v", {"hosts": ["h"], "http": [route(match=[{"port": "80"}])]})),
     r"spec\.http\[0\]\.match\[0\]\.port: expected a port number"),
    (dump(vs("v", {"hosts": ["h"], "http": [route(retries={"attempts": -1})]})), r"retries\.attempts"),
    (dump(vs("v", {"hosts": ["h"]}, version="v2")), r"apiVersion networking\.istio\.io/v2: Edgewatch reads"),
    (dump({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "spec": {}}),
     r"VirtualService: metadata\.name: missing"),
])
def test_a_broken_file_at_start_names_the_file_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "broken.yaml").write_text(text)
    for path in (tmp_path, tmp_path / "broken.yaml"):
        with pytest.raises(MeshConfigError, match=expected) as raised:
            MeshConfigSource(path)
        assert str(raised.value).startswith(str(tmp_path / "broken.yaml"))


def test_a_missing_path_and_an_object_declared_twice_stop_the_start(tmp_path: Path) -> None:
    with pytest.raises(MeshConfigError, match="no such file or folder"):
        MeshConfigSource(tmp_path / "missing")
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(vs("dup", {"hosts": ["h"]})))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(vs("dup", {"hosts": ["h"]})))
    with pytest.raises(MeshConfigError, match=r"VirtualService default/dup is declared in .*a\.yaml and .*b\.yaml"):
        MeshConfigSource(tmp_path)


# ---------------------------------------------------------------------------------------------
# Reloading


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def timeout_file(timeout: str) -> str:
    return yaml.safe_dump(vs("ext", {"hosts": ["ext.example"], "http": [route(timeout)]}))


def test_a_changed_file_is_read_again_at_the_next_check(tmp_path: Path) -> None:
    clock, file = Clock(), tmp_path / "mesh.yaml"
    write(file, timeout_file("1s"), 1_000_000_000)
    source = MeshConfigSource(tmp_path, clock=clock, check_every=5)
    assert source.refresh().lookup("ext.example").timeout_ms == 1000
    write(file, timeout_file("2s"), 2_000_000_000)
    clock.advance(4)
    assert source.refresh().lookup("ext.example").timeout_ms == 1000  # not checked yet
    clock.advance(1)
    assert source.refresh().lookup("ext.example").timeout_ms == 2000
    assert source.status.loaded_at == clock.now and source.status.last_error is None
    clock.advance(-60)  # a clock set back checks at once rather than waiting a minute
    write(file, timeout_file("3s"), 3_000_000_000)
    assert source.refresh().lookup("ext.example").timeout_ms == 3000


def test_a_broken_file_on_reload_keeps_the_last_good_config(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock, file = Clock(), tmp_path / "mesh.yaml"
    write(file, timeout_file("1s"), 1_000_000_000)
    source = MeshConfigSource(tmp_path, clock=clock, check_every=5)
    started = clock.now
    good = source.config

    write(file, timeout_file("1 s"), 2_000_000_000)
    caplog.set_level(logging.WARNING, logger="edgewatch.mesh.source")
    for _ in range(3):
        clock.advance(5)
        assert source.refresh() is good
    status = source.status
    assert status.loaded_at == started and status.last_error_at == started + timedelta(seconds=5)
    assert str(status.last_error).startswith(str(file))
    assert "spec.http[0].timeout: '1 s' is not a duration" in str(status.last_error)
    assert len(caplog.records) == 1, "a broken file is logged once, not at every check"
    details = status.details()
    assert details["files"] == [str(file)] and details["last_error"] == status.last_error
    assert details["loaded_at"] == started.isoformat()

    write(file, timeout_file("4s"), 3_000_000_000)
    clock.advance(5)
    assert source.refresh().lookup("ext.example").timeout_ms == 4000
    assert source.status.last_error is None and source.status.loaded_at == clock.now


def test_added_and_deleted_files_are_seen_on_reload(tmp_path: Path) -> None:
    clock = Clock()
    write(tmp_path / "a.yaml", yaml.safe_dump(se("a", {"hosts": ["a.example"]})), 1_000_000_000)
    source = MeshConfigSource(tmp_path, clock=clock, check_every=5)
    assert source.config.lookup("a.example").service_entry == "a"

    write(tmp_path / "b.yml", yaml.safe_dump(se("b", {"hosts": ["b.example"]})), 1_000_000_000)
    clock.advance(5)
    config = source.refresh()
    assert (config.lookup("a.example").service_entry, config.lookup("b.example").service_entry) == ("a", "b")
    assert [Path(name).name for name in source.status.files] == ["a.yaml", "b.yml"]

    (tmp_path / "a.yaml").unlink()
    clock.advance(5)
    config = source.refresh()
    assert config.lookup("a.example") is NO_FACTS and config.lookup("b.example").service_entry == "b"
    assert [Path(name).name for name in source.status.files] == ["b.yml"]


def test_a_folder_that_disappears_keeps_the_last_good_config(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock, folder = Clock(), tmp_path / "mesh"
    folder.mkdir()
    write(folder / "a.yaml", yaml.safe_dump(se("a", {"hosts": ["a.example"]})), 1_000_000_000)
    source = MeshConfigSource(folder, clock=clock, check_every=5)
    good = source.config
    (folder / "a.yaml").unlink()
    folder.rmdir()
    caplog.set_level(logging.WARNING, logger="edgewatch.mesh.source")
    for _ in range(2):
        clock.advance(5)
        assert source.refresh() is good
    assert "no such file or folder" in str(source.status.last_error) and len(caplog.records) == 1


def test_no_mesh_config() -> None:
    source = MeshConfigSource(None)
    assert source.refresh() is EMPTY and source.status.path is None and source.status.details()["files"] == []


def test_the_setting_and_the_compose_example(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_compose import bind_mounts, environment, services

    monkeypatch.setenv("EDGEWATCH_MESH_CONFIG", "/etc/edgewatch/mesh")
    assert Settings().mesh_config == Path("/etc/edgewatch/mesh")
    monkeypatch.delenv("EDGEWATCH_MESH_CONFIG")
    assert Settings().mesh_config is None
    for name in ("api", "alerts"):
        spec = services()[name]
        setting = environment(spec)["EDGEWATCH_MESH_CONFIG"]
        mounted = {target: source for source, target in bind_mounts(spec)}
        assert setting in mounted, f"{name} reads {setting}, which is not mounted"
        config, _ = read_mesh_config(mounted[str(setting)])
        assert config.lookup(DRIVER_MONITORING).service_entry == "fleetman-driver-monitoring"
