"""The shapes ``/grafana/query`` answers in, as the plugin hands them to Grafana's ``toDataFrame``.

- a time series: ``{"target", "datapoints": [[value, epoch_ms], ...]}``; ``unit`` becomes the
  value field's unit, ``tags`` its labels, ``refId`` ties it to its query;
- a data frame: ``{"name", "refId", "meta", "fields": [{"name", "type", "values", "config"}]}``,
  ``type`` one of ``time``, ``number``, ``string``, ``boolean``; ``config`` is Grafana's field
  config (``unit``, ``displayName``, ``color``...);
- the retired simple-json table: ``{"type": "table", "columns": [{"text", "type"}], "rows"}``.

Pure: values in, JSON-ready dicts out.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from edgewatch.calls import epoch_ms

Json = dict[str, Any]
Datapoint = list[float | int | None]

_TYPES: dict[Any, str] = {str: "string", int: "number", float: "number", bool: "boolean", datetime: "time"}


def series(target: str, ref_id: str, datapoints: list[Datapoint], unit: str | None,
           tags: Mapping[str, str] | None = None) -> Json:
    answer: Json = {"target": target, "refId": ref_id, "datapoints": datapoints}
    if unit:
        answer["unit"] = unit
    if tags:
        answer["tags"] = dict(tags)
    return answer


def field(name: str, kind: str, values: Sequence[Any], config: Mapping[str, Any] | None = None) -> Json:
    """One field of a frame; ``time`` values may be datetimes (sent as epoch ms)."""
    if kind == "time":
        values = [epoch_ms(v) if isinstance(v, datetime) else v for v in values]
    return {"name": name, "type": kind, "values": list(values), "config": dict(config or {})}


def frame(name: str, ref_id: str, fields: list[Json], meta: Mapping[str, Any] | None = None) -> Json:
    answer: Json = {"name": name, "refId": ref_id, "fields": fields}
    if meta:
        answer["meta"] = dict(meta)
    return answer


def field_type(annotation: Any) -> str:
    """The frame type of a model field's annotation (``float | None`` is a number)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return _TYPES.get(annotation, "other")


def model_frame(name: str, ref_id: str, model: type[BaseModel], rows: Sequence[BaseModel],
                config: Mapping[str, Mapping[str, Any]], meta: Mapping[str, Any] | None = None) -> Json:
    """A frame with one field per field of ``model`` (its type from the annotation, its config
    from ``config`` by name) and one row per item of ``rows``."""
    fields = [
        field(key, field_type(info.annotation), [getattr(row, key) for row in rows], config.get(key))
        for key, info in model.model_fields.items()
    ]
    return frame(name, ref_id, fields, meta)


def table(ref_id: str, columns: Sequence[tuple[str, str]], rows: list[list[Any]]) -> Json:
    """The retired simple-json table: ``columns`` are (text, type)."""
    return {"type": "table", "refId": ref_id, "columns": [{"text": text, "type": kind} for text, kind in columns],
            "rows": rows}
