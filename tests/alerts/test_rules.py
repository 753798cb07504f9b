"""Loading and validating rules: the shipped file, and errors that name file, rule and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerts.conditions import CONDITIONS
from alerts.rules import RuleError, Selector, glob_regex, load_rules, parse_rule, parse_rules


def test_shipped_rules_load_and_cover_every_condition() -> None:
    rules = load_rules()
    assert {r.condition_kind for r in rules} == set(CONDITIONS)
    assert all(r.selector == Selector() for r in rules)  # wildcard: every edge, new ones too
    burn = next(r for r in rules if r.name == "availability-burn-page").condition
    assert [(w.long, w.short, w.burn_rate) for w in burn.windows] == [(3600, 300, 14.4), (21600, 1800, 6)]  # type: ignore[attr-defined]


BAD = {
    "two conditions": (
        {"name": "x", "error_rate": {"above": 0.1}, "timeout_rate": {"above": 0.1}},
        "rule 'x': (rule): Value error, give exactly one condition",
    ),
    "no condition": ({"name": "x"}, "rule 'x': (rule): Value error, give exactly one condition"),
    "rate above 1": (
        {"name": "x", "error_rate": {"above": 5}},
        "rule 'x': error_rate.above: Input should be less than 1",
    ),
    "window not whole minutes": (
        {"name": "x", "latency": {"above_ms": 100, "window": "90s"}},
        "rule 'x': latency.window: Value error, windows are whole minutes",
    ),
    "bad duration": ({"name": "x", "for": "soon", "error_rate": {"above": 0.1}}, "rule 'x': for: Value error, 'soon'"),
    "unknown field": (
        {"name": "x", "treshold": 1, "error_rate": {"above": 0.1}},
        "rule 'x': treshold: Extra inputs are not permitted",
    ),
    "unknown percentile": (
        {"name": "x", "latency": {"percentile": "p42", "above_ms": 1}},
        "rule 'x': latency.percentile: Input should be 'p50', 'p95' or 'p99'",
    ),
    "short window not shorter": (
        {"name": "x", "slo_burn_rate": {"objective": 0.99, "windows": [{"long": "5m", "short": "1h", "burn_rate": 2}]}},
        "rule 'x': slo_burn_rate.windows.0: Value error, short must be shorter than long",
    ),
    "bad severity": (
        {"name": "x", "severity": "page", "error_rate": {"above": 0.1}},
        "rule 'x': severity: Input should be 'critical', 'warning' or 'info'",
    ),
    "empty selector pattern": (
        {"name": "x", "selector": {"source": ""}, "error_rate": {"above": 0.1}},
        "rule 'x': selector.source: Value error, use a glob pattern",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_errors_name_file_rule_and_field(case: str) -> None:
    rule, message = BAD[case]
    with pytest.raises(RuleError) as raised:
        parse_rules({"rules": [{"name": "fine", "error_rate": {"above": 0.1}}, rule]}, "my-rules.yaml")
    assert str(raised.value).startswith(f"my-rules.yaml: {message}")


def test_file_level_errors(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(RuleError, match=r"rules.yaml: not valid YAML"):
        load_rules(path)
    path.write_text("rules:\n  - {name: a, error_rate: {above: 0.1}}\n  - {name: a, timeout_rate: {above: 0.1}}\n")
    with pytest.raises(RuleError, match=r"rule 'a': name: used by two rules"):
        load_rules(path)
    with pytest.raises(RuleError, match=r"missing.yaml: cannot read"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RuleError, match=r"expected a mapping"):
        parse_rules(["a"], "list.yaml")


def test_unnamed_rule_is_named_by_position() -> None:
    with pytest.raises(RuleError, match=r"rule '#1': name: Field required"):
        parse_rules({"rules": [{"error_rate": {"above": 0.1}}]}, "f.yaml")


def test_a_single_rule_from_a_request() -> None:
    rule = parse_rule({"name": "p99", "for": "1m", "latency": {"above_ms": 250}})
    assert (rule.for_, rule.condition_kind, rule.repeat_interval) == (60, "latency", 4 * 3600)
    with pytest.raises(RuleError, match=r"^request: rule 'p99': latency.above_ms"):
        parse_rule({"name": "p99", "latency": {"above_ms": -1}})


@pytest.mark.parametrize(
    ("pattern", "value", "hit"),
    [
        ("*", "anything", True),
        ("staff-*", "staff-service", True),
        ("staff-*", "webapp", False),
        ("*.amazonaws.com", "x.execute-api.us-east-1.amazonaws.com", True),
        ("*.amazonaws.com", "amazonaws.com.evil", False),
        ("v?", "v2", True),
        ("a.b", "axb", False),  # dots are literal
        ("(x)|y", "(x)|y", True),  # regex characters are literal
    ],
)
def test_glob(pattern: str, value: str, hit: bool) -> None:
    assert (re.match(glob_regex(pattern), value) is not None) is hit
