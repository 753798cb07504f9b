"""The SQL of rule evaluation: one query per rule covering every edge, plus message details.

Rules read the per-minute rollup ``edge_minute`` (only the caller's report of each call). A
window of W at time t covers the minute buckets from the one holding ``t - W`` up to the one
holding t (the current, partial minute included), so it reads between W and W + 1 minute of
data. Burn-rate windows of hours and days read whole hours from the hourly rollup
``edge_hour`` and the partial hours at either end from ``edge_minute``. Each query returns
only the edges where the condition holds and that had at least ``min_requests`` requests;
everything reaches SQL as a server-side parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from alerts.model import Edge, EdgeDetails, Observation
from alerts.rules import ErrorRate, Latency, Rule, SloBurnRate, TimeoutHeadroom, TimeoutRate, glob_regex
from edgewatch.calls import CALL_ROWS, IS_ERROR, IS_TIMEOUT, KEYS, epoch_ms, latency_quantiles

_T = "fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC')"
_PERCENTILE_INDEX = {"p50": 1, "p95": 2, "p99": 3}
_SELECTOR_SQL = {
    "source": "match(source_workload, {source_re:String})",
    "destination": "match(destination_service, {destination_re:String})",
    "namespace": (
        "(match(source_namespace, {namespace_re:String}) OR match(destination_namespace, {namespace_re:String}))"
    ),
    "destination_kind": "match(destination_kind, {destination_kind_re:String})",
}


def _selector(rule: Rule) -> tuple[list[str], dict[str, object]]:
    """SQL conditions for the rule's selector (none for ``*``) and the common parameters."""
    where: list[str] = []
    params: dict[str, object] = {"min_requests": rule.min_requests}
    for name, sql in _SELECTOR_SQL.items():
        pattern = getattr(rule.selector, name)
        if pattern != "*":
            where.append(sql)
            params[f"{name}_re"] = glob_regex(pattern)
    return where, params


def _scope(rule: Rule, now: datetime, span_param: str) -> tuple[str, dict[str, object]]:
    """WHERE clause: minutes of the span ending at ``now``, and the rule's selector."""
    selector, params = _selector(rule)
    where = [f"minute >= toStartOfMinute(t - toIntervalSecond({{{span_param}:UInt32}}))", "minute <= t", *selector]
    params["now_ms"] = epoch_ms(now)
    return " AND ".join(where), params


def _above(
    rule: Rule, now: datetime, window: float, above: float, value: str, **params: object
) -> tuple[str, dict[str, object]]:
    """Edges whose ``value`` (SQL over the window's rows, ``n``: their requests) is above ``above``."""
    where, scope = _scope(rule, now, "window")
    scope.update(window=int(window), above=above, **params)
    sql = f"""WITH {_T} AS t
        SELECT {KEYS}, sum(requests) AS n, {value} AS value, {{above:Float64}} AS threshold
        FROM edge_minute WHERE {where}
        GROUP BY {KEYS}
        HAVING n >= {{min_requests:UInt64}} AND value > threshold"""
    return sql, scope


def _rate(rule: Rule, now: datetime, column: str, condition: ErrorRate | TimeoutRate) -> tuple[str, dict[str, object]]:
    return _above(rule, now, condition.window, condition.above, f"sum({column}) / n")


def _latency(rule: Rule, now: datetime, condition: Latency) -> tuple[str, dict[str, object]]:
    value = f"{latency_quantiles('latency')}[{{index:UInt8}}]"
    index = _PERCENTILE_INDEX[condition.percentile]
    return _above(rule, now, condition.window, condition.above_ms, value, index=index)


def _headroom(rule: Rule, now: datetime, condition: TimeoutHeadroom) -> tuple[str, dict[str, object]]:
    where, params = _scope(rule, now, "window")
    params.update(window=int(condition.window), fraction=condition.fraction)
    recent = f"""SELECT {KEYS}, sum(requests) AS n,
               {latency_quantiles("latency_ok")}[3] AS value
        FROM edge_minute WHERE {where}
        GROUP BY {KEYS} HAVING n >= {{min_requests:UInt64}}"""
    if condition.timeout_ms is not None:
        params["timeout"] = condition.timeout_ms
        sql = f"""WITH {_T} AS t
            SELECT {KEYS}, n, value, {{fraction:Float64}} * {{timeout:Float64}} AS threshold
            FROM ({recent}) WHERE value > threshold"""
        return sql, params
    lookback_where, _ = _scope(rule, now, "lookback")
    params["lookback"] = int(condition.timeout_lookback)
    sql = f"""WITH {_T} AS t
        SELECT {KEYS}, n, value, {{fraction:Float64}} * timeout AS threshold
        FROM ({recent}) AS recent
        INNER JOIN (
            SELECT {KEYS}, min(timeout_duration_min) AS timeout
            FROM edge_minute WHERE {lookback_where} AND timeout_duration_min < inf
            GROUP BY {KEYS}
        ) AS inferred USING ({KEYS})
        WHERE value > threshold"""
    return sql, params


def _spans(condition: SloBurnRate) -> list[int]:
    """The distinct window lengths of a burn rule in seconds, longest first: the order of
    ``_burn``'s sums (``n0, e0, n1, e1`` ...)."""
    return sorted({int(s) for w in condition.windows for s in (w.long, w.short)}, reverse=True)


def _burn(rule: Rule, now: datetime, condition: SloBurnRate) -> tuple[str, dict[str, object]]:
    """Request and error sums per window, windows of hours and days read mostly from the
    hourly rollup: whole hours from ``edge_hour``, the partial hours at either end from
    ``edge_minute``. Every minute of a window is counted exactly once."""
    spans = _spans(condition)
    selector, params = _selector(rule)
    params["now_ms"] = epoch_ms(now)
    params.update({f"w{i}": span for i, span in enumerate(spans)})
    start = [f"toStartOfMinute(t - toIntervalSecond({{w{i}:UInt32}}))" for i in range(len(spans))]
    # A minute row counts in window i unless its whole hour is counted as an hourly row.
    counts = [f"bucket >= {s} AND (hourly OR toStartOfHour(bucket) < {s} OR bucket >= this_hour)" for s in start]
    sums = ", ".join(f"sumIf(requests, {c}) AS n{i}, sumIf(errors, {c}) AS e{i}" for i, c in enumerate(counts))
    partial_hours = " OR ".join(f"(minute >= {s} AND minute < toStartOfHour({s}) + toIntervalHour(1))" for s in start)
    pairs = []
    for j, pair in enumerate(condition.windows):
        long_i, short_i = spans.index(int(pair.long)), spans.index(int(pair.short))
        params[f"limit{j}"] = pair.burn_rate * (1 - condition.objective)
        pairs.append(
            f"(n{short_i} >= {{min_requests:UInt64}} AND e{long_i} / n{long_i} > {{limit{j}:Float64}}"
            f" AND e{short_i} / n{short_i} > {{limit{j}:Float64}})"
        )
    match = "".join(f" AND {condition}" for condition in selector)
    sql = f"""WITH {_T} AS t, toStartOfHour(t) AS this_hour
        SELECT {KEYS}, {sums}
        FROM (
            SELECT {KEYS}, minute AS bucket, 0 AS hourly, requests, errors FROM edge_minute
            WHERE minute <= t AND (minute >= this_hour OR {partial_hours}){match}
            UNION ALL
            SELECT {KEYS}, hour AS bucket, 1 AS hourly, requests, errors FROM edge_hour
            WHERE hour >= toStartOfHour({start[0]}) AND hour < this_hour{match}
        )
        GROUP BY {KEYS}
        HAVING {" OR ".join(pairs)}"""
    return sql, params


def _burn_observation(edge: Edge, sums: tuple[int, ...], rule: Rule, condition: SloBurnRate) -> Observation | None:
    """The pair that burns hardest relative to its limit; None if none holds (float edge cases)."""
    spans = _spans(condition)
    n = {span: sums[2 * i] for i, span in enumerate(spans)}
    e = {span: sums[2 * i + 1] for i, span in enumerate(spans)}
    budget = 1 - condition.objective
    best: Observation | None = None
    for pair in condition.windows:
        long, short = int(pair.long), int(pair.short)
        if n[short] < rule.min_requests or not n[long]:
            continue
        burn = min(e[long] / n[long], e[short] / n[short]) / budget
        if burn > pair.burn_rate and (best is None or burn / pair.burn_rate > best.value / best.threshold):
            best = Observation(edge, burn, pair.burn_rate, int(n[short]))
    return best


def rule_query(rule: Rule, now: datetime) -> tuple[str, dict[str, object]]:
    """The rule's one query at ``now`` and its parameters."""
    condition = rule.condition
    if isinstance(condition, ErrorRate):
        return _rate(rule, now, "errors", condition)
    if isinstance(condition, TimeoutRate):
        return _rate(rule, now, "timeouts", condition)
    if isinstance(condition, Latency):
        return _latency(rule, now, condition)
    if isinstance(condition, TimeoutHeadroom):
        return _headroom(rule, now, condition)
    return _burn(rule, now, condition)


def observe(client: Client, rule: Rule, now: datetime) -> list[Observation]:
    """Every edge where ``rule``'s condition holds at ``now``: one query, all edges."""
    sql, params = rule_query(rule, now)
    rows = client.query(sql, parameters=params).result_rows
    if isinstance(rule.condition, SloBurnRate):
        found = [_burn_observation(Edge(*row[:5]), tuple(row[5:]), rule, rule.condition) for row in rows]
        return [obs for obs in found if obs is not None]
    return [Observation(Edge(*row[:5]), float(row[6]), float(row[7]), int(row[5])) for row in rows]


_EDGE_MATCH = (
    "source_workload = {source:String} AND source_namespace = {source_namespace:String} "
    "AND destination_service = {destination:String} AND destination_namespace = {destination_namespace:String}"
)


def edge_details(client: Client, edge: Edge, now: datetime, window: float, slow: bool, samples: int = 3) -> EdgeDetails:
    """Counts, top codes and flags over ``window``, and sample request ids: the most recent
    failing calls, or the slowest calls when ``slow``."""
    params = {
        "now_ms": epoch_ms(now),
        "window": int(window),
        "source": edge.source,
        "source_namespace": edge.source_namespace,
        "destination": edge.destination,
        "destination_namespace": edge.destination_namespace,
        "samples": samples,
        "since_ms": epoch_ms(now - timedelta(seconds=window)),
    }
    row = client.query(
        f"""WITH {_T} AS t
            SELECT sum(requests), sum(errors), sum(timeouts), sumMap(status_codes), sumMap(response_flags)
            FROM edge_minute
            WHERE minute >= toStartOfMinute(t - toIntervalSecond({{window:UInt32}})) AND minute <= t
              AND {_EDGE_MATCH}""",
        parameters=params,
    ).result_rows[0]
    calls = f"""timestamp >= fromUnixTimestamp64Milli({{since_ms:Int64}}, 'UTC')
              AND timestamp <= fromUnixTimestamp64Milli({{now_ms:Int64}}, 'UTC')
              AND reporter = 'source' AND request_id != '' AND {_EDGE_MATCH}"""
    ids = client.query(
        f"""SELECT request_id FROM {CALL_ROWS % calls}
            {"" if slow else f"WHERE {IS_ERROR} OR {IS_TIMEOUT}"}
            ORDER BY {"duration_ms" if slow else "timestamp"} DESC LIMIT {{samples:UInt32}}""",
        parameters=params,
    ).result_rows
    codes = sorted(((int(k), int(v)) for k, v in (row[3] or {}).items()), key=lambda kv: (-kv[1], kv[0]))
    flags = sorted(((str(k), int(v)) for k, v in (row[4] or {}).items() if k != "-"), key=lambda kv: (-kv[1], kv[0]))
    return EdgeDetails(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), codes, flags, [r[0] for r in ids])


def service_map(
    client: Client, now: datetime, recent: timedelta = timedelta(days=7)
) -> dict[tuple[str, str], frozenset[str]]:
    """(namespace, service) -> workloads seen serving it within ``recent`` (from service_workloads)."""
    rows = client.query(
        """SELECT destination_namespace, destination_service, groupUniqArray(destination_workload)
           FROM service_workloads
           WHERE last_seen >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')
           GROUP BY destination_namespace, destination_service""",
        parameters={"since_ms": epoch_ms(now - recent)},
    ).result_rows
    return {(str(ns), str(service)): frozenset(workloads) for ns, service, workloads in rows}
