"""The names Grafana offers in its pickers: payload options, query variables, ad-hoc filter keys
and values. All of them are the names of the edges seen in the range (or, when the plugin sends
no range, in the :data:`~api.grafana.spans.OPTIONS_LOOKBACK` before now), narrowed by what is
already chosen: the payload's other fields, the variable query's fields, the other ad-hoc filters.
"""

from __future__ import annotations

from api.grafana.answers import Reader
from api.grafana.catalogue import EDGE_FIELDS, PAYLOADS, metric
from api.grafana.protocol import (
    GrafanaError,
    Option,
    PayloadOptionsRequest,
    TagKey,
    TagValue,
    TagValuesRequest,
    VariableItem,
    VariableRequest,
)
from api.grafana.selection import EDGE_KEYS, FILTER_KEYS, EdgeSelection, edge_selection
from api.grafana.spans import lookback_span
from edgewatch.windows import TimeRange


def edge_names(reader: Reader, span: TimeRange, selection: EdgeSelection, key: str) -> list[str]:
    """The values of ``key`` (one of :data:`FILTER_KEYS`) on the selected edges with traffic in ``span``, sorted."""
    names: set[str] = set()
    for edge in reader.edges(span, selection):
        names.update(value for value in FILTER_KEYS[key](edge.edge) if value)
    return sorted(names)


def payload_options(reader: Reader, body: PayloadOptionsRequest) -> list[Option]:
    """The options of payload field ``body.name`` of ``body.metric``. Raises GrafanaError."""
    found = metric(body.metric, "metric")
    if body.name not in found.payloads:
        takes = ", ".join(found.payloads) or "no payload"
        raise GrafanaError(f"metric {found.value} takes {takes}, not {body.name!r}", "name", body.name)
    if body.name not in EDGE_KEYS:
        return list(PAYLOADS[body.name].options or [])
    chosen = {name: value for name, value in body.payload.items() if name != body.name}
    selection = edge_selection(chosen, [], found.payloads)
    names = edge_names(reader, lookback_span(body.range, reader.now), selection, body.name)
    return [Option(label=name, value=name) for name in names]


def variable_values(reader: Reader, body: VariableRequest) -> list[VariableItem]:
    """A query variable: ``{"target": KEY, FIELD: VALUE...}``, the values of KEY (a filter key)
    on the edges the other fields (:data:`EDGE_FIELDS`) choose. Raises GrafanaError."""
    query = body.payload if isinstance(body.payload, dict) else {"target": body.payload}
    key = str(query.get("target") or "").strip()
    if key not in FILTER_KEYS:
        raise GrafanaError(f"variable query {key!r}: use one of {', '.join(FILTER_KEYS)}, optionally as JSON with "
                           f"the fields that narrow it: {{\"target\": \"destination\", \"source\": \"$source\"}}",
                           "payload.target", key)
    chosen = {name: value for name, value in query.items() if name != "target"}
    selection = edge_selection(chosen, [], EDGE_FIELDS, where="variable query")
    names = edge_names(reader, lookback_span(body.range, reader.now), selection, key)
    return [VariableItem(text_=name, value_=name, text=name, value=name) for name in names]


def tag_keys() -> list[TagKey]:
    return [TagKey(type="string", text=key) for key in FILTER_KEYS]


def tag_values(reader: Reader, body: TagValuesRequest) -> list[TagValue]:
    """The values of ad-hoc filter key ``body.key`` on the edges the other filters keep."""
    if body.key not in FILTER_KEYS:
        raise GrafanaError(f"ad-hoc filter key {body.key!r}: use one of {', '.join(FILTER_KEYS)}", "key", body.key)
    others = [item for item in body.filters if item.key != body.key]
    selection = edge_selection({}, others, ())
    span = lookback_span(body.range or body.timeRange, reader.now)
    return [TagValue(text=name) for name in edge_names(reader, span, selection, body.key)]
