"""Slack messages (Block Kit) for notices. Pure: everything shown comes in as arguments.

A firing or reminder message names the root-cause edge, whether its destination is outside
the mesh, each firing rule's value against its threshold, the requests in the window, the
top status codes and response flags, sample request ids, since when, the affected callers
and a link to the API's per-request drill-down. A resolved message names the edge, the
rules and how long it fired. Texts respect Block Kit's limits (header 150 characters,
section 3,000, 10 fields per section).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from alerts.conditions import CONDITIONS
from alerts.model import Alert, Edge, EdgeDetails
from alerts.notify.plan import Notice, NoticeKind

Block = dict[str, Any]
_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_TITLE = {NoticeKind.FIRING: "FIRING", NoticeKind.REMINDER: "STILL FIRING", NoticeKind.RESOLVED: "RESOLVED"}


@dataclass(frozen=True)
class SlackMessage:
    """What is posted: ``text`` (notification fallback) and ``blocks``."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "blocks": self.blocks}, ensure_ascii=False)

    @classmethod
    def from_json(cls, payload: str) -> SlackMessage:
        data = json.loads(payload)
        return cls(text=data["text"], blocks=data["blocks"])


def escape(text: str) -> str:
    """Slack mrkdwn escaping of &, < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(alert: Alert) -> str:
    """``errors 34.5% > 5%``: the alert's value against its threshold, in the rule's unit."""
    return CONDITIONS[alert.condition].describe(alert.value, alert.threshold)


def _when(moment: datetime) -> str:
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time_secs}}|{moment:%Y-%m-%d %H:%M:%S} UTC>"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"


def drilldown_url(public_url: str, edge: Edge, alerts: tuple[Alert, ...]) -> str:
    """The API's per-request drill-down for the edge, filtered to what the alerts are about
    (their conditions' ``drilldown``, the highest priority when they differ)."""
    query = {"source": edge.source, "destination": edge.destination, "limit": "100"}
    asked = [kind.drilldown for a in alerts if (kind := CONDITIONS.get(a.condition)) and kind.drilldown]
    if asked:
        query["status"] = max(asked, key=lambda drilldown: drilldown.priority).status
    return f"{public_url.rstrip('/')}/api/v1/requests?{urlencode(query)}"


def _top(pairs: list[tuple[Any, int]], limit: int = 4) -> str:
    return ", ".join(f"`{key}` ×{count:,}" for key, count in pairs[:limit]) or "none"


def render(notice: Notice, details: EdgeDetails | None, public_url: str, now: datetime) -> SlackMessage:
    """The Slack message for ``notice``; ``details`` about the root edge (None for resolved)."""
    incident = notice.incident
    edge = incident.edge
    title = f"{_ICON.get(incident.severity, '')} {_TITLE[notice.kind]} · {incident.severity} · {edge.label}"
    where = "an external host (outside the mesh)" if edge.external else f"a {edge.destination_kind} in the mesh"
    if notice.kind is NoticeKind.RESOLVED:
        lasted = _duration((now - incident.opened_at).total_seconds())
        text = f"RESOLVED: {edge.label} ({', '.join(incident.rules)}) after {lasted}"
        body = (
            f"*{escape(edge.label)}* is healthy again.\n"
            f"Rules: {escape(', '.join(incident.rules))} · fired {_when(incident.opened_at)} · lasted {lasted}"
        )
        return SlackMessage(text, [_header(title), _section(body)])

    causes = "\n".join(f"• *{escape(a.rule)}* ({a.severity}): {escape(describe(a))}" for a in notice.alerts)
    text = f"{_TITLE[notice.kind]} [{incident.severity}] {edge.label}: " + "; ".join(describe(a) for a in notice.alerts)
    blocks = [
        _header(title),
        _section(f"*Root cause:* `{escape(edge.label)}`, {where}.\n{causes}"),
    ]
    since = min(a.active_since for a in notice.alerts)
    fields = [
        f"*Severity*\n{incident.severity}",
        f"*Edge*\n{escape(edge.source_namespace or '-')}/{escape(edge.source)} → "
        f"{escape(edge.destination_namespace or '-')}/{escape(edge.destination)}",
        f"*Destination*\n{'external host' if edge.external else edge.destination_kind}",
        f"*Since*\n{_when(since)}",
    ]
    if details is not None:
        fields += [
            f"*Requests in window*\n{details.requests:,} ({details.errors:,} errors, {details.timeouts:,} timeouts)",
            f"*Top status codes*\n{_top(details.status_codes)}",
            f"*Top response flags*\n{_top(details.response_flags)}",
            "*Sample request ids*\n" + (", ".join(f"`{escape(r)}`" for r in details.sample_request_ids) or "none"),
        ]
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": _cut(f, 2000)} for f in fields[:10]]})
    if notice.affected:
        by_edge: dict[Edge, list[Alert]] = {}
        for alert in notice.affected:
            by_edge.setdefault(alert.edge, []).append(alert)
        lines = [
            f"• `{escape(e.label)}`: " + "; ".join(f"{escape(a.rule)} {escape(describe(a))}" for a in found)
            for e, found in by_edge.items()
        ]
        callers = sorted({a.edge.source for a in notice.affected})
        blocks.append(_section(f"*Affected callers:* {escape(', '.join(callers))}\n" + "\n".join(lines)))
        text += f" (affected callers: {', '.join(callers)})"
    link = drilldown_url(public_url, edge, notice.alerts)
    footer = f"<{link}|Drill down to requests> · {escape(notice.id)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return SlackMessage(_cut(text, 3000), blocks)


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, 150), "emoji": True}}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}}
