"""Everything that carries a request record follows edgewatch/record.py's list of its fields.

Compared with :data:`edgewatch.record.REQUEST_FIELDS`: the engine's own ``system.columns`` of
``requests`` and ``ingest_decoded`` after migrating (and of the views that fill them), the order
of the decoder's blocks in migrations/0001_ingest.sql, the drill-down's ``CallRecord``, the simulator's ``Report`` and
docs/records.md's tables. Each failure names every difference.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from edgewatch.drilldown import CallRecord
from edgewatch.migrate import MIGRATIONS_DIR
from edgewatch.record import FIELDS, FORMATS, REQUEST_FIELDS, RecordField
from edgewatch.settings import REPO_ROOT
from simulator.traces import Report

DOCS = REPO_ROOT / "docs" / "records.md"
DRILLDOWN_LEAVES_OUT = {"destination_workload", "request_protocol", "grpc_status", "bytes_sent", "bytes_received",
                        "kafka_partition", "kafka_offset"}
"""Record fields a drill-down does not show."""
REPORT_NAMES = {"timestamp_ms": "timestamp"}
REPORT_TYPES: dict[str, Any] = {"timestamp": int}
"""The simulator keeps the timestamp as epoch milliseconds."""
REPORT_ONLY = {"destination_host", "destination_port"}
"""The callee's address, which an Envoy line names and the record does not keep."""
REPORT_LEAVES_OUT = {"request_protocol", "grpc_status", "kafka_partition", "kafka_offset"}
"""The simulator speaks plain HTTP (its encoders write the protocol), and knows no Kafka."""


def differences(what: str, expected: Sequence[tuple[str, Any]], actual: Sequence[tuple[str, Any]]) -> list[str]:
    """Each difference between two (name, type) lists, in words."""
    found: list[str] = []
    want, have = dict(expected), dict(actual)
    found += [f"{what}: no {name} ({kind})" for name, kind in expected if name not in have]
    found += [f"{what}: {name} is none of the record fields it should carry" for name, _ in actual
              if name not in want]
    found += [f"{what}: {name} is {have[name]}, the record says {kind}" for name, kind in expected
              if name in have and have[name] != kind]
    common_want = [name for name, _ in expected if name in have]
    common_have = [name for name, _ in actual if name in want]
    if common_want != common_have:
        found.append(f"{what}: order {common_have}, the record's {common_want}")
    return found


def python_type(field: RecordField) -> Any:
    """The Python type of a field's values as a model or tuple carries them."""
    inner = re.sub(r"^(Nullable|LowCardinality)\((.*)\)$", r"\2", field.type)
    base = (str if inner == "String" or inner.startswith("LowCardinality")
            else datetime if inner.startswith("DateTime")
            else float if inner.startswith("Float")
            else int)
    return base | None if field.type.startswith("Nullable(") else base


def columns(ch: Client, table: str) -> list[tuple[str, str]]:
    return [(name, kind) for name, kind in ch.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {table:String} "
        "AND default_kind != 'MATERIALIZED' ORDER BY position",  # a table's own derived columns are no fields
        parameters={"table": table}).result_rows]


def test_the_list_is_well_formed() -> None:
    assert len(FIELDS) == len(REQUEST_FIELDS), "a field name is used twice"
    for field in REQUEST_FIELDS:
        assert set(field.formats) <= set(FORMATS), field
        assert field.doc.endswith("."), field
    assert [f.name for f in REQUEST_FIELDS if f.from_kafka] == ["kafka_partition", "kafka_offset"]


@pytest.mark.clickhouse
def test_requests_stores_the_record_fields(ch: Client) -> None:
    expected = [(f.name, f.type) for f in REQUEST_FIELDS]
    found = differences("requests", expected, columns(ch, "requests"))
    found += differences("ingest_requests_mv", [(f.name, "") for f in REQUEST_FIELDS],
                         [(name, "") for name, _ in columns(ch, "ingest_requests_mv")])
    assert not found, "\n".join(found)


@pytest.mark.clickhouse
def test_ingest_decoded_holds_the_record_fields_before_the_checks(ch: Client) -> None:
    actual = columns(ch, "ingest_decoded")
    pipeline = [("topic", "LowCardinality(String)"), ("partition", "UInt32"), ("offset", "UInt64"),
                ("doc", "String"), ("error", "String")]
    assert actual[:len(pipeline)] == pipeline
    expected = [(f.name, f.decoded_type) for f in REQUEST_FIELDS if not f.from_kafka]
    found = differences("ingest_decoded", expected, actual[len(pipeline):])
    decoder = columns(ch, "ingest_decode_records_mv")
    found += differences("ingest_decode_records_mv", [(name, "") for name, _ in actual], [(n, "") for n, _ in decoder])
    assert not found, "\n".join(found)


def test_the_decoder_gives_the_fields_their_blocks_in_the_records_order() -> None:
    sql = (MIGRATIONS_DIR / "0001_ingest.sql").read_text()
    start = sql.index("CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_decode_records_mv")
    decoder = sql[start:sql.index("FROM ingest_records;", start)]
    found = {f.name: re.search(rf"\bAS {f.name}\b", decoder) for f in REQUEST_FIELDS if not f.from_kafka}
    assert not (missing := [name for name, match in found.items() if match is None]), f"no block for {missing}"
    order = sorted(found, key=lambda name: found[name].start())  # type: ignore[union-attr]
    assert order == list(found), f"the decoder's blocks come as {order}"


def test_call_record_carries_record_fields_in_order() -> None:
    hints = typing.get_type_hints(CallRecord)
    actual = [(CallRecord.RECORD_NAMES.get(name, name), hints[name]) for name in CallRecord.model_fields]
    expected = [(f.name, python_type(f)) for f in REQUEST_FIELDS if f.name not in DRILLDOWN_LEAVES_OUT]
    assert not (found := differences("CallRecord", expected, actual)), "\n".join(found)


def test_report_carries_record_fields_in_order() -> None:
    hints = typing.get_type_hints(Report)
    actual = [(REPORT_NAMES.get(name, name), hints[name]) for name in Report._fields if name not in REPORT_ONLY]
    expected = [(f.name, REPORT_TYPES.get(f.name, python_type(f))) for f in REQUEST_FIELDS
                if f.name not in REPORT_LEAVES_OUT]
    assert not (found := differences("Report", expected, actual)), "\n".join(found)
    assert set(Report._fields) >= REPORT_ONLY


def markdown_table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after ``heading`` in docs/records.md."""
    text = DOCS.read_text()
    lines = text[text.index(heading):].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_docs_field_table_has_a_row_per_field_and_a_dash_where_a_format_lacks_it() -> None:
    rows = markdown_table("## 3. Field by field")
    found = differences("docs' field table", [(f.name, "a row") for f in REQUEST_FIELDS],
                        [(row[0].strip("`"), "a row") for row in rows])
    for row in rows:
        field = FIELDS.get(row[0].strip("`"))
        if field is None or len(row) != 2 + len(FORMATS):
            continue
        for fmt, cell in zip(FORMATS, row[1:1 + len(FORMATS)], strict=True):
            if (cell == "—") == (fmt in field.formats):
                found.append(f"{field.name}, {fmt}: {cell!r}, but the record says it is "
                             f"{'' if fmt in field.formats else 'not '}provided")
    assert not found, "\n".join(found)


def test_the_docs_native_record_table_lists_the_fields_a_native_record_provides() -> None:
    listed = {name for row in markdown_table("## 1. Edgewatch's own record")
              for name in re.findall(r"`([a-z_]+)`", row[0])}
    provided = {f.name for f in REQUEST_FIELDS if "native" in f.formats}
    assert listed == provided, {"not in the record": listed - provided, "not in the docs": provided - listed}
