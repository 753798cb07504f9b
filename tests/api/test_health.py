"""Kiali-like health thresholds: pure."""

import pytest

from edgewatch.health import DEFAULT_THRESHOLDS, Health, HealthThresholds, classify, worst
from edgewatch.settings import Settings


@pytest.mark.parametrize(
    ("requests", "server", "client", "expected"),
    [
        (0, 0, 0, Health.IDLE),
        (1000, 0, 0, Health.HEALTHY),
        (1000, 1, 0, Health.HEALTHY),  # 0.1% is not above 0.1%
        (1000, 2, 0, Health.DEGRADED),
        (1000, 99, 0, Health.DEGRADED),
        (1000, 100, 0, Health.FAILING),  # from 10%
        (1000, 0, 99, Health.HEALTHY),
        (1000, 0, 100, Health.DEGRADED),  # client errors: from 10%
        (1000, 0, 199, Health.DEGRADED),
        (1000, 0, 200, Health.FAILING),  # from 20%
        (1000, 2, 200, Health.FAILING),  # the worse class wins
        (10, 10, 0, Health.FAILING),
    ],
)
def test_defaults_follow_kiali(requests: int, server: int, client: int, expected: Health) -> None:
    assert classify(requests, server, client) is expected


def test_thresholds_are_configurable() -> None:
    strict = HealthThresholds(server_degraded_above=0.0, server_failing_from=0.01)
    assert classify(1000, 1, 0, strict) is Health.DEGRADED
    assert classify(1000, 10, 0, strict) is Health.FAILING


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWATCH_HEALTH_CLIENT_DEGRADED_FROM", "0.05")
    thresholds = HealthThresholds.from_settings(Settings())
    assert thresholds.client_degraded_from == 0.05
    assert thresholds.server_failing_from == DEFAULT_THRESHOLDS.server_failing_from


@pytest.mark.parametrize(
    "values",
    [
        {"server_failing_from": 1.5},
        {"client_degraded_from": -0.1},
        {"server_degraded_above": 0.5, "server_failing_from": 0.2},
    ],
)
def test_inconsistent_thresholds_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="health threshold"):
        HealthThresholds(**values)


def test_worst() -> None:
    assert worst([Health.HEALTHY, Health.FAILING, Health.DEGRADED]) is Health.FAILING
    assert worst([Health.IDLE, Health.HEALTHY]) is Health.HEALTHY
    assert worst([]) is Health.IDLE
