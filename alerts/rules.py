"""Alert rules: the YAML file's shape, its validation, and loading it.

A rule names one edge condition (a kind of :data:`alerts.conditions.CONDITIONS`:
``error_rate``, ``latency``, ``timeout_rate``, ``timeout_headroom`` or ``slo_burn_rate``), the
edges it applies to (glob patterns), a minimum request count and a ``for`` duration.
docs/rules.md documents every field. ``load_rules`` raises :class:`RuleError` whose message
names the file, the rule and the field; the same models validate a rule posted to the
backtest endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from alerts.conditions import CONDITIONS
from alerts.conditions.base import Condition, ConfigModel, Duration

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "rules.yaml"


class RuleError(ValueError):
    """The rules file (or a posted rule) is invalid; the message says where and why."""


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


_SELECTOR_SQL = {
    "source": "match(source_workload, {source_re:String})",
    "destination": "match(destination_service, {destination_re:String})",
    "namespace": (
        "(match(source_namespace, {namespace_re:String}) OR match(destination_namespace, {namespace_re:String}))"
    ),
    "destination_kind": "match(destination_kind, {destination_kind_re:String})",
}


class Selector(ConfigModel):
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

    def sql(self) -> tuple[str, dict[str, object]]:
        """A condition on the key columns (of the rollups and ``requests``) and its parameters."""
        where: list[str] = ["1"]
        params: dict[str, object] = {}
        for name, sql in _SELECTOR_SQL.items():
            pattern = getattr(self, name)
            if pattern != "*":
                where.append(sql)
                params[f"{name}_re"] = glob_regex(pattern)
        return " AND ".join(where), params


class _Rule(ConfigModel):
    """One rule (docs/rules.md). :data:`Rule` is this model with one optional field per
    condition kind (``error_rate: {...}`` ...); exactly one of them must be given."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    severity: Literal["critical", "warning", "info"] = "warning"
    description: str = ""
    selector: Selector = Selector()
    min_requests: int = Field(default=10, ge=1)
    for_: Duration = Field(default=0.0, alias="for")
    repeat_interval: Duration = Field(default=4 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _one_condition(self) -> _Rule:
        given = [kind for kind in CONDITIONS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one condition of {', '.join(CONDITIONS)}; found {given or 'none'}")
        return self

    @property
    def condition_kind(self) -> str:
        return next(kind for kind in CONDITIONS if getattr(self, kind) is not None)

    @property
    def condition(self) -> Condition:
        value: Condition = getattr(self, self.condition_kind)
        return value


# The condition fields come from the registry, so that a new kind needs no change here. For the
# type checker a Rule is a _Rule (nothing outside reads the condition fields by name).
if TYPE_CHECKING:
    Rule = _Rule
else:
    Rule = create_model(
        "Rule",
        __base__=_Rule,
        __module__=__name__,
        __doc__=_Rule.__doc__,
        **{kind: (condition | None, None) for kind, condition in CONDITIONS.items()},
    )


class _RuleFile(ConfigModel):
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
