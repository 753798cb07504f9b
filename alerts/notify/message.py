"""Slack messages (Block Kit) for notices. Pure: everything shown comes in as arguments.

A firing or reminder message names the root-cause edge, whether its destination is outside
the mesh, each firing rule's value against its threshold, the requests in the window, the
top status codes and response flags, sample request ids, since when, the affected callers
and a link to the API's per-request drill-down. An update is a short note (who joined the
open incident) plus the incident's message as it reads now, newcomers marked, for a bot to
edit in place. A resolved message names the edge, the rules and how long it fired, plus the
incident's message marked resolved. Texts respect Block Kit's limits (header 150
characters, section 3,000, 10 fields per section).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from alerts.conditions import CONDITIONS
from alerts.model import Alert, Edge, EdgeDetails
from alerts.notify.plan import Incident, Notice, NoticeKind
from edgewatch.edge import OUTSIDE_THE_MESH
from edgewatch.mesh.config import NO_FACTS, MeshFacts

Block = dict[str, Any]
_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_TITLE = {
    NoticeKind.FIRING: "FIRING",
    NoticeKind.REMINDER: "STILL FIRING",
    NoticeKind.RESOLVED: "RESOLVED",
}
_NEW = ":new: "


@dataclass(frozen=True)
class SlackMessage:
    """What is posted: ``text`` (notification fallback) and ``blocks``.

    ``edit``, when set, is what the incident's first message should read now; a sender that
    knows where that message is (a bot: ``chat.update``) edits it before posting this one,
    others ignore it. ``reply``: post this one as a reply in that message's thread."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    edit: SlackMessage | None = None
    reply: bool = False

    def content(self) -> dict[str, Any]:
        """What Slack gets for this message: ``{"text", "blocks"}``."""
        return {"text": self.text, "blocks": self.blocks}

    def to_json(self) -> str:
        data = self.content()
        if self.edit is not None:
            data["edit"] = self.edit.content()
        if self.reply:
            data["reply"] = True
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, payload: str) -> SlackMessage:
        data = json.loads(payload)
        edit = data.get("edit")
        return cls(
            text=data["text"],
            blocks=data["blocks"],
            edit=cls(text=edit["text"], blocks=edit["blocks"]) if edit else None,
            reply=bool(data.get("reply", False)),
        )


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


def render(notice: Notice, details: EdgeDetails | None, public_url: str, now: datetime,
           facts: MeshFacts = NO_FACTS) -> SlackMessage:
    """The Slack message for ``notice``; ``details`` about the root edge (None for resolved),
    ``facts`` what the mesh's config says about it (its ServiceEntry, timeout, retries).

    A firing or reminder message is posted as it is. An update is the short note saying who
    joined, to post as a reply to the incident's message, with ``edit``: that message as it
    reads now. A resolved message carries ``edit`` too: the incident's message marked resolved.
    """
    if notice.kind is NoticeKind.RESOLVED:
        return replace(_resolved(notice, now), edit=_resolved_incident(notice, now, facts))
    if notice.kind is NoticeKind.UPDATE:
        return replace(_update_note(notice, public_url), edit=_incident(notice, details, public_url, now, facts),
                       reply=True)
    return _incident(notice, details, public_url, now, facts)


def _where(edge: Edge, facts: MeshFacts) -> str:
    """What the destination is: ``an external host (ServiceEntry `x`, MESH_EXTERNAL)`` ..."""
    declared = f"ServiceEntry `{escape(facts.service_entry)}`, {facts.location}" if facts.service_entry else ""
    if edge.external:
        return f"an external host ({declared or 'outside the mesh'})"
    return f"a {edge.destination_kind} in the mesh" + (f" ({declared})" if declared else "")


def _mesh_field(facts: MeshFacts) -> list[str]:
    """The message field of the mesh's config about the edge: timeout and retries (none when unset)."""
    parts = []
    if facts.timeout_ms is not None:
        parts.append(f"timeout {facts.timeout_ms:,} ms")
    if facts.retries is not None and facts.retries.attempts:
        per_try = f" of {facts.retries.per_try_timeout_ms:,} ms" if facts.retries.per_try_timeout_ms else ""
        parts.append(f"{facts.retries.attempts} retries{per_try}")
    if not parts:
        return []
    source = f" (VirtualService `{escape(facts.virtual_service)}`)" if facts.virtual_service else ""
    return [f"*Mesh config*\n{', '.join(parts)}{source}"]


def _title(kind: NoticeKind, incident: Incident, icon: str | None = None) -> str:
    icon = _ICON.get(incident.severity, "") if icon is None else icon
    return f"{icon} {_TITLE[kind]} · {incident.severity} · {incident.edge.label}"


def _resolved_text(incident: Incident, now: datetime) -> tuple[str, str]:
    """The resolved fallback text and its ``Rules: … · fired … · lasted …`` line."""
    lasted = _duration((now - incident.opened_at).total_seconds())
    rules = ", ".join(incident.rules)
    return (
        f"RESOLVED: {incident.edge.label} ({rules}) after {lasted}",
        f"Rules: {escape(rules)} · fired {_when(incident.opened_at)} · lasted {lasted}",
    )


def _resolved(notice: Notice, now: datetime) -> SlackMessage:
    incident = notice.incident
    text, facts = _resolved_text(incident, now)
    body = f"*{escape(incident.edge.label)}* is healthy again.\n{facts}"
    return SlackMessage(text, [_header(_title(NoticeKind.RESOLVED, incident)), _section(body)])


def _resolved_incident(notice: Notice, now: datetime, mesh: MeshFacts) -> SlackMessage:
    """The incident's message once it resolved: what was wrong, for how long, who it hit."""
    incident = notice.incident
    edge = incident.edge
    text, facts = _resolved_text(incident, now)
    blocks = [
        _header(_title(NoticeKind.RESOLVED, incident, icon=":white_check_mark:")),
        _section(f"*Root cause:* `{escape(edge.label)}`, {_where(edge, mesh)}: healthy again since {_when(now)}."
                 f"\n{facts}"),
    ]
    if incident.affected:
        callers = sorted({e.source for e in incident.affected})
        lines = "\n".join(f"• `{escape(e.label)}`" for e in incident.affected)
        blocks.append(_section(f"*Affected callers:* {escape(', '.join(callers))}\n{lines}"))
    blocks.append(_context(escape(notice.id)))
    return SlackMessage(text, blocks)


def _update_note(notice: Notice, public_url: str) -> SlackMessage:
    """``UPDATE: api-gateway joins the open incident staff-service → … (firing since 12:00 UTC)``,
    with the newcomers' values: short, a follow-up rather than a page."""
    incident = notice.incident
    label = incident.edge.label
    callers = sorted({edge.source for edge in notice.joined})
    news, lines = [], []
    if callers:
        news.append(f"{', '.join(callers)} join{'s' if len(callers) == 1 else ''} the open incident {label}")
        lines += _caller_lines([a for a in notice.affected if a.edge in notice.joined])
    if notice.new_rules:
        where = "it" if news else f"the open incident {label}"
        fire = "fires" if len(notice.new_rules) == 1 else "fire"
        news.append(f"{', '.join(notice.new_rules)} now also {fire} on {where}")
        lines += _cause_lines([a for a in notice.alerts if a.rule in notice.new_rules])
    since = incident.opened_at
    text = f"UPDATE: {'; '.join(news)} (firing since {since:%H:%M} UTC)"
    head = f"*UPDATE:* {escape('; '.join(news))} (firing since {_when(since)})"
    footer = f"<{drilldown_url(public_url, incident.edge, notice.alerts)}|Drill down to requests> · {escape(notice.id)}"
    return SlackMessage(_cut(text, 3000), [_section(head + "\n" + "\n".join(lines)), _context(footer)])


def _cause_lines(alerts: Iterable[Alert], new: Collection[str] = ()) -> list[str]:
    return [
        f"• {_NEW if a.rule in new else ''}*{escape(a.rule)}* ({a.severity}): {escape(describe(a))}" for a in alerts
    ]


def _caller_lines(affected: Iterable[Alert], new: Collection[Edge] = ()) -> list[str]:
    by_edge: dict[Edge, list[Alert]] = {}
    for alert in affected:
        by_edge.setdefault(alert.edge, []).append(alert)
    return [
        f"• {_NEW if e in new else ''}`{escape(e.label)}`: "
        + "; ".join(f"{escape(a.rule)} {escape(describe(a))}" for a in found)
        for e, found in by_edge.items()
    ]


def _incident(notice: Notice, details: EdgeDetails | None, public_url: str, now: datetime,
              facts: MeshFacts) -> SlackMessage:
    """The full message: root cause, values, details, affected callers (newcomers marked)."""
    incident = notice.incident
    edge = incident.edge
    shown = NoticeKind.FIRING if notice.kind is NoticeKind.UPDATE else notice.kind
    causes = "\n".join(_cause_lines(notice.alerts, notice.new_rules))
    text = f"{_TITLE[shown]} [{incident.severity}] {edge.label}: " + "; ".join(describe(a) for a in notice.alerts)
    blocks = [
        _header(_title(shown, incident)),
        _section(f"*Root cause:* `{escape(edge.label)}`, {_where(edge, facts)}.\n{causes}"),
    ]
    since = min(a.active_since for a in notice.alerts)
    fields = [
        f"*Severity*\n{incident.severity}",
        f"*Edge*\n{escape(edge.source_namespace or '-')}/{escape(edge.source)} → "
        f"{escape(edge.destination_namespace or '-')}/{escape(edge.destination)}",
        f"*Destination*\n{'external host' if edge.external else edge.destination_kind}",
        f"*Since*\n{_when(since)}",
        *_mesh_field(facts),
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
        joined = {e.source for e in notice.joined}
        sources = sorted({a.edge.source for a in notice.affected})
        callers = [_caller(c) + (" (new)" if c in joined else "") for c in sources]
        lines = "\n".join(_caller_lines(notice.affected, notice.joined))
        blocks.append(_section(f"*Affected callers:* {escape(', '.join(callers))}\n{lines}"))
        text += f" (affected callers: {', '.join(callers)})"
    footer = f"<{drilldown_url(public_url, edge, notice.alerts)}|Drill down to requests> · {escape(notice.id)}"
    if notice.kind is NoticeKind.UPDATE:
        footer += f" · updated {_when(now)}"
    blocks.append(_context(footer))
    return SlackMessage(_cut(text, 3000), blocks)


def _caller(source: str) -> str:
    """A caller as people read it: ``unknown`` is Istio's name for callers outside the mesh."""
    return f"{source} (outside the mesh)" if source == OUTSIDE_THE_MESH else source


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, 150), "emoji": True}}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, 3000)}]}
