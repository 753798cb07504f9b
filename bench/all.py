"""`make bench`: every benchmark in its quick mode, one after the other, then one table of the
issue's goals: figure, goal, measured, met.

    .venv/bin/python bench/all.py [--full]

Each benchmark prints its own goal rows as ``figure | goal | measured | met`` lines; this
gathers them. Quick sizes are small (a goal set at 20M records is measured at the quick size and
says so): the full runs are ``bench/ingest.py`` and ``bench/scale.py`` without ``--quick``
(docs/performance.md). Exits non-zero when a benchmark fails, not when a goal is missed:
benchmarks measure, they are not tests.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BENCHMARKS = ("ingest.py", "api.py", "alerts.py", "scale.py")
GOAL_ROW = re.compile(r"^(?P<figure>[^|]+?) \| (?P<goal>[^|]+?) \| (?P<measured>[^|]+?) \| (?P<met>yes|no)$")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the full runs (an hour or more)")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    failed = []
    for name in BENCHMARKS:
        command = [sys.executable, str(BENCH / name)] + ([] if args.full else ["--quick"])
        print(f"==> {' '.join(command[1:])}", flush=True)
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if match := GOAL_ROW.match(line.rstrip("\n")):
                rows.append((match["figure"], match["goal"], match["measured"], match["met"]))
        if process.wait():
            failed.append(name)
        print(f"==> {name}: {time.perf_counter() - began:.0f} s, exit {process.returncode}", flush=True)
    width = max((len(r[0]) for r in rows), default=6)
    print(f"\n{'figure':{width}} | goal      | measured   | met")
    print(f"{'-' * width}-|-----------|------------|----")
    for figure, goal, measured, met in rows:
        print(f"{figure:{width}} | {goal:9} | {measured:10} | {met}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
