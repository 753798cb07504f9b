"""The registry of condition kinds: discovered from the package, and the relations they make. Pure."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alerts.conditions import CONDITIONS, EXPLAINED_BY, _discover
from alerts.conditions.base import Condition

FAILURES = frozenset({"error_rate", "timeout_rate", "slo_burn_rate"})
SLOWNESS = frozenset({"latency", "timeout_headroom"})


def test_every_kind_is_one_class_in_the_module_of_its_name() -> None:
    assert set(CONDITIONS) == {"error_rate", "latency", "timeout_rate", "timeout_headroom", "slo_burn_rate"}
    for kind, condition in CONDITIONS.items():
        assert condition.kind == kind
        assert condition.__module__ == f"alerts.conditions.{kind}"
        assert not inspect.isabstract(condition)


def test_explained_by_is_the_root_cause_table() -> None:
    """Failures and slowness downstream explain failures; slowness and timeouts explain slowness."""
    assert dict(EXPLAINED_BY) == {
        "error_rate": FAILURES | {"latency"},
        "timeout_rate": FAILURES | {"latency"},
        "slo_burn_rate": FAILURES | {"latency"},
        "latency": SLOWNESS | {"timeout_rate"},
        "timeout_headroom": SLOWNESS | {"timeout_rate"},
    }


def test_different_drilldown_filters_have_different_priorities() -> None:
    filters = {c.drilldown for c in CONDITIONS.values() if c.drilldown is not None}
    assert len({f.priority for f in filters}) == len({f.status for f in filters}) == len(filters)


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, dict[str, str]], list[str]]]:
    """Makes importable packages of modules (name -> source) in ``tmp_path``; forgets them after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(name: str, modules: dict[str, str]) -> list[str]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for module, text in modules.items():
            (folder / f"{module}.py").write_text(text)
        made.append(name)
        return [str(folder)]

    yield make
    for module in [m for m in sys.modules if m.split(".")[0] in made]:
        del sys.modules[module]


NEW_KIND = '''
from typing import ClassVar
from alerts.conditions.error_rate import ErrorRate

class {cls}(ErrorRate):
    kind: ClassVar[str] = "{kind}"
'''


def test_a_new_kind_is_a_new_module(packages: Callable[[str, dict[str, str]], list[str]]) -> None:
    path = packages("kinds_ok", {"spike": NEW_KIND.format(cls="Spike", kind="spike"), "helpers": "X = 1\n"})
    found = _discover("kinds_ok", path)
    assert list(found) == ["spike"] and issubclass(found["spike"], Condition)


def test_a_kind_named_unlike_its_module_is_refused(packages: Callable[[str, dict[str, str]], list[str]]) -> None:
    path = packages("kinds_bad", {"spike": NEW_KIND.format(cls="Spike", kind="surge")})
    with pytest.raises(TypeError, match="kinds_bad.spike: define one Condition whose kind is 'spike'"):
        _discover("kinds_bad", path)
