"""The request record: its fields, once. Everything that carries a record follows this list.

- ``migrations/0001_ingest.sql``: ``requests`` stores the fields in this order with these
  types; ``ingest_decoded`` holds them before the checks (:attr:`RecordField.decoded_type`);
  the decoder has one block per field, in this order.
- ``docs/records.md``, "Field by field": one row per field, in this order, with where each
  format takes it from (a dash where a format does not provide it).
- :class:`edgewatch.drilldown.CallRecord` and :class:`simulator.traces.Report`: the fields they
  carry, in this order, under their own names where they rename one.

``tests/test_record_fields.py`` compares each of them with this list (the engine's own
``system.columns`` for the tables) and names every difference. The committed SQL stays the
migration: adding a field means adding it here and there, and the test says where it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Format = Literal["native", "outbound", "inbound"]
"""Where a record comes from: Edgewatch's own record, or an Istio/Envoy access-log line of the
caller's proxy (``outbound``) or of the callee's (``inbound``); docs/records.md describes them."""
FORMATS: tuple[Format, ...] = ("native", "outbound", "inbound")


@dataclass(frozen=True)
class RecordField:
    """One field of the request record.

    ``type`` is its ClickHouse type in ``requests``, as ``system.columns`` writes it.
    ``formats`` are the formats whose lines provide it (taken or derived from the line); the
    others leave the decoder's fallback. Empty: not from the line but from the Kafka message.
    ``required``: every format must provide it, or the record is dead-lettered; until that
    check ``ingest_decoded`` holds it Nullable.
    """

    name: str
    type: str
    doc: str
    formats: tuple[Format, ...] = FORMATS
    required: bool = False

    @property
    def from_kafka(self) -> bool:
        return not self.formats

    @property
    def decoded_type(self) -> str:
        """Its type in ``ingest_decoded``: no LowCardinality, Nullable while a required one may be missing."""
        low_cardinality = "LowCardinality("
        plain = self.type[len(low_cardinality):-1] if self.type.startswith(low_cardinality) else self.type
        return f"Nullable({plain})" if self.required else plain


_STRING = "LowCardinality(String)"

REQUEST_FIELDS: tuple[RecordField, ...] = (
    RecordField("timestamp", "DateTime64(3, 'UTC')", "When the request started.", required=True),
    RecordField("source_workload", _STRING, "The calling workload; `unknown` for callers outside the mesh."),
    RecordField("source_namespace", _STRING, "The calling workload's namespace."),
    RecordField("destination_service", _STRING, "The called Service, external host, or unknown upstream."),
    RecordField("destination_namespace", _STRING, "The called Service's namespace."),
    RecordField("destination_workload", _STRING, "The workload that served the call (e.g. `reviews-v2`).",
                formats=("native", "inbound")),
    RecordField("destination_kind", _STRING,
                "`service` (in the mesh), `external` (a ServiceEntry host) or `unknown` (no known destination)."),
    RecordField("reporter", _STRING, "Which proxy wrote the record: `source` (the caller's) or `destination`."),
    RecordField("request_protocol", _STRING, "`http`, `grpc`, `HTTP/1.1`, ..."),
    RecordField("method", _STRING, "The HTTP method."),
    RecordField("path", "String", "The request path."),
    RecordField("response_code", "UInt16", "The HTTP status; `0`: no response.", required=True),
    RecordField("grpc_status", "Nullable(UInt8)", "The gRPC status, when there is one."),
    RecordField("response_flags", _STRING, "Envoy's short codes, comma-joined (`UF,URX`); `-` for none."),
    RecordField("duration_ms", "Float64", "How long the request took, in milliseconds.", required=True),
    RecordField("request_id", "String", "The `x-request-id`: both reports of one call share it."),
    RecordField("trace_id", "String", "The trace the call belongs to."),
    RecordField("bytes_sent", "UInt64", "Response body bytes, as the reporting proxy counts them."),
    RecordField("bytes_received", "UInt64", "Request body bytes, as the reporting proxy counts them."),
    RecordField("kafka_partition", "UInt32", "The Kafka partition of the message that held the record.", formats=()),
    RecordField("kafka_offset", "UInt64", "The Kafka offset of that message.", formats=()),
)
"""The fields of a stored request record, in the order of ``requests``' columns."""

FIELDS: dict[str, RecordField] = {field.name: field for field in REQUEST_FIELDS}
"""The same, by name."""
