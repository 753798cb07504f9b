"""bench/scale.py --quick completes and prints every row of its tables (CI keeps the benchmark
running; no figure is checked: benchmarks are not timed tests)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.scale import QUICK
from edgewatch.settings import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


@pytest.mark.timeout(240)
def test_scale_quick_completes_and_prints_every_row(kafka: str) -> None:
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench/scale.py"), "--quick", "--bootstrap", kafka],
                          capture_output=True, text=True, timeout=230, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    out = done.stdout
    rows = ([f"| {p} | 2 |" for p in QUICK["partitions"]] + [f"| 4 | {w} |" for w in QUICK["writers"]]
            + [f"| {records:,} | {edges:,} |" for records, edges in QUICK["stores"]]
            + [f"| {edges:,} |" for edges in QUICK["rule_edges"]])
    missing = [row for row in rows if row not in out]
    assert not missing, f"rows not printed: {missing}\n{out[-3000:]}"
    assert out.count(" (quick size) | ") == 3, out[-2000:]  # the goal rows measured at quick sizes
