"""What an alert condition is: the class every condition kind derives from, and what they share.

A condition kind (``error_rate``, ``latency`` ...) is one :class:`Condition` subclass in one
module of this package, named like the kind. Its pydantic fields are the rule's fields under
the kind's name (docs/rules.md); its class attributes and methods are everything else the kind
decides:

- :meth:`Condition.query` and :meth:`Condition.observations`: the one query over every edge
  at an evaluation time (reading windows through :mod:`alerts.conditions.window` only) and
  the observations of the edges where the condition holds;
- :meth:`Condition.detail_window`: the window a notification describes;
- ``shows`` and ``explained_by``: root cause (:mod:`alerts.rootcause`): an alert of this kind
  is explained by an active alert downstream whose kind shows one of the symptoms in
  ``explained_by``;
- :meth:`Condition.describe`, ``samples`` and ``drilldown``: the Slack message's value text,
  whether its sample request ids are the failing or the slowest calls, and the status filter
  of its drill-down link.

Pure: no clients, no clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from alerts.conditions.window import Query, Scope, edge_sums
from alerts.model import Edge, Observation
from edgewatch.settings import parse_duration


class ConfigModel(BaseModel):
    """A part of the rules file: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
"""Seconds, given as a number or as ``500ms``, ``30s``, ``5m``, ``1h``, ``7d``."""


def _whole_minutes(value: Any) -> Any:
    seconds = _seconds(value)
    if isinstance(seconds, int | float) and (seconds < 60 or seconds % 60):
        raise ValueError("windows are whole minutes (1m, 5m, 1h): rules read the per-minute rollup")
    return seconds


Window = Annotated[Duration, BeforeValidator(_whole_minutes)]
"""A window of whole minutes, as a Duration."""


class Symptom(StrEnum):
    """What an alert says about the calls of its edge; root cause relates kinds by these."""

    FAILING = "failing"  # calls fail (5xx, no response, timeouts)
    TIMING_OUT = "timing_out"  # calls end at their timeout
    SLOW = "slow"  # calls take long
    NEAR_TIMEOUT = "near_timeout"  # successful calls come close to their timeout


class Samples(StrEnum):
    """Which calls a notification shows as sample request ids."""

    FAILING = "failing"  # the most recent failing calls
    SLOWEST = "slowest"  # the slowest calls


@dataclass(frozen=True)
class DrillDown:
    """The drill-down link's ``status`` filter (``GET /api/v1/requests``, docs/api.md).

    When one message's alerts ask for different filters, the link uses the one of highest
    ``priority``.
    """

    status: str
    priority: int


class Condition(ConfigModel, ABC):
    """One condition kind: its rule fields (the pydantic fields) and what the kind decides."""

    kind: ClassVar[str]
    """The key of the condition in a rule, and the name of its module."""
    shows: ClassVar[frozenset[Symptom]]
    """What an alert of this kind says about its edge's calls."""
    explained_by: ClassVar[frozenset[Symptom]]
    """An alert of this kind is a symptom of an active alert downstream that shows one of these."""
    samples: ClassVar[Samples]
    drilldown: ClassVar[DrillDown | None]
    """The drill-down link's filter; None: all calls of the edge."""

    @abstractmethod
    def query(self, scope: Scope) -> Query:
        """The one query that finds every edge of ``scope`` where the condition holds."""

    def observations(self, rows: Sequence[Sequence[Any]], scope: Scope) -> list[Observation]:
        """The observations in the query's rows; by default rows of the key columns, then
        requests, value and threshold, as :func:`threshold_query` returns them."""
        return [Observation(Edge(*row[:5]), float(row[6]), float(row[7]), int(row[5])) for row in rows]

    @abstractmethod
    def detail_window(self) -> float:
        """Seconds: the window whose numbers a notification about this condition shows."""

    @staticmethod
    @abstractmethod
    def describe(value: float, threshold: float) -> str:
        """An alert's value against its threshold in the condition's unit (``errors 34.5% > 5%``)."""


def threshold_query(value: str, reads: tuple[str, ...], above: float, seconds: float, scope: Scope,
                    **params: object) -> Query:
    """The edges of ``scope`` whose ``value`` over the ``seconds`` ending at ``scope.now`` is
    above ``above``, among those with ``scope.min_requests`` requests in that window.

    ``value`` is SQL: an aggregate over the rollup's columns ``reads`` (besides ``requests``), where
    ``n`` is the window's requests; ``params`` are its parameters. Rows: the key columns, requests, value and
    threshold, as :meth:`Condition.observations` reads them by default.
    """
    sql, found = edge_sums(
        f"sum(requests) AS n, {value} AS value, {{above:Float64}} AS threshold",
        ("requests", *reads),
        seconds,
        scope,
        having="n >= {min_requests:UInt64} AND value > threshold",
    )
    return sql, {**found, "above": above, "min_requests": scope.min_requests, **params}
