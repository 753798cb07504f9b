"""The datasources the dashboards use and their queries, as foundation-SDK dataqueries.

The SDK builds Grafana's own panels, variables and annotations; the three datasource plugins'
query models are declared here (each ``to_json`` is the query as the plugin stores it):
the simPod JSON datasource (``target`` a metric of /grafana/metrics, ``payload`` its fields),
Infinity (a GET of the Edgewatch API) and the official ClickHouse datasource (raw SQL).
The uids are those of deploy/grafana/provisioning/datasources/edgewatch.yaml.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.cog import builder, variants
from grafana_foundation_sdk.models.common import DataSourceRef

JSON_UID, INFINITY_UID, CLICKHOUSE_UID = "edgewatch-json", "edgewatch-infinity", "edgewatch-clickhouse"
JSON = DataSourceRef(type_val="simpod-json-datasource", uid=JSON_UID)
INFINITY = DataSourceRef(type_val="yesoreyeram-infinity-datasource", uid=INFINITY_UID)
CLICKHOUSE = DataSourceRef(type_val="grafana-clickhouse-datasource", uid=CLICKHOUSE_UID)


class Query(variants.Dataquery, builder.Builder[variants.Dataquery]):
    """A query that is its own builder: ``body`` is the plugin's query model, less ``refId``."""

    def __init__(self, datasource: DataSourceRef, ref_id: str, body: dict[str, Any]) -> None:
        self.datasource, self.ref_id, self.body = datasource, ref_id, body

    def build(self) -> Query:
        return self

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": self.datasource.to_json(), **self.body}


def metric(target: str, ref_id: str = "A", **payload: str) -> Query:
    """A simPod query of ``target`` (a metric /grafana/metrics lists) with its builder payload."""
    return Query(JSON, ref_id, {"editorMode": "builder", "target": target, "payload": payload})


def api_get(url: str, root: str, columns: list[tuple[str, str, str]], ref_id: str = "A", **params: str) -> Query:
    """An Infinity table from GET ``url`` of the Edgewatch API: ``columns`` are (selector, title, type)."""
    return Query(INFINITY, ref_id, {
        "type": "json", "source": "url", "parser": "backend", "format": "table", "url": url,
        "url_options": {"method": "GET", "data": "", "params": [{"key": k, "value": v} for k, v in params.items()]},
        "root_selector": root, "filters": [],
        "columns": [{"selector": selector, "text": text, "type": kind} for selector, text, kind in columns],
    })


def sql(raw_sql: str, ref_id: str = "A", table: bool = True) -> Query:
    """A ClickHouse datasource query in its SQL editor (format 1: table, 0: time series)."""
    return Query(CLICKHOUSE, ref_id, {"editorType": "sql", "format": 1 if table else 0,
                                      "queryType": "table" if table else "timeseries", "rawSql": raw_sql})


class Annotation(builder.Builder[Any]):
    """A dashboard annotation from the simPod datasource's ``alert_events`` (its query as ``target``)."""

    def __init__(self, name: str, color: str, event: str, **payload: str) -> None:
        self.name, self.color = name, color
        self.query = metric("alert_events", "Anno", event=event, **payload)

    def build(self) -> Annotation:
        return self

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "datasource": JSON.to_json(), "enable": True, "hide": False,
                "iconColor": self.color, "target": self.query.to_json()}
