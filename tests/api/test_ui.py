"""The graph page's files from the API process: open without the token (the data routes are not),
the right media types, nothing fetched from elsewhere, and every vendored library with its licence."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.ui import WEB_ROOT, page_router
from edgewatch.settings import Settings


class NoClient:
    """The page's routes never touch ClickHouse."""


def test_the_page_and_its_assets_are_open_and_the_data_is_not() -> None:
    api = TestClient(create_app(Settings.model_validate({"api_token": "s3cret"}), NoClient()))  # type: ignore[arg-type]
    for path in ("/", "/ui", "/ui/", "/?window=1h&edge=x"):
        page = api.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert 'id="cy"' in page.text
    for asset, kind in (("/ui/js/app.js", "javascript"), ("/ui/style.css", "text/css"),
                        ("/ui/vendor/cytoscape.min.js", "javascript")):
        answer = api.get(asset)
        assert answer.status_code == 200 and kind in answer.headers["content-type"], asset
    assert api.get("/ui/js/nothing.js").status_code == 404
    assert api.get("/api/v1/graph").status_code == 401


def test_nothing_is_loaded_from_elsewhere() -> None:
    page = (WEB_ROOT / "index.html").read_text()
    assert set(re.findall(r'(?:src|href)="([^"]+)"', page)) == {
        "/ui/style.css", "/ui/vendor/cytoscape.min.js", "/ui/vendor/cytoscape-dagre.min.js", "/ui/js/app.js"}
    for script in (WEB_ROOT / "js").glob("*.js"):
        imports = re.findall(r'from "([^"]+)"', script.read_text())
        assert all(name.startswith("./") for name in imports), (script, imports)
        assert "fetch(" not in script.read_text() or script.name == "api.js", script  # one way out: the API


def test_each_vendored_library_has_its_licence_and_version() -> None:
    vendor = WEB_ROOT / "vendor"
    versions = (vendor / "VERSIONS").read_text()
    for name in ("cytoscape", "cytoscape-dagre", "dagre", "graphlib"):
        assert "Permission is hereby granted, free of charge" in (vendor / f"LICENSE.{name}").read_text(), name  # MIT
        assert re.search(rf"(^|/){name}@\d+\.\d+\.\d+ sha512-", versions, re.MULTILINE), name


def test_a_missing_page_is_a_404_that_says_where(tmp_path: Path) -> None:
    app = FastAPI()
    app.include_router(page_router(tmp_path))
    answer = TestClient(app).get("/")
    assert answer.status_code == 404 and str(tmp_path / "index.html") in answer.json()["detail"]
