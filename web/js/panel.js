// The side panel: an edge's charts, breakdowns, failing requests and alerts; a node's edges.

import { ApiError, call, tokens } from "./api.js";
import { lineChart } from "./charts.js";
import { ms, percent, rps } from "./graph.js";
import { CHART_STEP } from "./state.js";

const esc = (t) => String(t ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function facts(pairs) {
  return `<dl class="facts">${pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

function breakdown(title, counts) {
  const rows = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((sum, [, n]) => sum + n, 0) || 1;
  return `<h3>${title}</h3><table class="breakdown">${rows.map(([k, n]) =>
    `<tr><td><code>${esc(k)}</code></td><td>${n}</td><td><span class="bar" style="width:${Math.max(2, (n / total) * 120)}px"></span> ${percent(n / total)}</td></tr>`).join("")}</table>`;
}

function alertBox(alert) {
  const refs = (list) => list.map((a) => `<li>${esc(a.source)} → ${esc(a.destination)} <span class="muted">(${esc(a.rule)})</span></li>`).join("");
  const role = alert.root_causes.length ? "symptom of" : alert.affected.length ? "root cause" : "";
  return `<div class="alert ${esc(alert.status)}" data-alert="${esc(alert.id)}"><strong>${esc(alert.status.toUpperCase())}</strong>
${esc(alert.rule)} <span class="muted">${esc(alert.severity)}</span> ${role === "root cause" ? "<strong>· root cause</strong>" : ""}
<div>value ${esc(+alert.value.toFixed(4))} (threshold ${esc(alert.threshold)}) since ${esc(new Date(alert.active_since).toLocaleTimeString())}${alert.silenced ? " · silenced" : ""}</div>
${alert.root_causes.length ? `<div>Caused by:</div><ul>${refs(alert.root_causes)}</ul>` : ""}
${alert.affected.length ? `<div>Affected callers:</div><ul>${refs(alert.affected)}</ul>` : ""}
<button type="button" class="silence-open">Silence…</button></div>`;
}

export class Panel {
  constructor(root, body, onSelect) {
    this.root = root;
    this.body = body;
    this.onSelect = onSelect;  // (kind, id) when a listed edge is clicked
    this.token = 0;
  }

  close() { this.root.hidden = true; this.token++; }

  /** An edge: its numbers now, then its charts and failing requests as they arrive. */
  async showEdge(edge, view, alerts) {
    const ticket = ++this.token;
    this.root.hidden = false;
    const mine = alerts.filter((a) => a.source === edge.source && a.destination === edge.destination
      && a.source_namespace === edge.source_namespace && a.destination_namespace === edge.destination_namespace);
    this.body.innerHTML = `<h2 data-edge="${esc(edge.id)}">${esc(edge.source)} → ${esc(edge.destination)}</h2>
<span class="health ${edge.health}">${edge.health}</span>
${facts([["requests", edge.requests], ["rate", `${rps(edge.rps)} rps`], ["errors", `${edge.errors} (${percent(edge.error_rate)})`],
  ["timeouts", `${edge.timeouts} (${percent(edge.timeout_rate)})`],
  ["latency", `p50 ${ms(edge.p50_ms)} · p95 ${ms(edge.p95_ms)} · p99 ${ms(edge.p99_ms)}`],
  ["ServiceEntry", edge.service_entry ? `${esc(edge.service_entry)} (${esc(edge.location || "")})` : null],
  ["timeout", edge.timeout_ms ? `${ms(edge.timeout_ms)}${edge.p99_ms !== null ? ` · p99 at ${Math.round((edge.p99_ms / edge.timeout_ms) * 100)}%` : ""}` : null],
  ["retries", edge.retries ? `${edge.retries.attempts}${edge.retries.per_try_timeout_ms ? ` × ${ms(edge.retries.per_try_timeout_ms)}` : ""}${edge.retries.retry_on ? ` on ${esc(edge.retries.retry_on)}` : ""}` : null]])}
<div id="panel-alerts">${mine.map(alertBox).join("")}</div>
<h3>Over the window</h3><div class="charts" id="panel-charts"><span class="muted">loading…</span></div>
${breakdown("Status codes", edge.status_codes)}${breakdown("Response flags", edge.response_flags)}
<h3>Latest failing requests</h3><div id="panel-calls"><span class="muted">loading…</span></div>`;
    this.body.querySelectorAll(".silence-open").forEach((button, i) => button.addEventListener("click", () => this.silenceForm(button, mine[i])));
    const filters = { source: edge.source, destination: edge.destination, window: view.window, end: view.end };
    const [series, calls] = await Promise.allSettled([
      call("/api/v1/edges/timeseries", { ...filters, step: CHART_STEP[view.window] }),
      call("/api/v1/requests", { ...filters, status: "error", limit: 20 }),
    ]);
    if (ticket !== this.token) return;
    this.body.querySelector("#panel-charts").innerHTML = series.status === "fulfilled" ? this.charts(series.value.points, edge)
      : `<span class="muted">${esc(series.reason.message)}</span>`;
    this.body.querySelector("#panel-calls").innerHTML = calls.status === "fulfilled" ? this.calls(calls.value.requests)
      : `<span class="muted">${esc(calls.reason.message)}</span>`;
    this.body.querySelectorAll("button.copy").forEach((b) => b.addEventListener("click", () => {
      navigator.clipboard?.writeText(b.dataset.copy).catch(() => {});
      b.textContent = "copied";
    }));
  }

  /** The four charts over the window; each headline is the edge's value over the whole window
   * (a last point would mostly show the current, still filling, step). */
  charts(points, edge) {
    const v = (key) => points.map((p) => p[key]);
    return [
      lineChart("requests/s", points, [{ color: "#2b6cb0", values: v("rps") }], `${rps(edge.rps)} rps`),
      lineChart("errors", points, [{ color: "#cc0000", values: v("error_rate") }], percent(edge.error_rate)),
      lineChart("timeouts", points, [{ color: "#ec7a08", values: v("timeout_rate") }], percent(edge.timeout_rate)),
      lineChart("p50 / p95 / p99", points, [
        { name: "p50", color: "#6ea8de", values: v("p50_ms") }, { name: "p95", color: "#2b6cb0", values: v("p95_ms") },
        { name: "p99", color: "#1a365d", values: v("p99_ms") }], `p99 ${ms(edge.p99_ms)}`),
    ].join("");
  }

  calls(requests) {
    if (!requests.length) return `<span class="muted">No failing request in the window.</span>`;
    // The request id shortened to its first 8 characters (all of it in the tooltip and the copy).
    const time = (t) => new Date(t).toLocaleTimeString([], { hourCycle: "h23" });
    return `<table class="calls"><tr><th>time</th><th>path</th><th>code</th><th>flags</th><th>duration</th><th>request id</th></tr>${requests.map((r) =>
      `<tr><td>${esc(time(r.time))}</td><td class="path">${esc(r.method)} ${esc(r.path)}</td><td>${esc(r.response_code)}</td>
<td>${esc(r.response_flags)}</td><td>${ms(r.duration_ms)}</td><td class="id"><code title="${esc(r.request_id)}">${esc(String(r.request_id).slice(0, 8))}</code><button type="button" class="copy" data-copy="${esc(r.request_id)}" title="Copy the request id">copy</button></td></tr>`).join("")}</table>`;
  }

  silenceForm(button, alert) {
    const form = document.createElement("form");
    form.className = "silence";
    form.innerHTML = `<label>For <select name="hours"><option value="1">1 hour</option><option value="4">4 hours</option><option value="24">24 hours</option></select></label>
<label>Comment <input name="comment" required value="Seen on the graph page"></label>
<label>Admin token <input name="admin" type="password" value="${esc(tokens.admin)}" placeholder="EDGEWATCH_ADMIN_TOKEN, when set"></label>
<button type="submit">Silence ${esc(alert.rule)} on this edge</button><span class="result muted"></span>`;
    button.replaceWith(form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      tokens.admin = data.get("admin");
      const ends = new Date(Date.now() + Number(data.get("hours")) * 3600e3).toISOString();
      const result = form.querySelector(".result");
      try {
        await call("/api/v1/silences", {}, { method: "POST", token: tokens.admin || tokens.api, body: {
          rule: alert.rule, source: alert.source, destination: alert.destination, ends_at: ends,
          comment: data.get("comment"), created_by: "graph page" } });
        result.textContent = `silenced until ${new Date(ends).toLocaleTimeString()}`;
      } catch (error) {
        result.textContent = error instanceof ApiError && (error.kind === "unauthorized" || error.kind === "forbidden")
          ? "refused: silences need the admin token" : error.message;
      }
    });
  }

  /** A node: its inbound edges (a workload's: those to the Services serving it) and outbound ones, each clickable. */
  showNode(node, edgesIn, edgesOut) {
    this.token++;
    this.root.hidden = false;
    const list = (edges) => edges.length ? `<ul class="edge-list">${edges.map((e) =>
      `<li data-edge="${esc(e.id)}"><span class="health ${e.health}">${e.health}</span> ${esc(e.source)} → ${esc(e.destination)} · ${rps(e.rps)} rps · ${percent(e.error_rate)} err · p99 ${ms(e.p99_ms)}</li>`).join("")}</ul>`
      : `<span class="muted">none in the window</span>`;
    this.body.innerHTML = `<h2 data-node="${esc(node.id)}">${esc(node.service_entry || node.name)}</h2>
<span class="health ${node.health}">${node.health}</span>
${facts([["kind", node.kind], ["namespace", esc(node.namespace)], ["host", node.service_entry ? esc(node.name) : null],
  ["location", esc(node.location)], ["requests in", edgesIn.reduce((sum, e) => sum + e.requests, 0)], ["requests out", node.requests_out]])}
<h3>Inbound</h3>${list(edgesIn)}<h3>Outbound</h3>${list(edgesOut)}`;
    this.body.querySelectorAll("li[data-edge]").forEach((li) => li.addEventListener("click", () => this.onSelect("edge", li.dataset.edge)));
  }
}
