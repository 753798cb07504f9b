"""The bodies of the simPod JSON datasource's protocol (its ``openapi.yaml`` and README, v0.6).

What the plugin sends, as pydantic models: ``/metrics`` (the metric shown and its payload),
``/metric-payload-options`` (the payload field whose options to list), ``/query`` (the range,
the interval, the targets with their payload, the ad-hoc filters), ``/variable``,
``/tag-keys`` and ``/tag-values``. Keys the models do not name are ignored (Grafana sends many:
``panelId``, ``scopedVars``, ``datasource``...). What the API answers is built in
:mod:`api.grafana.frames` and :mod:`api.grafana.catalogue`.

:class:`GrafanaError` is a request the datasource cannot answer (an unknown metric, a payload
field it does not take, a bad filter); the routes answer it with 400 and its message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.params import outside_store

PayloadValue = str | int | float | bool | list[str | int | float | bool] | None
"""A payload field's value: a select gives a string, a multi-select a list of strings."""


class GrafanaError(ValueError):
    """A request the datasource cannot answer; ``where`` names the part of the body at fault."""

    def __init__(self, message: str, where: str = "body", value: Any = None) -> None:
        super().__init__(message)
        self.message, self.where, self.value = message, where, value


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class GrafanaRange(_Body):
    """A time range; ``from`` < ``to`` is checked where it is used. Times without a zone are UTC."""

    from_: datetime = Field(alias="from")
    to: datetime

    @field_validator("from_", "to")
    @classmethod
    def _utc(cls, moment: datetime) -> datetime:
        """In UTC, within the times the store holds (else 400, and no overflow converting year 1)."""
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        if (problem := outside_store(moment)) is not None:
            raise ValueError(problem)
        return moment.astimezone(UTC)


class AdHocFilter(_Body):
    """An ad-hoc filter of the dashboard: ``key operator value``; ``=|`` and ``!=|`` take ``values``."""

    key: str
    operator: str = "="
    value: str = ""
    values: list[str] | None = None


class Target(_Body):
    """One query of a panel. ``target`` is the metric (a placeholder query has none);
    ``type`` is only sent by the retired simple-json contract."""

    target: str | None = None
    refId: str = "A"  # noqa: N815 (Grafana's spelling)
    payload: dict[str, PayloadValue] | str = Field(default_factory=dict)
    hide: bool = False
    type: Literal["timeserie", "timeseries", "table"] | None = None


class QueryRequest(_Body):
    range: GrafanaRange
    intervalMs: float = 60_000  # noqa: N815
    maxDataPoints: int | None = None  # noqa: N815
    targets: list[Target]
    filters: list[AdHocFilter] = Field(default_factory=list)


class MetricsRequest(_Body):
    metric: str | None = None
    payload: dict[str, PayloadValue] | None = None


class PayloadOptionsRequest(_Body):
    metric: str
    payload: dict[str, PayloadValue] = Field(default_factory=dict)
    name: str
    range: GrafanaRange | None = None


class VariableRequest(_Body):
    """``payload`` is the variable's query: ``{"target": "destination"}`` from the string editor,
    or the JSON the user wrote (``{"target": "destination", "source": "webapp"}``)."""

    payload: dict[str, PayloadValue] | str
    range: GrafanaRange | None = None


class TagKeysRequest(_Body):
    filters: list[AdHocFilter] = Field(default_factory=list)
    range: GrafanaRange | None = None
    timeRange: GrafanaRange | None = None  # noqa: N815 (what Grafana's ad-hoc variable passes)


class TagValuesRequest(TagKeysRequest):
    key: str


class SearchRequest(_Body):
    """The retired simple-json ``/search``: a text the metric names contain."""

    target: str = ""


# -- answers ----------------------------------------------------------------------------------


class Option(BaseModel):
    label: str
    value: str


class PayloadConfig(BaseModel):
    """One payload field of a metric, as the builder shows it (``options`` absent: the plugin asks
    ``/metric-payload-options`` when the field is opened)."""

    name: str
    label: str
    type: Literal["select", "multi-select", "input", "textarea"]
    placeholder: str | None = None
    reloadMetric: bool = False  # noqa: N815
    width: int | None = None
    options: list[Option] | None = None


class MetricConfig(BaseModel):
    value: str
    label: str
    payloads: list[PayloadConfig]


class VariableItem(BaseModel):
    """A variable value: ``__text``/``__value`` as the README shows them, ``text``/``value`` as the
    openapi.yaml requires them."""

    model_config = ConfigDict(populate_by_name=True)

    text_: str = Field(serialization_alias="__text")
    value_: str = Field(serialization_alias="__value")
    text: str
    value: str


class TagKey(BaseModel):
    type: str
    text: str


class TagValue(BaseModel):
    text: str
