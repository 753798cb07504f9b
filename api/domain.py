"""Response models made from the domain's dataclasses, so that the API does not copy their fields.

``domain_model(Alert, ...)`` is a pydantic model with the fields of ``Alert`` as the dataclass
declares them (names, types and order), a nested :class:`~edgewatch.edge.Edge` replaced by its
five fields (the API's JSON is flat: ``source``, ``source_namespace``, ``destination``, ...).
A response model subclasses it and adds what only the API shows; ``Model.of(item, **more)``
fills it from a domain object. A field added to the domain type is served without an edit here;
a renamed or removed one that a model names fails at import.

Every derived field is required in the schema (a response always carries it), whatever default
the dataclass gives it. The result is typed ``Any`` for mypy, which cannot see a model built at
run time: bind it to a name and subclass that.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, create_model

from edgewatch.edge import Edge


class DomainModel(BaseModel):
    """The base of :func:`domain_model`'s models."""

    domain_fields: ClassVar[tuple[str, ...]] = ()
    """The fields taken from the domain object, in order."""

    @classmethod
    def of(cls, item: Any, **more: Any) -> Self:
        """The model of ``item`` (a dataclass instance), with ``more`` for the other fields and overrides."""
        values = flat_values(item)
        taken = {name: values[name] if name in values else getattr(item, name)  # a property
                 for name in cls.domain_fields if name not in more}
        return cls(**taken, **more)


def domain_model(
    domain: type,
    *,
    properties: Collection[str] = (),
    exclude: Collection[str] = (),
    only: Collection[str] | None = None,
    types: Mapping[str, Any] | None = None,
) -> Any:
    """A :class:`DomainModel` with ``domain``'s fields.

    ``properties`` (read-only properties of ``domain``, typed by their return annotation) come
    first; ``exclude`` drops fields, ``only`` keeps just the fields named (edge fields by their
    flat names); ``types`` gives a field another type. Raises ValueError for a name the domain
    type does not have.
    """
    declared = {name: _property_type(domain, name) for name in properties} | _flat_types(domain)
    named = [*exclude, *(only or ()), *(types or {})]
    unknown = [name for name in named if name not in declared]
    if unknown:
        raise ValueError(f"{domain.__name__} has no field {', '.join(map(repr, unknown))}")
    kept: dict[str, Any] = {
        name: ((types or {}).get(name, hint), ...)
        for name, hint in declared.items()
        if name not in exclude and (only is None or name in only or name in properties)
    }
    model: type[DomainModel] = create_model(f"{domain.__name__}Fields", __base__=DomainModel, **kept)
    model.domain_fields = tuple(kept)
    return model


def flat_values(item: Any) -> dict[str, Any]:
    """``item``'s fields by name, an Edge's by its own field names."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(item):
        value = getattr(item, field.name)
        if isinstance(value, Edge):
            values.update((edge_field.name, getattr(value, edge_field.name)) for edge_field in dataclasses.fields(Edge))
        else:
            values[field.name] = value
    return values


def _flat_types(domain: type) -> dict[str, Any]:
    """Field name -> type of ``domain``, in declaration order, an Edge field replaced by Edge's fields."""
    hints = typing.get_type_hints(domain)
    flat: dict[str, Any] = {}
    for field in dataclasses.fields(domain):
        hint = hints[field.name]
        inner = typing.get_type_hints(hint) if hint is Edge else {field.name: hint}
        clash = flat.keys() & inner.keys()
        if clash:
            raise ValueError(f"{domain.__name__}: {sorted(clash)} would appear twice once its edge is flattened")
        flat.update(inner)
    return flat


def _property_type(domain: type, name: str) -> Any:
    getter = getattr(domain, name, None)
    if not isinstance(getter, property) or getter.fget is None:
        raise ValueError(f"{domain.__name__} has no property {name!r}")
    return typing.get_type_hints(getter.fget)["return"]
