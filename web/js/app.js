// The page: refreshes the graph every 5 s (pausable), replays past windows, holds the token,
// says what is wrong instead of showing a blank page, and keeps its view in the URL.

import { ApiError, call, tokens } from "./api.js";
import { TrafficAnimation } from "./animate.js";
import { GraphView } from "./graph.js";
import { Panel } from "./panel.js";
import { readState, writeState } from "./state.js";

const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

const state = readState();
const view = new GraphView($("cy"));
const panel = new Panel($("panel"), $("panel-body"), (kind, id) => select(kind, id));
const traffic = new TrafficAnimation($("traffic"), view.cy);
// What tests and the benchmark read: timings in ms since navigation, refresh count, layouts run.
const page = window.edgewatch = { view, state, graph: null, alerts: [], refreshes: 0, timings: { refreshMs: [] }, error: null };
page.refresh = () => refresh();  // the benchmark times refreshes one by one
let inFlight = false;
let lastGood = null;

function banner(kind, text) {
  const el = $("banner");
  el.hidden = !kind;
  el.className = kind || "";
  el.textContent = text || "";
}

function localTime(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function showStatus(graph) {
  const live = !state.end;
  const label = $("live-state");
  label.textContent = live ? (state.paused ? "paused" : "live") : "not live";
  label.className = `live${live ? (state.paused ? " paused" : "") : " replaying"}`;
  $("graph-wrap").classList.remove("stale");
  if (!graph.nodes.length) {
    banner("empty", `No traffic in the ${state.window} window ending ${localTime(graph.end)}: nothing to draw.`
      + (live ? " The page keeps looking every 5 s." : " Pick another time, or press Live."));
  } else if (!live) {
    banner("replay", `Not live: replaying the ${state.window} window ending ${localTime(graph.end)}. Press Live to follow the mesh again.`);
  } else {
    banner(null);
  }
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function showError(error) {
  page.error = error.kind || "server";
  if (error.kind === "unauthorized") {
    const refused = Boolean(tokens.api);
    const reason = refused ? "The API refused this token (wrong token). Enter the right one."
      : "This Edgewatch needs its API token (EDGEWATCH_API_TOKEN) to show the graph.";
    banner("auth", reason);
    $("token-reason").textContent = reason;
    $("token-form").hidden = false;
    $("token").focus();
    return;
  }
  if (error.kind === "unreachable") {
    $("graph-wrap").classList.add("stale");
    banner("error", `${error.message} Retrying every 5 s.` + (lastGood ? ` The graph is the answer of ${lastGood.toLocaleTimeString()}.` : ""));
    return;
  }
  banner("error", error.message);
}

function updateNamespaces(graph) {
  const select = $("namespace");
  const names = [...new Set(graph.nodes.map((n) => n.namespace).filter(Boolean))].sort();
  const have = [...select.options].slice(1).map((o) => o.value);
  if (names.join() === have.join()) return;
  select.length = 1;
  for (const name of names) select.add(new Option(name, name));
  select.value = names.includes(state.ns) ? state.ns : "";
}

async function refresh() {
  if (inFlight) return;
  inFlight = true;
  const began = performance.now();
  try {
    const params = { window: state.window, end: state.end || undefined };
    const [graph, alerts] = await Promise.all([
      call("/api/v1/graph", params),
      state.end ? Promise.resolve({ alerts: [] }) : call("/api/v1/alerts").catch((error) => {
        if (error instanceof ApiError && error.kind === "unauthorized") throw error;
        return { alerts: [] };  // alerts are extra: the graph stands without them
      }),
    ]);
    const fetched = performance.now();
    page.error = null;
    $("token-form").hidden = true;
    const first = page.graph === null;
    page.graph = graph;
    page.alerts = alerts.alerts;
    view.show(graph);
    const shown = performance.now();
    view.markAlerts(page.alerts);
    updateNamespaces(graph);
    view.filter(state.ns, state.q);
    if (first || page.fitPending) { view.fit(); page.fitPending = false; }
    const drawn = performance.now();
    showStatus(graph);
    lastGood = new Date();
    if (first) restoreSelection();
    await painted();
    const done = performance.now();
    page.timings.last = { fetch: fetched - began, show: shown - fetched, rest: drawn - shown, paint: done - drawn };
    if (first) { page.timings.firstDraw = done; page.timings.firstRefreshMs = done - began; page.timings.first = page.timings.last; }
    else page.timings.refreshMs.push(done - began);
    page.refreshes++;
  } catch (error) {
    showError(error instanceof ApiError ? error : new ApiError("server", String(error)));
  } finally {
    inFlight = false;
  }
}

function painted() {
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}

function edgeByNames(source, destination) {
  return view.cy.edges().filter((e) => {
    const s = e.data("stats");
    return s && s.source === source && s.destination === destination;
  }).first();
}

function restoreSelection() {
  if (state.edge) select("edge", state.edge);
  else if (state.source && state.destination) {
    const edge = edgeByNames(state.source, state.destination);
    if (edge.nonempty()) select("edge", edge.id());
  } else if (state.node) select("node", state.node);
}

function select(kind, id) {
  const el = view.cy.getElementById(id);
  view.cy.elements().unselect();
  if (el.empty() || !page.graph) return;
  el.select();
  state.edge = kind === "edge" ? id : "";
  state.node = kind === "node" ? id : "";
  state.source = state.destination = "";
  writeState(state);
  if (kind === "edge") {
    panel.showEdge(el.data("stats"), state, page.alerts);
  } else {
    // A workload is called through the Services that serve it: their edges are its inbound ones.
    const node = page.graph.nodes.find((n) => n.id === id);
    const via = new Set([id, ...page.graph.serves.filter((s) => s.to === id).map((s) => s.from)]);
    panel.showNode(node, page.graph.edges.filter((e) => via.has(e.to)), page.graph.edges.filter((e) => e.from === id));
  }
  view.cy.animate({ center: { eles: el }, duration: 200 });
}

function download(name, blob) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function setEnd(iso) {
  state.end = iso;
  $("end").value = iso ? toLocalInput(new Date(iso)) : "";
  if (!iso) $("scrubber").value = 0;
  writeState(state);
  refresh();
}

function toLocalInput(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

function wire() {
  $("window").value = state.window;
  $("labels").value = state.labels;
  $("search").value = state.q;
  $("animate").checked = state.animate;
  view.labelMode = state.labels;
  if (state.end) {
    $("end").value = toLocalInput(new Date(state.end));
    $("scrubber").value = Math.max(-1440, Math.round((new Date(state.end) - Date.now()) / 60000));
  }
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  $("window").addEventListener("change", (e) => { state.window = e.target.value; writeState(state); refresh(); });
  $("labels").addEventListener("change", (e) => { state.labels = e.target.value; writeState(state); view.setLabelMode(state.labels); });
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").textContent = state.paused ? "Resume" : "Pause";
    writeState(state);
    if (page.graph) showStatus(page.graph);
  });
  $("end").addEventListener("change", (e) => setEnd(e.target.value ? new Date(e.target.value).toISOString() : ""));
  $("scrubber").addEventListener("change", (e) => {
    const back = Number(e.target.value);
    if (!back) { setEnd(""); return; }
    const end = new Date(Date.now() + back * 60000);
    end.setSeconds(0, 0);
    setEnd(end.toISOString());
  });
  $("live").addEventListener("click", () => setEnd(""));
  $("search").addEventListener("input", (e) => { state.q = e.target.value; writeState(state); view.filter(state.ns, state.q); });
  $("namespace").addEventListener("change", (e) => { state.ns = e.target.value; writeState(state); view.filter(state.ns, state.q); });
  $("animate").addEventListener("change", (e) => {
    state.animate = e.target.checked;
    writeState(state);
    state.animate ? traffic.start() : traffic.stop();
  });
  if (state.animate) traffic.start();
  $("relayout").addEventListener("click", () => { if (page.graph) { view.relayout(page.graph); view.markAlerts(page.alerts); view.filter(state.ns, state.q); } });
  $("export-png").addEventListener("click", () => download("edgewatch-graph.png", view.cy.png({ full: true, scale: 2, bg: "#ffffff", output: "blob" })));
  $("export-svg").addEventListener("click", () => download("edgewatch-graph.svg", new Blob([view.svg()], { type: "image/svg+xml" })));
  $("export-json").addEventListener("click", () => download("edgewatch-graph.json", new Blob([JSON.stringify(page.graph, null, 2)], { type: "application/json" })));
  $("panel-close").addEventListener("click", () => { panel.close(); view.cy.elements().unselect(); state.edge = state.node = ""; writeState(state); });
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    tokens.api = $("token").value.trim();
    $("token").value = "";
    refresh();
  });
  view.cy.on("tap", "edge", (e) => { if (!e.target.hasClass("serves")) select("edge", e.target.id()); });
  view.cy.on("tap", "node", (e) => { if (!e.target.isParent() && !e.target.hasClass("box")) select("node", e.target.id()); });
  view.cy.on("tap", (e) => { if (e.target === view.cy) { panel.close(); view.cy.elements().unselect(); state.edge = state.node = ""; writeState(state); } });
  setInterval(() => { if ((!state.paused && !state.end) || page.error === "unreachable") refresh(); }, REFRESH_MS);
}

wire();
refresh();
