"""Health of an edge or a node from its error ratios, after Kiali's request-health defaults.

Pure: counts and thresholds in, a :class:`Health` out. Two classes of errors are judged
separately and the worse verdict wins:

- server errors (``response_code >= 500`` or ``0``, no response): ``degraded`` above 0.1%,
  ``failing`` from 10%;
- client errors (4xx): ``degraded`` from 10%, ``failing`` from 20%;
- no requests at all: ``idle``.

"Above" is a strict comparison and "from" an inclusive one, exactly as the defaults are
worded. docs/edges.md documents them and how to change them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from edgewatch.settings import Settings


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    IDLE = "idle"


_SEVERITY = {Health.IDLE: 0, Health.HEALTHY: 1, Health.DEGRADED: 2, Health.FAILING: 3}


def severity(health: Health) -> int:
    """Sort key: failing 3, degraded 2, healthy 1, idle 0."""
    return _SEVERITY[health]


_SETTINGS = Settings.model_fields


@dataclass(frozen=True)
class HealthThresholds:
    """Error ratios (0..1) at which an edge turns degraded or failing; by default the
    ``EDGEWATCH_HEALTH_*`` settings' defaults (Kiali's).

    Raises ValueError unless every ratio is within 0..1 and each class's degraded
    threshold does not exceed its failing one.
    """

    server_degraded_above: float = _SETTINGS["health_server_degraded_above"].default
    server_failing_from: float = _SETTINGS["health_server_failing_from"].default
    client_degraded_from: float = _SETTINGS["health_client_degraded_from"].default
    client_failing_from: float = _SETTINGS["health_client_failing_from"].default

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"health threshold {name}={value}: use a ratio between 0 and 1")
        if self.server_degraded_above > self.server_failing_from:
            raise ValueError("health thresholds: server_degraded_above must not exceed server_failing_from")
        if self.client_degraded_from > self.client_failing_from:
            raise ValueError("health thresholds: client_degraded_from must not exceed client_failing_from")

    @classmethod
    def from_settings(cls, settings: Settings) -> HealthThresholds:
        """Thresholds from the ``EDGEWATCH_HEALTH_*`` settings (Kiali's defaults)."""
        return cls(
            server_degraded_above=settings.health_server_degraded_above,
            server_failing_from=settings.health_server_failing_from,
            client_degraded_from=settings.health_client_degraded_from,
            client_failing_from=settings.health_client_failing_from,
        )


DEFAULT_THRESHOLDS = HealthThresholds()


def classify(
    requests: int, server_errors: int, client_errors: int, thresholds: HealthThresholds = DEFAULT_THRESHOLDS
) -> Health:
    """The health of traffic with these counts; ``idle`` when ``requests`` is 0."""
    if requests <= 0:
        return Health.IDLE
    server = server_errors / requests
    client = client_errors / requests
    if server >= thresholds.server_failing_from or client >= thresholds.client_failing_from:
        return Health.FAILING
    if server > thresholds.server_degraded_above or client >= thresholds.client_degraded_from:
        return Health.DEGRADED
    return Health.HEALTHY


def worst(healths: Iterable[Health]) -> Health:
    """The most severe of ``healths``; ``idle`` for none."""
    return max(healths, key=severity, default=Health.IDLE)
