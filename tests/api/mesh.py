"""A small mesh's traffic for the API tests, and the API over the test engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from api.app import create_app
from edgewatch.settings import Settings
from tests.api.records import both_reports, call, envoy_outbound


def api_client(settings: Settings, client: Client, now: datetime) -> TestClient:
    return TestClient(create_app(settings, client, clock=lambda: now))


@dataclass(frozen=True)
class Mesh:
    """The published traffic, and the expected numbers (docstring of ``mesh_records``)."""

    client: Client
    settings: Settings
    now: datetime
    api: TestClient


def mesh_records(now: datetime) -> list[dict[str, Any]]:
    """A small mesh over [now - 4m, now - 1m), plus a burst in the last 30 s:

    - productpage -> reviews: 200 calls, each reported by both proxies (inbound: source
      unknown, served by reviews-v1); 15 x 503, 5 x 504 with UT, 180 x 200; durations 1..200 ms;
    - reviews-v1 -> ratings: 100 x 200 (5 ms); reviews-v1 -> details: 85 x 200, 15 x 404;
    - unknown -> productpage: 50 calls only the callee reported (from outside the mesh);
    - productpage -> api.stripe.com (external, Envoy lines): 18 x 200, 2 with no response (UF);
    - burst in [now - 25 s, now - 15 s): 10 more productpage -> reviews (both reports, 200,
      50 ms) and 5 more callee-only unknown -> productpage.
    """
    t0 = now - timedelta(minutes=4)
    records: list[dict[str, Any]] = []
    for i in range(200):
        code, flags = (503, "-") if i < 15 else (504, "UT") if i < 20 else (200, "-")
        at = t0 + timedelta(seconds=i * 0.9)
        records += both_reports(call(at, "productpage", "reviews", code, i + 1.0, flags=flags), "reviews-v1")
    for i in range(100):
        at = t0 + timedelta(seconds=i * 1.7)
        records.append(call(at, "reviews-v1", "ratings", 200, 5.0))
        records.append(call(at, "reviews-v1", "details", 404 if i < 15 else 200, 7.0))
    for i in range(50):
        at = t0 + timedelta(seconds=i * 3.5)
        records.append(call(at, "unknown", "productpage", 200, 30.0, reporter="destination",
                            source_namespace="", destination_workload="productpage"))
    for i in range(20):
        at = t0 + timedelta(seconds=i * 8)
        records.append(envoy_outbound(at, "productpage", "default", "api.stripe.com", 443,
                                      0 if i < 2 else 200, 120, "UF" if i < 2 else "-"))
    for i in range(10):
        at = now - timedelta(seconds=25 - i)
        records += both_reports(call(at, "productpage", "reviews", 200, 50.0), "reviews-v1")
    for i in range(5):
        at = now - timedelta(seconds=25 - i)
        records.append(call(at, "unknown", "productpage", 200, 30.0, reporter="destination",
                            source_namespace="", destination_workload="productpage"))
    return records
