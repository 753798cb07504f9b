"""Fixtures of the alerting tests: a local HTTP server standing in for Slack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.slack_server import SlackStandIn, running


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    yield from running()
