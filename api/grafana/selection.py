"""Which edges a target asks for: its payload and the dashboard's ad-hoc filters, as one
:class:`EdgeSelection`. Pure.

A payload value is a string or a list of strings, as Grafana sends it after putting the dashboard's
variables in: the plugin's builder interpolates in Grafana's *regex* format, so a value may be
escaped (``2oujlno5e4\\.execute-api``) or a multi-value group (``(webapp|api-gateway)``). Names in
a mesh hold neither backslashes, parentheses nor ``|``, so :func:`payload_values` undoes both.
An empty value, ``*``, ``.*`` or ``$__all`` chooses nothing (every edge).

Ad-hoc filters take the keys :data:`FILTER_KEYS` and the operators ``=``, ``!=``, ``=~``, ``!~``
(a regular expression matching the whole value), ``=|`` and ``!=|`` (one of ``values``).

The selection narrows in SQL where it can (:attr:`EdgeSelection.sql`, a superset of the edges)
and decides exactly in Python (:meth:`EdgeSelection.matches`), so each answer reads its edges
apart and keeps the matching ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from api.grafana.protocol import AdHocFilter, GrafanaError, PayloadValue
from edgewatch.edge import Edge, EdgeFilter

ANY = frozenset({"", "*", ".*", "$__all"})
_ESCAPED = re.compile(r"\\(.)")

FILTER_KEYS: dict[str, Callable[[Edge], tuple[str, ...]]] = {
    "source": lambda edge: (edge.source,),
    "destination": lambda edge: (edge.destination,),
    "namespace": lambda edge: (edge.source_namespace, edge.destination_namespace),
    "kind": lambda edge: (edge.destination_kind,),
    "source_namespace": lambda edge: (edge.source_namespace,),
    "destination_namespace": lambda edge: (edge.destination_namespace,),
}
"""Each key's values on an edge; ``namespace`` matches either end."""
OPERATORS = ("=", "!=", "=~", "!~", "=|", "!=|")
EDGE_KEYS = frozenset({"source", "destination", "namespace", "kind"})
"""The payload fields that choose edges (others, such as ``event``, are read by their metric)."""


def payload_values(name: str, value: PayloadValue) -> tuple[str, ...]:
    """The names a payload field's value chooses, in order, each once; () for any (also when one
    of them is "All"). Raises GrafanaError for a value that is not a string or a list of them."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    names: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise GrafanaError(f"payload {name}: expected a string or a list of strings, got {value!r}",
                               f"payload.{name}", value)
        text = str(item).strip()
        grouped = text.startswith("(") and text.endswith(")") and "|" in text  # several values
        parts = text[1:-1].split("|") if grouped else [text]
        names += [_ESCAPED.sub(r"\1", part) for part in parts]
    if any(name in ANY for name in names):  # "All", or nothing chosen
        return ()
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Condition:
    """``key operator values`` on an edge; ``pattern`` for the regex operators."""

    key: str
    operator: str
    values: tuple[str, ...]
    pattern: re.Pattern[str] | None = None

    def holds(self, edge: Edge) -> bool:
        found = FILTER_KEYS[self.key](edge)
        if self.pattern is not None:
            hit = any(self.pattern.fullmatch(value) for value in found)
        else:
            hit = any(value in self.values for value in found)
        return hit != self.operator.startswith("!")


@dataclass(frozen=True)
class EdgeSelection:
    sql: EdgeFilter = field(default_factory=EdgeFilter)
    conditions: tuple[Condition, ...] = ()

    def matches(self, edge: Edge) -> bool:
        return all(condition.holds(edge) for condition in self.conditions)


def _condition(item: AdHocFilter) -> Condition:
    if item.key not in FILTER_KEYS:
        raise GrafanaError(f"ad-hoc filter on {item.key!r}: filter on one of {', '.join(FILTER_KEYS)}",
                           "filters", item.key)
    if item.operator not in OPERATORS:
        raise GrafanaError(f"ad-hoc filter {item.key} {item.operator} {item.value}: use one of the operators "
                           f"{' '.join(OPERATORS)}", "filters", item.operator)
    if item.operator in ("=~", "!~"):
        try:
            return Condition(item.key, item.operator, (), re.compile(item.value))
        except re.error as error:
            raise GrafanaError(f"ad-hoc filter {item.key} {item.operator} {item.value!r}: not a regular "
                               f"expression ({error})", "filters", item.value) from error
    values = tuple(item.values or ()) if item.operator.endswith("|") else (item.value,)
    return Condition(item.key, item.operator, values)


def edge_selection(
    payload: Mapping[str, PayloadValue], filters: list[AdHocFilter], accepted: tuple[str, ...],
    where: str = "payload",
) -> EdgeSelection:
    """The edges ``payload`` (fields among ``accepted``) and ``filters`` choose. Raises
    GrafanaError for another payload field, a filter key or operator it does not know, or a
    regular expression that does not compile."""
    unknown = sorted(set(payload) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "no payload"
        raise GrafanaError(f"{where}: this metric takes {takes}, not {', '.join(unknown)}", where, unknown)
    chosen = {name: payload_values(name, payload.get(name)) for name in accepted if name in EDGE_KEYS}
    conditions = [Condition(name, "=", values) for name, values in chosen.items() if values]
    conditions += [_condition(item) for item in filters]
    equal = {c.key: c.values for c in conditions if c.operator in ("=", "=|") and c.pattern is None}
    # SQL narrows by the first value set of each key it can express; Python checks them all.
    namespace = equal.get("namespace", ())
    kind = equal.get("kind", ())
    sql = EdgeFilter(
        sources=equal.get("source", ()), destinations=equal.get("destination", ()),
        source_namespace=_single(equal.get("source_namespace", ())),
        destination_namespace=_single(equal.get("destination_namespace", ())),
        namespace=_single(namespace), kind=_single(kind),
    )
    return EdgeSelection(sql, tuple(conditions))


def _single(values: tuple[str, ...]) -> str | None:
    return values[0] if len(values) == 1 else None
