"""Fixtures of the browser tests: headless Chromium (skipped, with how to install it, when absent;
a failure under CI, which must run them) and where screenshots go."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.browser import chromium, missing


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    reason = missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    with chromium() as driver:
        yield driver


@pytest.fixture
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots: ``.edgewatch/artifacts/ui`` (gitignored) under ``EDGEWATCH_ARTIFACTS`` or the
    pytest temp folder."""
    base = os.environ.get("EDGEWATCH_ARTIFACTS")
    folder = Path(base) / "ui" if base else tmp_path_factory.mktemp("ui-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
