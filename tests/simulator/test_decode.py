"""Simulated lines decode cleanly through the real in-engine decoder (migrations/0001_ingest.sql)."""

from datetime import UTC, datetime, timedelta

import pytest

from simulator.formats import FORMATS, encoder
from simulator.generate import generate
from simulator.scenarios import load_scenario
from simulator.topology import OUTSIDE
from simulator.traces import Report

pytestmark = pytest.mark.clickhouse

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)  # inside the tables' TTL
COLUMNS = (
    "request_id, reporter, toUnixTimestamp64Milli(timestamp), source_workload, source_namespace, destination_service, "
    "destination_namespace, destination_workload, destination_kind, method, path, response_code, response_flags, "
    "duration_ms, trace_id, bytes_sent, bytes_received"
)


def expected_row(report: Report, fmt: str) -> tuple:
    """What the decoder should store. Envoy lines (merged or in Fluent Bit's `log`) carry whole
    milliseconds. An outbound line knows the callee's Service but not its workload (the decoder
    leaves it empty). An inbound line does not name its caller (Istio's default format does not:
    the source is unknown); it names the Service in `authority`, the Host header, which a call
    from outside the mesh fills with a public host: then the workload (the pod's Deployment)
    stands in for the Service."""
    source = (report.source_workload, report.source_namespace)
    destination = (report.destination_service, report.destination_workload)
    duration = report.duration_ms
    if fmt != "native":
        duration = float(int(report.duration_ms))
        if report.reporter == "source":
            destination = (report.destination_service, "")
        else:
            source = ("unknown", "")
            if report.source_workload == OUTSIDE:
                destination = (report.destination_workload, report.destination_workload)
    return (
        report.request_id,
        report.reporter,
        report.timestamp_ms,
        *source,
        destination[0],
        report.destination_namespace,
        destination[1],
        report.destination_kind,
        report.method,
        report.path,
        report.response_code,
        report.response_flags,
        duration,
        report.trace_id,
        report.bytes_sent,
        report.bytes_received,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_line_of_an_outage_decodes_to_the_report_it_came_from(ch, fmt):
    scenario = load_scenario("driver-monitoring-outage")
    reports = list(generate(scenario, START, START + timedelta(seconds=60), 200, seed=2))
    encode = encoder(fmt, scenario.base)
    rows = b"".join(b"sim\t0\t%d\t%s\n" % (offset, encode(report)) for offset, report in enumerate(reports))
    ch.raw_insert("ingest_lines", None, rows, fmt="TSVRaw")

    assert ch.query("SELECT reason, payload FROM dead_letters LIMIT 3").result_rows == []
    stored = ch.query(f"SELECT {COLUMNS} FROM requests").result_rows
    assert sorted(stored) == sorted(expected_row(r, fmt) for r in reports)
    assert {r.response_flags for r in reports} >= {"-", "UT", "UF"}
