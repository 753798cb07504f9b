"""Edgewatch's Grafana dashboards as code (Grafana's foundation SDK): ``render()`` gives each
dashboard's JSON as committed in deploy/grafana/dashboards/; ``python deploy/grafana/generate.py
--write`` writes them, and tests/test_grafana_dashboards.py fails when the two differ."""

from __future__ import annotations

import json
from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from grafana_dashboards import edge_detail, mesh_overview

DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "mesh-overview.json": mesh_overview.build,
    "edge-detail.json": edge_detail.build,
}
"""File name -> the dashboard's builder."""


def render() -> dict[str, str]:
    """File name -> the dashboard's JSON text (sorted keys, 2-space indent, final newline)."""
    texts = {}
    for name, build in DASHBOARDS.items():
        model = json.loads(JSONEncoder().encode(build().build()))
        texts[name] = json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return texts
