"""The live service graph page: ``GET /`` and ``/ui`` (``/ui/``) serve ``web/index.html``, ``/ui/...`` the
page's scripts, styles and vendored libraries (web/vendor). Never behind the bearer token: the
page holds no data; it asks the user for the token once and sends it to the data routes.

Nothing is fetched from elsewhere: the page works offline. The files are read from ``web/`` at
the repository's root (the Docker image ships that folder at the same place).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from edgewatch.settings import REPO_ROOT

WEB_ROOT = REPO_ROOT / "web"
"""The page's files (web/index.html, web/*.js, web/*.css, web/vendor/)."""

# The page itself must never be stale after an upgrade; its assets revalidate by ETag.
_NO_CACHE = {"Cache-Control": "no-cache"}


def page_router(web_root: Path = WEB_ROOT) -> APIRouter:
    """``GET /``, ``/ui`` and ``/ui/``: the page; 404 with the folder's name when it is missing."""
    router = APIRouter(tags=["page"], include_in_schema=False)

    def index() -> FileResponse:
        page = web_root / "index.html"
        if not page.is_file():
            raise HTTPException(404, f"the graph page is not installed: {page} is missing")
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=_NO_CACHE)

    router.add_api_route("/", index, methods=["GET"])
    router.add_api_route("/ui", index, methods=["GET"])
    router.add_api_route("/ui/", index, methods=["GET"])  # as people type it; else the assets' mount says 404
    return router


def static_files(web_root: Path = WEB_ROOT) -> StaticFiles:
    """The page's assets, for ``app.mount("/ui", ...)`` (``check_dir=False``: a missing folder
    answers 404 instead of stopping the API)."""
    return StaticFiles(directory=web_root, check_dir=False)
