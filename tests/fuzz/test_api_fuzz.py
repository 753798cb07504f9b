"""#15 guarantee 7, API fuzzing: schemathesis over the served OpenAPI schema, on the real engine
with realistic traffic stored (Istio lines of the fleetman mesh through the engine's decoder, an
outage the evaluator alerted on, a silence).

Every operation of the schema, positive and negative cases, auth off and auth on (the right
token sent; the same case without one must be 401). Checks: no 5xx, every 4xx a JSON body with
a message, declared responses conform to the schema. The reads (GETs and Grafana's POSTs) change
nothing in the store (row count and a checksum of every table); the writes change ``silences``
only. A second test sends injection strings through every string parameter the schema declares
(query, path, body) and checks the same, and that an injection meant to widen a filter finds no
more than an unknown name does.

Here rather than in tests/security/: it is the fuzzing of the API's inputs (guarantee 6 fuzzes
the ingester's); the token checks ride along because the same cases are sent both ways.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
import schemathesis
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from pydantic import SecretStr
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from alerts.notify.senders import ConsoleSender
from alerts.rules import load_rules
from alerts.service import AlertService
from api.app import create_app
from edgewatch.settings import Settings
from edgewatch.settle import settle
from tests.alerts.records import STAFF_EXTERNAL, WEBAPP, recent_minute, store, traffic
from tests.ingest.istio_lines import (
    API_GATEWAY_POD,
    STAFF_SERVICE_POD,
    envoy_time,
    external,
    fluent_bit,
    inbound,
    outbound,
)

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]

READER, ADMIN = "tok-reader-fuzz-3b8e", "tok-admin-fuzz-71c0"
WRITES = {("POST", "/api/v1/silences"), ("DELETE", "/api/v1/silences/{silence_id}"),
          ("POST", "/api/v1/rules/backtest")}
OPEN = {"/healthz", "/readyz", "/metrics"}
EXAMPLES = 12
"""Cases per operation, mode and app: 2 modes x 2 apps x ~25 operations x 12 = ~1,200 requests."""
NOW = recent_minute()


# --- the store ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    rows: int
    checksum: int


def snapshot(ch: Client) -> dict[str, Table]:
    """Row count and ``sum(cityHash64(*))`` of every table of the database that holds rows."""
    names = [name for (name,) in ch.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine NOT IN ('Null', 'MaterializedView') ORDER BY name").result_rows]
    tables = {}
    for name in names:
        rows, checksum = ch.query("SELECT count(), ifNull(sum(cityHash64(*)), 0) FROM {t:Identifier}",
                                  parameters={"t": name}).result_rows[0]
        tables[name] = Table(int(rows), int(checksum))
    return tables


def changed(before: dict[str, Table], after: dict[str, Table]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def fleetman_lines(now: datetime) -> list[str]:
    """Ten minutes of the fleetman mesh as Fluent Bit ships Istio's lines: api-gateway ->
    fleetman-staff-service (some 503s), the callee's report of each call, staff-service -> the
    external driver-monitoring host (timing out in the last two minutes)."""
    lines = []
    for i in range(0, 600, 3):
        at = now - timedelta(seconds=600 - i)
        request_id = f"fuzz-{i}"
        code = 503 if i % 30 == 0 else 200
        lines.append(fluent_bit(outbound(start_time=envoy_time(at), request_id=request_id, response_code=code),
                                API_GATEWAY_POD))
        lines.append(fluent_bit(inbound(start_time=envoy_time(at + timedelta(milliseconds=1)), request_id=request_id,
                                        response_code=code), STAFF_SERVICE_POD))
        late = i >= 480
        lines.append(fluent_bit(external(start_time=envoy_time(at), request_id=f"fuzz-x-{i}",
                                         response_code=504 if late else 200, response_flags="UT" if late else "-",
                                         duration=1000 if late else 120), STAFF_SERVICE_POD))
    return lines


@pytest.fixture
def stored(ch: Client) -> Client:
    """The engine with traffic, settled minutes, alerts and their history, and a silence."""
    rows = "".join(f"fuzz\t0\t{i}\t{line}\n" for i, line in enumerate(fleetman_lines(NOW)))
    ch.raw_insert("ingest_lines", None, rows.encode(), fmt="TSVRaw")
    start = NOW - timedelta(seconds=120)
    store(ch, traffic(WEBAPP, start, NOW, every=1.0) + traffic(STAFF_EXTERNAL, start, NOW, every=1.0))
    store(ch, traffic(WEBAPP, NOW, NOW + timedelta(seconds=40), every=1.0, code=503))
    store(ch, traffic(STAFF_EXTERNAL, NOW, NOW + timedelta(seconds=40), every=1.0, code=504, flags="UT",
                      duration_ms=1000.0))
    settle(ch, NOW)
    rules = [r for r in load_rules() if r.name == "edge-errors"]
    service = AlertService(Settings(clickhouse_url="chdb:///unused"), ch, rules=rules,
                           sender=ConsoleSender(io.StringIO()))
    service.evaluate_once(NOW + timedelta(seconds=20))
    service.evaluate_once(NOW + timedelta(seconds=35))
    return ch


# --- the checks ---------------------------------------------------------------------------------

def a_4xx_says_why(ctx: CheckContext, response: schemathesis.Response, case: Case) -> bool | None:
    """Every 4xx is a JSON object with a message: ``detail`` (a text, or FastAPI's list of
    errors, each with a ``msg``) or ``message`` (Grafana's 400s)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"a {response.status_code} without a JSON body: {response.text[:300]!r}") from None
    detail = body.get("detail") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str) and message.strip() or isinstance(detail, str) and detail.strip():
        return True
    if isinstance(detail, list) and detail and all(isinstance(e, dict) and str(e.get("msg", "")).strip()
                                                   for e in detail):
        return True
    raise AssertionError(f"a {response.status_code} without a message: {response.text[:300]!r}")


CHECKS = [not_a_server_error, a_4xx_says_why, response_schema_conformance, content_type_conformance]


# --- the fuzzing --------------------------------------------------------------------------------

def the_app(ch: Client, guarded: bool) -> FastAPI:
    tokens = {"api_token": SecretStr(READER), "admin_token": SecretStr(ADMIN)} if guarded else {}
    return create_app(Settings(clickhouse_url="chdb:///unused", **tokens), ch, clock=lambda: NOW)


def schema_of(app: FastAPI) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The token is ours to send (below), not generated.
    schema.config.generation.update(max_examples=EXAMPLES, deterministic=True, allow_x00=True,
                                    with_security_parameters=False)
    return schema


def operations(schema: Any) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations()]
    return sorted(found, key=lambda op: (op.path, op.method))


def key(operation: Any) -> tuple[str, str]:
    return operation.method.upper(), operation.path


def token_for(operation: Any) -> str:
    return ADMIN if key(operation) in WRITES else READER


@dataclass
class Tally:
    """Statuses answered, per operation."""

    statuses: dict[str, dict[int, int]] = field(default_factory=dict)

    def count(self, operation: Any, status: int) -> None:
        counts = self.statuses.setdefault(operation.label, {})
        counts[status] = counts.get(status, 0) + 1

    @property
    def cases(self) -> int:
        return sum(sum(counts.values()) for counts in self.statuses.values())


def fuzz(operation: Any, guarded: bool, tally: Tally, examples: int = EXAMPLES) -> None:
    """``examples`` positive and as many negative cases of ``operation``, each sent (with the
    right token when ``guarded``, and then without: 401) and checked."""
    headers = {"Authorization": f"Bearer {token_for(operation)}"} if guarded else None
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                             suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
                             print_blob=False)
        def run(case: Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
            tally.count(operation, response.status_code)
            if guarded and operation.path not in OPEN:
                refused = case.call()
                assert refused.status_code == 401, (operation.label, refused.status_code, refused.text[:300])
                a_4xx_says_why(None, schemathesis.Response.from_any(refused), case)  # type: ignore[arg-type]

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # no parameter, no body: no invalid request to make


@pytest.mark.parametrize("guarded", [False, True], ids=["auth-off", "auth-on"])
def test_fuzzing_every_operation(stored: Client, guarded: bool) -> None:
    """Reads first (the store must not change), then the writes (only ``silences`` may)."""
    schema = schema_of(the_app(stored, guarded))
    ops = operations(schema)
    assert len(ops) >= 20 and {key(op) for op in ops} >= WRITES
    tally, started = Tally(), time.perf_counter()
    before = snapshot(stored)
    for operation in (op for op in ops if key(op) not in WRITES):
        fuzz(operation, guarded, tally)
    assert changed(before, snapshot(stored)) == set(), "a read changed the store"
    for operation in (op for op in ops if key(op) in WRITES):
        fuzz(operation, guarded, tally)
    assert changed(before, snapshot(stored)) <= {"silences"}, "a write changed more than silences"
    print(f"\n{len(ops)} operations, {tally.cases} cases in {time.perf_counter() - started:.0f} s")
    for label, counts in sorted(tally.statuses.items()):
        print(f"  {label}: {dict(sorted(counts.items()))}")


# --- SQL injection --------------------------------------------------------------------------------

INJECTIONS = [
    "' OR 1=1 --", "'; DROP TABLE requests; --", "\") UNION SELECT name, 1, 2 FROM system.tables --",
    "api-gateway' OR '1'='1", "x\\' OR 1=1 --", "\\", "\\'", "x\x00y", "\x00' OR 1=1 --",
    "\u2019 OR 1=1 --", "\u201c) OR (\u201d1\u201d=\u201d1", "{f_sources:Array(String)}", "%(f_sources)s", "{0}",
    "%", "1; SELECT sleep(3)", "\u202e\U0001f642", "api-gateway" + "' OR 1=1 --" * 900,  # ~10 kB
]
"""Classic injections, escapes, NUL, Unicode quotes, the engine's and Python's parameter syntax,
a wildcard, a long one. Query strings carry up to ~10 kB here (the HTTP client's limit is 64 kB).
Not ``*``: Grafana's payloads and filters take it for "any" (docs/grafana.md), by design."""
FEW = INJECTIONS[:3] + ["x\x00y"]
"""For fields whose schema declares a format, a pattern or a set of values (windows, times,
kinds): their check refuses all of INJECTIONS alike; these four stand for them."""
UNKNOWN = "no-such-name-7f3a"
LONG_BODY_STRING = "' OR 1=1 --" * 10_000  # 110 kB, under the 1 MiB body limit
HOUR = timedelta(hours=1)
BASE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/silences"): {"destination": "staff-service", "ends_at": (NOW + HOUR).isoformat(),
                                   "comment": "fuzz"},
    ("POST", "/api/v1/rules/backtest"): {"rule": "edge-errors", "start": (NOW - timedelta(minutes=10)).isoformat(),
                                         "end": NOW.isoformat(), "step": "1m"},
    ("POST", "/grafana/metrics"): {"metric": "requests", "payload": {"source": "api-gateway"}},
    ("POST", "/grafana/search"): {"target": "rate"},
    ("POST", "/grafana/metric-payload-options"): {"metric": "requests", "name": "destination",
                                                  "payload": {"source": "api-gateway"}},
    ("POST", "/grafana/query"): {
        "range": {"from": (NOW - HOUR).isoformat(), "to": NOW.isoformat()}, "intervalMs": 60_000,
        "targets": [{"target": "requests", "refId": "A", "payload": {"source": "api-gateway", "kind": "service"}}],
        "filters": [{"key": "destination", "operator": "=", "value": "fleetman-staff-service"}]},
    ("POST", "/grafana/variable"): {"payload": {"target": "destination", "source": "api-gateway"}},
    ("POST", "/grafana/tag-keys"): {"filters": [{"key": "source", "operator": "=", "value": "api-gateway"}]},
    ("POST", "/grafana/tag-values"): {"key": "destination",
                                      "filters": [{"key": "source", "operator": "=", "value": "api-gateway"}]},
}
"""A valid body per operation that takes one; the injections go into every string field its
schema declares. A new operation with a body must be added here (the test says so)."""
PATH_VALUES = {"name": "fleetman-staff-service", "silence_id": "0" * 32}

Path = tuple[str | int, ...]


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def constrained(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    """The schema says which strings it takes (a format, a pattern, an enum)."""
    schema = resolve(schema, spec)
    branches = [resolve(s, spec) for s in schema.get("anyOf", []) + schema.get("oneOf", [])] + [schema]
    return any(key in branch for branch in branches for key in ("format", "pattern", "enum"))


def takes_string(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    schema = resolve(schema, spec)
    if schema.get("type") == "string":
        return True
    return any(takes_string(s, spec) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def string_fields(schema: dict[str, Any], spec: dict[str, Any], base: Any, at: Path = ()
                  ) -> list[tuple[Path, bool]]:
    """Where a body of ``schema`` (with ``base``'s keys and lists) holds a string: the paths of
    every such field the schema declares, into objects, lists (their first item) and maps (the
    keys ``base`` has), each with whether the schema constrains it."""
    schema = resolve(schema, spec)
    found = [(at, constrained(schema, spec))] if takes_string(schema, spec) and at else []
    branches = [resolve(s, spec) for s in schema.get("anyOf", []) + schema.get("oneOf", [])] or [schema]
    for branch in branches:
        for name, sub in branch.get("properties", {}).items():
            found += string_fields(sub, spec, base.get(name) if isinstance(base, dict) else None, (*at, name))
        extra = branch.get("additionalProperties")
        if isinstance(extra, dict) and isinstance(base, dict) and not branch.get("properties"):
            for name in base:
                found += string_fields(extra, spec, base[name], (*at, name))
        if "items" in branch and isinstance(base, list) and base:
            found += string_fields(branch["items"], spec, base[0], (*at, 0))
    return list(dict.fromkeys(found))


def with_value(base: Any, path: Path, value: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(base) if isinstance(base, list) and base else [{}]
        items[0] = with_value(items[0], rest, value)
        return items
    copy = dict(base) if isinstance(base, dict) else {}
    copy[head] = with_value(copy.get(head), rest, value)
    return copy


@dataclass(frozen=True)
class Injection:
    """One request: ``value`` in one parameter (``where``: query, path or body) of one operation."""

    method: str
    path: str
    where: str
    field: Path
    value: str

    def request(self, base: dict[str, Any] | None) -> dict[str, Any]:
        params = {self.field[0]: self.value} if self.where == "query" else {}
        names = {**PATH_VALUES, **({self.field[0]: self.value} if self.where == "path" else {})}
        url = self.path.format(**{name: quote(str(v), safe="") for name, v in names.items()})
        body = with_value(base, self.field, self.value) if self.where == "body" else base
        return {"method": self.method, "url": url, "params": params, "json": body}


def injections(spec: dict[str, Any], values: list[str]) -> list[Injection]:
    """``values`` in every string parameter of every operation of ``spec`` (but the open ones)."""
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path in OPEN:
                continue
            for parameter in operation.get("parameters", []):
                if takes_string(parameter["schema"], spec):
                    some = FEW if constrained(parameter["schema"], spec) else values
                    found += [Injection(method.upper(), path, parameter["in"], (parameter["name"],), v)
                              for v in some]
            if "requestBody" in operation:
                assert (method.upper(), path) in BASE_BODIES, f"add a valid body of {method.upper()} {path}"
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                base = BASE_BODIES[method.upper(), path]
                for field_path, narrow in string_fields(schema, spec, base):
                    some = FEW if narrow else [*values, LONG_BODY_STRING]
                    found += [Injection(method.upper(), path, "body", field_path, v) for v in some]
    return found


def echo_replaced(body: Any, value: str, by: str) -> Any:
    """``body`` with ``value`` replaced by ``by`` in every string (answers echo what was asked)."""
    if isinstance(body, str):
        return body.replace(value, by)
    if isinstance(body, list):
        return [echo_replaced(item, value, by) for item in body]
    if isinstance(body, dict):
        return {echo_replaced(k, value, by): echo_replaced(v, value, by) for k, v in body.items()}
    return body


def test_injections_through_every_string_parameter_change_nothing_and_find_nothing_more(stored: Client) -> None:
    """Every string parameter of the schema (query, path, body), each injection: no 5xx, a 4xx
    says why, the store unchanged (reads; writes change ``silences`` only, every table still
    there), and a 200 answers exactly what a plain unknown name gets (the injection widened
    no filter: ``source=' OR 1=1 --`` finds no edge)."""
    api = TestClient(the_app(stored, guarded=False), raise_server_exceptions=False)
    spec = api.get("/openapi.json").json()
    cases = injections(spec, INJECTIONS)
    assert {(c.method, c.path, c.where) for c in cases} >= {
        ("GET", "/api/v1/edges", "query"), ("GET", "/api/v1/services/{name}/dependents", "path"),
        ("DELETE", "/api/v1/silences/{silence_id}", "path"), ("POST", "/grafana/query", "body")}
    fields = {(c.method, c.path, c.where, c.field) for c in cases}
    assert {("GET", "/api/v1/edges", "query", ("source",)), ("GET", "/api/v1/requests", "query", ("status",)),
            ("POST", "/grafana/query", "body", ("targets", 0, "payload", "source")),
            ("POST", "/grafana/query", "body", ("filters", 0, "value")),
            ("POST", "/api/v1/silences", "body", ("comment",))} <= fields
    before = snapshot(stored)
    widened, statuses = [], {}
    for write in (False, True):
        for case in (c for c in cases if ((c.method, c.path) in WRITES) == write):
            base = BASE_BODIES.get((case.method, case.path))
            response = api.request(**case.request(base))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (case, response.text[:500])
            if 400 <= response.status_code < 500:
                body = response.json()
                assert body.get("detail") or body.get("message"), (case, response.text[:500])
            if response.status_code == 200 and not write:
                plain = api.request(**Injection(case.method, case.path, case.where, case.field, UNKNOWN).request(base))
                if echo_replaced(response.json(), case.value, UNKNOWN) != plain.json():
                    widened.append((case, response.text[:300], plain.text[:300]))
        assert changed(before, snapshot(stored)) <= ({"silences"} if write else set()), write
    assert snapshot(stored).keys() == before.keys()
    assert not widened, widened[:3]
    assert statuses.get(200, 0) > 100, statuses  # most injections were answered, not refused
    print(f"\n{len(cases)} injections: {dict(sorted(statuses.items()))}")
