"""Request and response bodies of the API (the OpenAPI schema shows them).

The bodies of alerting are made from its domain types (:mod:`api.domain`): an alert, a silence
and a backtest episode serve the fields their dataclasses declare, the edge's five flat.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import AwareDatetime, BaseModel, Field

from alerts.backtest import Episode
from alerts.model import Alert
from alerts.silences import Silence
from api.domain import domain_model
from api.graph import GraphEdge, GraphNode, ServesLink
from api.nodegraph import EdgeRow, NodeRow
from api.params import StoredTime
from edgewatch.drilldown import CallRecord
from edgewatch.edges import EdgePoint, EdgeStats


def json_response(body: BaseModel) -> Response:
    """``body`` serialized once, by pydantic. Routes declare ``response_model`` for the schema;
    returning the model itself would have FastAPI validate it again: for 300 edges, FastAPI
    0.163's ``serialize_response`` took 1.3-1.4 ms against 0.4-0.5 ms for ``model_dump_json``
    (quartiles of 200 timings each, shared 2-core machine)."""
    return Response(body.model_dump_json(by_alias=True), media_type="application/json")


class WindowFields(BaseModel):
    window_seconds: int = Field(description="The window asked for.")
    start: datetime = Field(description="Start of the data read (inclusive).")
    end: datetime = Field(description="End of the data read (exclusive): windows of whole minutes end with "
                                      "the minute holding the requested end, the current minute included.")


class EdgesResponse(WindowFields):
    edges: list[EdgeStats] = Field(description="Every edge with traffic, worst first.")


class ServiceEdgesResponse(EdgesResponse):
    service: str
    namespace: str | None
    workloads: list[str] = Field(description="Workloads seen serving the service (its callers in dependencies).")


class TimeseriesResponse(WindowFields):
    step_seconds: int
    points: list[EdgePoint] = Field(description="One point per step, oldest first; empty steps have 0 requests.")


class RequestsResponse(WindowFields):
    requests: list[CallRecord] = Field(description="Matching calls, newest first, one report per call.")


class GraphResponse(WindowFields):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    serves: list[ServesLink] = Field(description="Service -> workload links: who serves each service.")


class NodeGraphResponse(WindowFields):
    nodes: list[NodeRow] = Field(description="Grafana Node Graph nodes (Infinity format node-graph-nodes).")
    edges: list[EdgeRow] = Field(description="Grafana Node Graph edges, the serves links among them "
                                             "(Infinity format node-graph-edges).")


# -- alerting ---------------------------------------------------------------------------------

AlertRefFields: Any = domain_model(Alert, properties=("id",), only=("rule", "source", "destination"))
# ``status`` is a string, not Alert's Status: in the history it carries the event's kind.
AlertFields: Any = domain_model(Alert, properties=("id",), exclude=("root_causes",), types={"status": str})
SilenceFields: Any = domain_model(Silence, exclude=("updated_at",))
EpisodeFields: Any = domain_model(Episode)


class AlertRef(AlertRefFields):
    pass


class AlertOut(AlertFields):
    root_causes: list[AlertRef] = Field(description="The alerts this one is a symptom of; empty for a root cause.")
    affected: list[AlertRef] = Field(description="Alerts explained by this one (its affected callers).")
    silenced: bool
    service_entry: str | None = Field(default=None, description="The ServiceEntry declaring the destination host.")
    location: str | None = Field(default=None, description="That ServiceEntry's location (MESH_EXTERNAL...).")


class EventOut(BaseModel):
    at: datetime
    event: str
    alert: AlertOut


class SilenceIn(BaseModel):
    rule: str = Field(default="*", min_length=1, description="Glob pattern on the rule name.")
    source: str = Field(default="*", min_length=1, description="Glob pattern on the source workload.")
    destination: str = Field(default="*", min_length=1, description="Glob pattern on the destination service.")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime
    comment: str = Field(min_length=1)
    created_by: str = ""


class SilenceOut(SilenceFields):
    active: bool


class BacktestIn(BaseModel):
    rule: str | dict[str, Any] = Field(description="A rule name from the rules file, or a whole rule.")
    start: StoredTime
    end: StoredTime
    step: str = Field(default="1m", description="Time between evaluations, e.g. 15s or 1m.")


class EpisodeOut(EpisodeFields):
    pass


class BacktestOut(BaseModel):
    rule: str
    start: datetime
    end: datetime
    step_seconds: float
    episodes: list[EpisodeOut]
