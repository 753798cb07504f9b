"""The SQL of rule evaluation: each rule's one query over every edge, and message details.

A rule's query is its condition's (:meth:`alerts.conditions.base.Condition.query`) over the
edges its selector matches; it returns only the edges where the condition holds and that had
at least ``min_requests`` requests. :mod:`alerts.conditions.window` says which rollup rows
answer a window. Everything reaches SQL as a server-side parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from alerts.conditions.window import Query, Scope, edge_sums
from alerts.model import Edge, EdgeDetails, Observation
from alerts.rules import Rule
from edgewatch.calls import CALL_ROWS, IS_ERROR, IS_TIMEOUT, epoch_ms
from edgewatch.edge import KEY_COLUMNS
from edgewatch.mesh.config import EMPTY, MeshConfig
from edgewatch.settle import settled_until
from edgewatch.snapshot import Snapshot


def rule_scope(rule: Rule, now: datetime, mesh: MeshConfig = EMPTY, settled: datetime | None = None,
               snapshot: Snapshot | None = None) -> Scope:
    """What ``rule``'s query covers at ``now``: the edges its selector matches, its minimum requests."""
    edges, params = rule.selector.sql()
    return Scope(now, edges, params, rule.min_requests, mesh, settled, snapshot)


def rule_query(rule: Rule, now: datetime, mesh: MeshConfig = EMPTY, settled: datetime | None = None) -> Query:
    """The rule's one query at ``now`` and its parameters."""
    return rule.condition.query(rule_scope(rule, now, mesh, settled))


def observe(client: Client, rule: Rule, now: datetime, mesh: MeshConfig = EMPTY,
            settled: datetime | None = None, snapshot: Snapshot | None = None) -> list[Observation]:
    """Every edge where ``rule``'s condition holds at ``now``: one query, all edges; ``mesh``
    is the mesh's own config (configured timeouts); ``settled`` where settling stands (read now
    when None: a rule on traffic from outside the mesh does not wait for settling); ``snapshot``
    the evaluation's snapshot of the calls after it (None: the query matches them itself)."""
    settled = settled if settled is not None else settled_until(client)
    scope = rule_scope(rule, now, mesh, settled, snapshot)
    sql, params = rule.condition.query(scope)
    return rule.condition.observations(client.query(sql, parameters=params).result_rows, scope)


def edge_details(client: Client, edge: Edge, now: datetime, window: float, slow: bool, samples: int = 3) -> EdgeDetails:
    """Counts, top codes and flags over ``window``, and sample request ids: the most recent
    failing calls, or the slowest calls when ``slow``."""
    match = " AND ".join(f"{column} = {{edge_{i}:String}}" for i, column in enumerate(KEY_COLUMNS))
    edge_params = {f"edge_{i}": value for i, value in enumerate(edge.columns())}
    sums, params = edge_sums(
        "sum(requests) AS n, sum(errors) AS failed, sum(timeouts) AS timed_out, "
        "sumMap(status_codes) AS codes, sumMap(response_flags) AS flags",
        ("requests", "errors", "timeouts", "status_codes", "response_flags"),
        window,
        Scope(now, match, edge_params, settled=settled_until(client)),
    )
    found = client.query(sums, parameters=params).result_rows
    n, errors, timeouts, code_counts, flag_counts = found[0][5:] if found else (0, 0, 0, {}, {})
    calls = f"""timestamp >= fromUnixTimestamp64Milli({{since_ms:Int64}}, 'UTC')
              AND timestamp <= fromUnixTimestamp64Milli({{now_ms:Int64}}, 'UTC')
              AND reporter = 'source' AND request_id != '' AND {match}"""
    ids = client.query(
        f"""SELECT request_id FROM {CALL_ROWS % calls}
            {"" if slow else f"WHERE {IS_ERROR} OR {IS_TIMEOUT}"}
            ORDER BY {"duration_ms" if slow else "timestamp"} DESC LIMIT {{samples:UInt32}}""",
        parameters={
            **edge_params,
            "now_ms": epoch_ms(now),
            "since_ms": epoch_ms(now - timedelta(seconds=window)),
            "samples": samples,
        },
    ).result_rows
    codes = sorted(((int(k), int(v)) for k, v in (code_counts or {}).items()), key=lambda kv: (-kv[1], kv[0]))
    flags = sorted(
        ((str(k), int(v)) for k, v in (flag_counts or {}).items() if k != "-"), key=lambda kv: (-kv[1], kv[0])
    )
    return EdgeDetails(int(n or 0), int(errors or 0), int(timeouts or 0), codes, flags, [r[0] for r in ids])

