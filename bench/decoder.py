"""Decoder benchmark: migration 0001's in-engine decoder alone, a baseline against this tree.

    .venv/bin/python bench/decoder.py [--baseline HEAD] [--records 300000] [--rounds 3]

Both decoders run in one embedded engine (one process, one folder), each in its own database:
``baseline`` gets migrations/0001_ingest.sql as of the git revision ``--baseline``, ``current``
the file in the work tree. ``requests`` and ``dead_letters`` are Null tables there, so what is
timed is the decoder (ingest_lines -> ingest_records -> ingest_decoded and the routing views),
not MergeTree writes. The inputs, framed as the ingester frames them (1,000 lines a message):

- native: bench/ingest.py's records;
- istio: the simulator's Istio access-log lines (outbound and inbound, `kubernetes` merged in);
- fluent-bit: the same lines as a JSON string under Fluent Bit's `log`.

Each input is inserted ``--rounds`` times into each database, baseline and current taking turns
(which goes first alternates). Printed per input: the best CPU time of each (this process's user +
system time: the engine runs in it) and their ratio current / baseline, and the median of the
rounds' ratios. This machine is noisy: compare ratios, and run the tree against itself
(``--baseline HEAD`` on a clean tree) to see the noise. Deletes its engine folder at the end.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import clickhouse_connect
import orjson
from clickhouse_connect.driver.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import make_messages  # noqa: E402
from edgewatch.migrate import Migration  # noqa: E402
from edgewatch.settings import REPO_ROOT  # noqa: E402
from ingest.framing import frame_message  # noqa: E402
from simulator.formats import encoder  # noqa: E402
from simulator.generate import generate  # noqa: E402
from simulator.scenarios import load_scenario  # noqa: E402

MIGRATION = "migrations/0001_ingest.sql"
PER_MESSAGE = 1000


def istio_lines(count: int) -> list[bytes]:
    scenario = load_scenario("driver-monitoring-outage")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    encode = encoder("envoy", scenario.base)
    lines: list[bytes] = []
    for report in generate(scenario, start, None, 2000, seed=3):
        lines.append(encode(report))
        if len(lines) == count:
            return lines
    raise AssertionError("an endless generator ended")


def fluent_bit(line: bytes) -> bytes:
    record = orjson.loads(line)
    pod = record.pop("kubernetes")
    return orjson.dumps({"log": orjson.dumps(record).decode() + "\n", "stream": "stdout",
                         "time": record["start_time"], "kubernetes": pod})


def framed(lines: list[bytes]) -> bytes:
    pieces: list[bytes] = []
    for offset, first in enumerate(range(0, len(lines), PER_MESSAGE)):
        rows, _ = frame_message("bench", 0, offset, b"\n".join(lines[first:first + PER_MESSAGE]))
        pieces.extend(rows)
    return b"".join(pieces)


def decoder_database(folder: Path, name: str, sql: str) -> Client:
    """Database ``name`` with migration 0001 from ``sql``, its stored tables made Null."""
    clickhouse_connect.get_client(interface="chdb", path=str(folder)).command(f"CREATE DATABASE {name}")
    client = clickhouse_connect.get_client(interface="chdb", path=str(folder), database=name)
    for statement in Migration(1, "ingest", sql).statements():
        client.command(statement)
    for table in ("requests", "dead_letters", "ingest_batches"):
        client.command(f"RENAME TABLE {table} TO {table}_stored")
        client.command(f"CREATE TABLE {table} AS {table}_stored ENGINE = Null")
    return client


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD", help="git revision of the baseline 0001 (default HEAD)")
    parser.add_argument("--records", type=int, default=300_000, help="lines per input")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    baseline = subprocess.run(["git", "-C", str(REPO_ROOT), "show", f"{args.baseline}:{MIGRATION}"],
                              check=True, capture_output=True, text=True).stdout
    current = (REPO_ROOT / MIGRATION).read_text()
    native = [line for message in make_messages(args.records, PER_MESSAGE) for line in message.split(b"\n")]
    istio = istio_lines(args.records)
    inputs = {"native": framed(native), "istio": framed(istio), "fluent-bit": framed([fluent_bit(x) for x in istio])}

    folder = Path(tempfile.mkdtemp(prefix="edgewatch-bench-decoder-"))
    try:
        clients = {"baseline": decoder_database(folder, "baseline", baseline),
                   "current": decoder_database(folder, "current", current)}
        seconds: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            for input_name, rows in inputs.items():
                for name, client in sorted(clients.items(), reverse=round_ % 2 == 1):
                    started = cpu_seconds()
                    client.raw_insert("ingest_lines", None, rows, fmt="TSVRaw")
                    seconds.setdefault((name, input_name), []).append(cpu_seconds() - started)
        print(f"{args.rounds} rounds of {args.records:,} lines each; baseline {args.baseline}; CPU seconds")
        for input_name in inputs:
            old, new = seconds["baseline", input_name], seconds["current", input_name]
            ratios = [n / o for n, o in zip(new, old, strict=True)]
            print(f"{input_name:>10}: best baseline {min(old):6.3f}  current {min(new):6.3f}  "
                  f"ratio {min(new) / min(old):.3f}; median of round ratios {statistics.median(ratios):.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
