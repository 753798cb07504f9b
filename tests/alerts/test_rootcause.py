"""Root-cause grouping over the graph: table-driven, at explicit times, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.model import Alert, Edge, Status
from alerts.rootcause import attribute, symptoms_by_root
from edgewatch.services import ServiceMap, ServingWorkload

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EXTERNAL = "2oujlno5e4.execute-api.us-east-1.amazonaws.com"


def edge(source: str, destination: str, kind: str = "service") -> Edge:
    return Edge(source, "default", destination, "" if kind == "external" else "default", kind)


def alert(source: str, destination: str, condition: str = "error_rate", kind: str = "service") -> Alert:
    return Alert(
        rule=condition.replace("_", "-"), condition=condition, severity="critical",
        edge=edge(source, destination, kind), status=Status.FIRING, active_since=T0, fired_at=T0,
        value=0.5, threshold=0.05, requests=100,
    )  # fmt: skip


WEBAPP = alert("webapp", "staff-service")
STAFF_UT = alert("staff-service", EXTERNAL, "timeout_rate", "external")
STAFF_5XX = alert("staff-service", EXTERNAL, "error_rate", "external")
GATEWAY = alert("api-gateway", "fleetman-staff-service")
FRONT = alert("frontend", "webapp")
SERVED = ServiceMap([ServingWorkload("fleetman-staff-service", "default", "staff-service")])
NONE = ServiceMap([])

# Each case: active alerts, the service map, and the expected root causes of each alert
# (by index into the alerts list; [] = a root cause).
CASES: dict[str, tuple[list[Alert], ServiceMap, list[list[int]]]] = {
    "caller 5xx caused by downstream 504 UT to an external host": ([WEBAPP, STAFF_UT], NONE, [[1], []]),
    "several alerts on the root edge are all roots": ([WEBAPP, STAFF_UT, STAFF_5XX], NONE, [[1, 2], [], []]),
    "service name differs from the workload: linked via the service map": ([GATEWAY, STAFF_UT], SERVED, [[1], []]),
    "without the link the caller of the unknown service is its own root": ([GATEWAY, STAFF_UT], NONE, [[], []]),
    "chains up the graph to the deepest root": ([FRONT, WEBAPP, STAFF_UT], NONE, [[2], [2], []]),
    "unrelated conditions do not group": (
        [alert("webapp", "staff-service", "timeout_headroom"), STAFF_5XX],
        NONE,
        [[], []],
    ),
    "latency downstream explains caller errors": (
        [WEBAPP, alert("staff-service", EXTERNAL, "latency", "external")],
        NONE,
        [[1], []],
    ),
    "a loop with no way out: each is its own root": (
        [alert("a", "b"), alert("b", "a")],
        NONE,
        [[], []],
    ),
    "other namespace is not the same workload": (
        [WEBAPP, Alert(**{**STAFF_UT.__dict__, "edge": Edge("staff-service", "other", EXTERNAL, "", "external")})],
        NONE,
        [[], []],
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_root_causes(name: str) -> None:
    alerts, services, expected = CASES[name]
    result = attribute(alerts, services)
    assert [list(a.root_causes) for a in result] == [sorted(alerts[i].id for i in roots) for roots in expected]


def test_affected_callers_are_listed_under_their_root() -> None:
    result = attribute([FRONT, WEBAPP, STAFF_UT, GATEWAY], SERVED)
    affected = symptoms_by_root(result)
    assert [a.edge.source for a in affected[STAFF_UT.id]] == ["api-gateway", "frontend", "webapp"]
    assert set(affected) == {STAFF_UT.id}


def test_pending_root_still_explains_its_callers() -> None:
    pending_root = Alert(**{**STAFF_UT.__dict__, "status": Status.PENDING, "fired_at": None})
    result = attribute([WEBAPP, pending_root], NONE)
    assert result[0].root_causes == (pending_root.id,)
