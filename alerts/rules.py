"""Alert rules: the YAML file's shape, its validation, and loading it.

A rule names one edge condition (``error_rate``, ``latency``, ``timeout_rate``,
``timeout_headroom`` or ``slo_burn_rate``), the edges it applies to (glob patterns), a
minimum request count and a ``for`` duration. docs/rules.md documents every field.
``load_rules`` raises :class:`RuleError` whose message names the file, the rule and the
field; the same models validate a rule posted to the backtest endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgewatch.settings import parse_duration

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "rules.yaml"
CONDITIONS = ("error_rate", "latency", "timeout_rate", "timeout_headroom", "slo_burn_rate")


class RuleError(ValueError):
    """The rules file (or a posted rule) is invalid; the message says where and why."""


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]


def _whole_minutes(value: Any) -> Any:
    seconds = _seconds(value)
    if isinstance(seconds, int | float) and (seconds < 60 or seconds % 60):
        raise ValueError("windows are whole minutes (1m, 5m, 1h): rules read the per-minute rollup")
    return seconds


Window = Annotated[Duration, BeforeValidator(_whole_minutes)]

_GLOB_SPECIAL = set(".^$+()[]{}|\\")


def glob_regex(pattern: str) -> str:
    """``staff-*`` -> ``^staff-.*$``: ``*`` any run of characters, ``?`` one; valid in Python and RE2."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append("\\" + char if char in _GLOB_SPECIAL else char)
    return "^" + "".join(out) + "$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Selector(_Model):
    """Which edges a rule applies to; ``*`` (the default) matches every edge, even new ones.

    ``namespace`` matches when either end's namespace matches.
    """

    source: str = "*"
    destination: str = "*"
    namespace: str = "*"
    destination_kind: str = "*"

    @field_validator("source", "destination", "namespace", "destination_kind")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("use a glob pattern such as '*' or 'staff-*'")
        return value


class ErrorRate(_Model):
    """Errors (5xx or no response) / requests over ``window`` above ``above`` (a fraction)."""

    above: float = Field(gt=0, lt=1)
    window: Window = 60.0


class Latency(_Model):
    """The ``percentile`` latency over ``window`` above ``above_ms``."""

    percentile: Literal["p50", "p95", "p99"] = "p99"
    above_ms: float = Field(gt=0)
    window: Window = 300.0


class TimeoutRate(_Model):
    """Timeouts (response flag UT or code 504) / requests over ``window`` above ``above``."""

    above: float = Field(gt=0, lt=1)
    window: Window = 60.0


class TimeoutHeadroom(_Model):
    """p99 of successful calls over ``window`` above ``fraction`` of the edge's timeout.

    The timeout is ``timeout_ms`` when given, else the shortest duration of a UT/504 call on
    the edge within ``timeout_lookback``; edges with neither are not evaluated.
    """

    fraction: float = Field(default=0.8, gt=0, le=1)
    timeout_ms: float | None = Field(default=None, gt=0)
    window: Window = 300.0
    timeout_lookback: Window = 86400.0


class BurnWindow(_Model):
    long: Window
    short: Window
    burn_rate: float = Field(gt=0)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnWindow:
        if self.short >= self.long:
            raise ValueError("short must be shorter than long")
        return self


PAGE_WINDOWS = (BurnWindow(long=3600, short=300, burn_rate=14.4), BurnWindow(long=21600, short=1800, burn_rate=6))


class SloBurnRate(_Model):
    """Multi-window burn rate of an availability ``objective`` (e.g. 0.999).

    Fires when, for any entry of ``windows``, the burn rate (error rate / (1 - objective))
    exceeds ``burn_rate`` over both its long and its short window. Default: the paging pairs
    1h/5m above 14.4 and 6h/30m above 6.
    """

    objective: float = Field(gt=0, lt=1)
    windows: tuple[BurnWindow, ...] = Field(default=PAGE_WINDOWS, min_length=1)


Condition = ErrorRate | Latency | TimeoutRate | TimeoutHeadroom | SloBurnRate


class Rule(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    severity: Literal["critical", "warning", "info"] = "warning"
    description: str = ""
    selector: Selector = Selector()
    min_requests: int = Field(default=10, ge=1)
    for_: Duration = Field(default=0.0, alias="for")
    repeat_interval: Duration = Field(default=4 * 3600.0, gt=0)
    error_rate: ErrorRate | None = None
    latency: Latency | None = None
    timeout_rate: TimeoutRate | None = None
    timeout_headroom: TimeoutHeadroom | None = None
    slo_burn_rate: SloBurnRate | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        given = [name for name in CONDITIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one condition of {', '.join(CONDITIONS)}; found {given or 'none'}")
        return self

    @property
    def condition_kind(self) -> str:
        return next(name for name in CONDITIONS if getattr(self, name) is not None)

    @property
    def condition(self) -> Condition:
        value: Condition = getattr(self, self.condition_kind)
        return value


class _RuleFile(_Model):
    rules: list[Rule] = Field(min_length=1)


def parse_rule(data: Any, origin: str = "request") -> Rule:
    """Validate one rule given as a mapping; raises RuleError naming ``origin`` and the field."""
    try:
        return Rule.model_validate(data)
    except ValidationError as error:
        name = data.get("name", "?") if isinstance(data, dict) else "?"
        raise RuleError(_describe(error, origin, lambda _: str(name), in_file=False)) from None


def parse_rules(data: Any, origin: str) -> list[Rule]:
    """Validate a whole rules document (``{"rules": [...]}``); raises RuleError."""
    if not isinstance(data, dict):
        raise RuleError(f"{origin}: expected a mapping with a 'rules' list at the top")
    try:
        rules = _RuleFile.model_validate(data).rules
    except ValidationError as error:
        listed = data.get("rules")
        raw: list[Any] = listed if isinstance(listed, list) else []

        def name_of(index: int) -> str:
            item = raw[index] if index < len(raw) else None
            return str(item.get("name", f"#{index + 1}")) if isinstance(item, dict) else f"#{index + 1}"

        raise RuleError(_describe(error, origin, name_of, in_file=True)) from None
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RuleError(f"{origin}: rule {rule.name!r}: name: used by two rules; names must be unique")
        seen.add(rule.name)
    return rules


def load_rules(path: Path | None = None) -> list[Rule]:
    """Read and validate a rules file (default: the shipped ``alerts/rules.yaml``)."""
    path = path or DEFAULT_RULES_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise RuleError(f"{path}: cannot read the rules file: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise RuleError(f"{path}: not valid YAML: {error}") from None
    return parse_rules(data, str(path))


def _describe(error: ValidationError, origin: str, name_of: Callable[[int], str], in_file: bool) -> str:
    """One line per problem: ``origin: rule 'name': field.path: message``."""
    lines = []
    for item in error.errors():
        loc = item["loc"]
        if not in_file:
            index, path = 0, loc
        elif len(loc) >= 2 and isinstance(loc[1], int):  # ("rules", index, field...)
            index, path = loc[1], loc[2:]
        else:  # the document itself, e.g. no "rules" list
            lines.append(f"{origin}: {'.'.join(map(str, loc))}: {item['msg']}")
            continue
        field = ".".join(map(str, path)) or "(rule)"
        lines.append(f"{origin}: rule {name_of(index)!r}: {field}: {item['msg']}")
    return "\n".join(lines)
