"""Write (``--write``) or check (the default) deploy/grafana/dashboards/ from the dashboards as code.

    python deploy/grafana/generate.py --write

Needs the ``dev`` extra (grafana-foundation-sdk). Exit status 1 when a committed file differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]  # the generator, and this checkout's packages

from grafana_dashboards import render  # noqa: E402 (after the path above)

OUT = HERE / "dashboards"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the files (default: check them)")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.write:
            path.write_text(text)
            print(f"wrote {path}")
        elif not path.is_file() or path.read_text() != text:
            stale.append(name)
    if stale:
        print(f"{', '.join(stale)} differ from deploy/grafana/grafana_dashboards: run `python {__file__} --write`",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
