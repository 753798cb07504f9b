"""Which room may import which: read from the source with ``ast``, every import of every module
(those inside functions too), so that a layering mistake fails here naming the line.

    launch/      the composition root: may import everything; nothing imports it
    api/         HTTP: may import alerts (its domain types) and the core
    alerts/      rules, evaluation, Slack: the core only, never HTTP (fastapi, starlette, api)
    ingest/      Kafka -> ClickHouse: the core only
    edgewatch/   the shared core: none of the rooms above it
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.settings import REPO_ROOT

ROOMS = ("edgewatch", "ingest", "api", "alerts", "simulator", "launch")
FORBIDDEN = {
    "edgewatch": ("ingest", "api", "alerts", "simulator", "launch"),
    "ingest": ("api", "alerts", "launch", "fastapi", "starlette"),
    "alerts": ("api", "launch", "fastapi", "starlette"),
    "api": ("launch", "ingest"),
    "simulator": ("api", "alerts", "launch"),
}


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of each absolute import in ``path``; ``from a.b import c`` gives ``a.b``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def violations(root: Path, package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        for line, module in imported(path):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_room_imports_one_above_it(package: str) -> None:
    assert (REPO_ROOT / package / "__init__.py").is_file()
    found = violations(REPO_ROOT, package, FORBIDDEN[package])
    assert not found, f"{package}/ may not import {', '.join(FORBIDDEN[package])}:\n" + "\n".join(found)


def test_every_room_is_checked() -> None:
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ROOMS) and set(FORBIDDEN) == packages - {"launch"}


def test_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    (tmp_path / "edgewatch").mkdir()
    (tmp_path / "edgewatch" / "cli.py").write_text(
        "import logging\nfrom edgewatch.settings import Settings\nfrom . import clickhouse\n\n"
        "def main() -> None:\n    from ingest.service import Ingester\n    import api.app\n"
    )
    assert violations(tmp_path, "edgewatch", FORBIDDEN["edgewatch"]) == [
        "edgewatch/cli.py:6 imports ingest.service", "edgewatch/cli.py:7 imports api.app",
    ]
