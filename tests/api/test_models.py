"""Bodies made from domain types (api/domain.py): what they derive, and the schema clients see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from api.app import create_app
from api.domain import domain_model
from edgewatch.edge import Edge
from edgewatch.settings import Settings


@dataclass(frozen=True)
class Sighting:
    name: str
    edge: Edge
    seen_at: datetime | None
    tags: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return f"{self.name}: {self.edge.label}"


EDGE = Edge("web", "shop", "api", "shop", "service")
SEEN = Sighting("one", EDGE, datetime(2026, 11, 26, tzinfo=UTC), ("a",))


def test_fields_come_in_order_with_the_edge_flat_and_all_required() -> None:
    model = domain_model(Sighting, properties=("label",))
    assert list(model.model_fields) == ["label", "name", "source", "source_namespace", "destination",
                                        "destination_namespace", "destination_kind", "seen_at", "tags"]
    assert all(info.is_required() for info in model.model_fields.values())  # the defaults of Edge and tags too
    assert model.of(SEEN).model_dump() == {
        "label": "one: web → api", "name": "one", "source": "web", "source_namespace": "shop", "destination": "api",
        "destination_namespace": "shop", "destination_kind": "service", "seen_at": SEEN.seen_at, "tags": ("a",),
    }


def test_exclude_only_types_and_overrides() -> None:
    class Out(domain_model(Sighting, exclude=("tags",), types={"seen_at": str})):  # type: ignore[misc]
        extra: int

    assert list(Out.model_fields) == ["name", "source", "source_namespace", "destination", "destination_namespace",
                                      "destination_kind", "seen_at", "extra"]
    out = Out.of(SEEN, seen_at="yesterday", extra=1)
    assert (out.seen_at, out.extra, out.source) == ("yesterday", 1, "web")
    with pytest.raises(ValidationError, match="extra"):
        Out.of(SEEN, seen_at="x")
    brief = domain_model(Sighting, only=("name", "destination"))
    assert list(brief.model_fields) == ["name", "destination"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exclude": ("tag",)}, "no field 'tag'"),
        ({"only": ("source_workload",)}, "no field 'source_workload'"),
        ({"types": {"seen": str}}, "no field 'seen'"),
        ({"properties": ("name",)}, "no property 'name'"),
    ],
)
def test_a_name_the_domain_type_lacks_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        domain_model(Sighting, **options)


def test_a_field_that_clashes_with_the_flat_edge_is_refused() -> None:
    @dataclass
    class Clash:
        source: str
        edge: Edge

    with pytest.raises(ValueError, match="'source'"):
        domain_model(Clash)


def text(name: str) -> dict[str, Any]:
    return {"title": name.replace("_", " ").title(), "type": "string"}


def typed(name: str, kind: str) -> dict[str, Any]:
    return {"title": name.replace("_", " ").title(), "type": kind}


def optional_text(name: str, description: str) -> dict[str, Any]:
    return {"anyOf": [{"type": "string"}, {"type": "null"}], "description": description,
            "title": name.replace("_", " ").title()}


def moment(name: str, optional: bool = False) -> dict[str, Any]:
    title = name.replace("_", " ").title()
    if optional:
        return {"anyOf": [{"format": "date-time", "type": "string"}, {"type": "null"}], "title": title}
    return {"format": "date-time", "title": title, "type": "string"}


def refs(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "items": {"$ref": "#/components/schemas/AlertRef"},
            "title": name.replace("_", " ").title(), "type": "array"}


EDGE_PROPERTIES = {name: text(name) for name in
                   ("source", "source_namespace", "destination", "destination_namespace", "destination_kind")}
OPTIONAL_SINCE = {"service_entry", "location"}
# The schemas as the hand-written models of alerts/http.py produced them (FastAPI 0.163, pydantic 2.14).
SCHEMAS = {
    "AlertRef": {name: text(name) for name in ("id", "rule", "source", "destination")},
    "AlertOut": {
        **{name: text(name) for name in ("id", "rule", "condition", "severity", "status")}, **EDGE_PROPERTIES,
        "value": typed("value", "number"), "threshold": typed("threshold", "number"),
        "requests": typed("requests", "integer"), "active_since": moment("active_since"),
        "fired_at": moment("fired_at", optional=True),
        "root_causes": refs("root_causes", "The alerts this one is a symptom of; empty for a root cause."),
        "affected": refs("affected", "Alerts explained by this one (its affected callers)."),
        "silenced": typed("silenced", "boolean"),
        # added since (#13), optional: the mesh config's ServiceEntry of the destination
        "service_entry": optional_text("service_entry", "The ServiceEntry declaring the destination host."),
        "location": optional_text("location", "That ServiceEntry's location (MESH_EXTERNAL...)."),
    },
    "SilenceOut": {
        **{name: text(name) for name in ("id", "rule", "source", "destination")},
        "starts_at": moment("starts_at"), "ends_at": moment("ends_at"), "comment": text("comment"),
        "created_by": text("created_by"), "created_at": moment("created_at"), "active": typed("active", "boolean"),
    },
    "EpisodeOut": {
        **EDGE_PROPERTIES, "pending_at": moment("pending_at"), "fired_at": moment("fired_at"),
        "resolved_at": moment("resolved_at", optional=True), "peak_value": typed("peak_value", "number"),
        "threshold": typed("threshold", "number"),
    },
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_openapi_schema_of_derived_bodies_is_what_clients_had(name: str) -> None:
    schemas = create_app(Settings.model_validate({}), client=object()).openapi()["components"]["schemas"]  # type: ignore[arg-type]
    schema = schemas[name]
    assert schema["properties"] == SCHEMAS[name]
    # every field, always present (the optional ones added since: always present too, null when unknown)
    assert set(schema["required"]) == set(SCHEMAS[name]) - OPTIONAL_SINCE
    assert (schema["title"], schema["type"], schema.get("description")) == (name, "object", None)
