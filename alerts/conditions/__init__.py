"""The condition kinds by name: every module of this package that defines a Condition class.

Adding a kind is adding a module: ``alerts/conditions/<kind>.py`` holding one
:class:`~alerts.conditions.base.Condition` subclass whose ``kind`` is the module's name, and
its tests (docs/rules.md, "Adding a condition"). Rules then accept ``<kind>: {...}``, and
root cause, notifications and the drill-down link follow from the class. The other modules
(:mod:`~alerts.conditions.base`, :mod:`~alerts.conditions.window`) define no kind.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from alerts.conditions.base import Condition


def _discover(package: str, path: Iterable[str]) -> dict[str, type[Condition]]:
    """Kind -> class over the modules of ``package`` (found in ``path``), in the order of the
    kinds' names; raises TypeError for a module that defines more than one kind or a kind not
    named like its module."""
    found: dict[str, type[Condition]] = {}
    for name in sorted(module.name for module in pkgutil.iter_modules(path)):
        module = importlib.import_module(f"{package}.{name}")
        kinds = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, Condition)
            and value.__module__ == module.__name__
            and not inspect.isabstract(value)
        ]
        if not kinds:
            continue
        if len(kinds) > 1 or kinds[0].kind != name:
            raise TypeError(f"{module.__name__}: define one Condition whose kind is {name!r}")
        found[name] = kinds[0]
    return found


CONDITIONS: Mapping[str, type[Condition]] = MappingProxyType(_discover(__name__, __path__))
"""Kind name (the key in a rule, ``Alert.condition``) -> its class."""

EXPLAINED_BY: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        kind: frozenset(other for other, cause in CONDITIONS.items() if cause.shows & condition.explained_by)
        for kind, condition in CONDITIONS.items()
    }
)
"""Kind -> the kinds whose active alerts downstream explain an alert of that kind."""
