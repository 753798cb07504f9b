// The drawing: GET /api/v1/graph's nodes, edges and serves links as cytoscape elements.
// `GraphView.show` adds what is new, removes what is gone and updates the rest in place (data
// and classes only): a refresh never runs a layout, so nodes do not jump.

import { DAGRE_MAX_NODES, lanesLayout, placeNew } from "./layout.js";

export const COLORS = { healthy: "#3f9c35", degraded: "#ec7a08", failing: "#cc0000", idle: "#9a9a9a" };
const SHAPES = { workload: "ellipse", service: "round-triangle", external: "diamond", unknown: "round-rectangle" };
const LARGE_EDGES = 800;
const LABEL_ZOOM = 0.45;
const EXTERNAL_LANE = "~external";  // sorts after every namespace
const OUTSIDE_LANE = " outside";    // sorts first

export function percent(rate) {
  if (rate === null || rate === undefined) return "–";
  const value = rate * 100;
  return `${value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`;
}

export function rps(value) {
  return value >= 10 ? value.toFixed(0) : value >= 0.1 ? value.toFixed(1) : value.toFixed(2);
}

/** The edge's label in `mode` (traffic | latency | timeouts), with its timeout headroom when one is configured. */
export function edgeLabel(edge, mode) {
  let text;
  if (mode === "latency") text = `p95 ${ms(edge.p95_ms)} · p99 ${ms(edge.p99_ms)}`;
  else if (mode === "timeouts") text = `${percent(edge.timeout_rate)} timeouts`;
  else text = `${rps(edge.rps)} rps · ${percent(edge.error_rate)} err`;
  if (edge.timeout_ms) {
    const used = edge.p99_ms === null ? "" : ` (${Math.round((edge.p99_ms / edge.timeout_ms) * 100)}%)`;
    text += `\np99 ${ms(edge.p99_ms)} of ${ms(edge.timeout_ms)} timeout${used}`;
  }
  if (edge.retries && edge.retries.attempts) text += ` · ${edge.retries.attempts} retries`;
  return text;
}

function nodeLabel(node) {
  if (node.kind === "external" && node.service_entry) return `${node.service_entry}\n${node.name}`;
  return node.name;
}

function laneOf(node) {
  if (node.kind === "external") return EXTERNAL_LANE;
  return node.namespace || OUTSIDE_LANE;
}

/** How far above its edge a label goes (px): half its lines' height plus half the line's width. */
function labelShift(label, width) {
  return -Math.round(label.split("\n").length * 6 + width / 2 + 2);
}

function edgeWidth(rate) {
  return Math.min(9, 1.2 + Math.log2(1 + rate) * 1.1);
}

const STYLE = [
  { selector: "node", style: {
    shape: "ellipse", width: 34, height: 34, "background-color": "#fff", "border-width": 3, "border-color": COLORS.idle,
    label: "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4, "text-wrap": "wrap",
    "text-max-width": 180, "min-zoomed-font-size": 7 } },
  ...Object.entries(SHAPES).map(([kind, shape]) => ({ selector: `node[kind = "${kind}"]`, style: { shape } })),
  ...Object.entries(COLORS).map(([health, color]) => ({ selector: `node[health = "${health}"]`, style: { "border-color": color } })),
  // External hosts sit in the last column: their two-line label goes right of them, clear of the edges coming in.
  { selector: "node[kind = 'external']", style: { "border-style": "double", "border-width": 5, "background-color": "#f3f0ff",
    "text-valign": "center", "text-halign": "right", "text-margin-x": 6, "text-margin-y": 0, "text-justification": "left" } },
  { selector: "node[kind = 'unknown']", style: { "background-color": "#eee" } },
  { selector: ":parent", style: {
    shape: "round-rectangle", "background-color": "#f6f8fa", "background-opacity": 0.7, "border-width": 1,
    "border-color": "#9aa5b1", label: "data(label)", "text-valign": "top", "text-halign": "center",
    "text-margin-y": -2, "font-size": 12, "font-weight": "bold", color: "#52606d", padding: 18 } },
  // Past DAGRE_MAX_NODES, namespace boxes are plain nodes sized to their lane, not compound
  // parents: cytoscape's compound bounds doubled the first draw at 1,000 nodes (1.5 s -> 3 s).
  { selector: "node.box", style: {
    shape: "round-rectangle", width: "data(w)", height: "data(h)", "background-color": "#f6f8fa", "background-opacity": 0.7,
    "border-width": 1, "border-color": "#9aa5b1", label: "data(label)", "text-valign": "top", "text-margin-y": -4,
    "font-size": 14, "font-weight": "bold", color: "#52606d", "z-index-compare": "manual", "z-index": 0, events: "no" } },
  { selector: "node[kind != 'namespace']", style: { "z-index-compare": "manual", "z-index": 2 } },
  { selector: "edge", style: {
    "curve-style": "bezier", width: "data(width)", "line-color": COLORS.idle,
    "target-arrow-shape": "triangle", "target-arrow-color": COLORS.idle,
    "arrow-scale": 0.9, label: "data(label)", "font-size": 9, "text-wrap": "wrap", "text-rotation": "autorotate",
    // Beside the line, not over it: a label drawn across the edge hid its colour.
    "text-margin-y": "data(labelShift)", "text-outline-color": "#fff", "text-outline-width": 1.5, "text-outline-opacity": 0.9,
    "min-zoomed-font-size": 8 } },
  ...Object.entries(COLORS).map(([health, color]) => ({ selector: `edge[health = "${health}"]`,
    style: { "line-color": color, "target-arrow-color": color } })),
  // Past LARGE_EDGES edges, straight "haystack" lines without arrows (the layout already reads
  // left to right): drawing 3,000 bezier edges with arrows took over a second in headless Chromium.
  { selector: "edge.large", style: { "curve-style": "haystack", "haystack-radius": 0, "target-arrow-shape": "none", label: "" } },
  // Labels of a large graph only once zoomed in enough to read them (LABEL_ZOOM): measuring
  // 4,000 labels for the overview, where none is legible, cost about half a second.
  { selector: "node.large", style: { label: "" } },
  { selector: ".large.labelled", style: { label: "data(label)" } },
  { selector: "edge.serves", style: {
    width: 1, "line-style": "dashed", "line-color": "#b8bec6", "target-arrow-shape": "none", label: "" } },
  { selector: "edge.alert", style: { "underlay-color": COLORS.failing, "underlay-opacity": 0.25, "underlay-padding": 6 } },
  { selector: "edge.alert.pending", style: { "underlay-color": COLORS.degraded } },
  { selector: "edge.root-cause", style: { "underlay-opacity": 0.4, "underlay-padding": 9, "line-style": "solid",
    "font-weight": "bold", color: COLORS.failing } },
  { selector: "edge.symptom", style: { "line-style": "dashed", "line-dash-pattern": [8, 3] } },
  { selector: ".faded", style: { opacity: 0.12 } },
  { selector: ".hidden", style: { display: "none" } },
  { selector: ".match", style: { "border-color": "#2b6cb0", "border-width": 5 } },
  // Selection as an underlay: an overlay on top tinted the selected edge's health colour away.
  { selector: ":selected", style: { "underlay-color": "#2b6cb0", "underlay-opacity": 0.22, "underlay-padding": 7 } },
];

export class GraphView {
  constructor(container) {
    this.cy = cytoscape({
      container, style: STYLE, minZoom: 0.01, maxZoom: 4, wheelSensitivity: 0.3,
      textureOnViewport: true, hideEdgesOnViewport: true, boxSelectionEnabled: false,
    });
    this.positions = new Map();  // node id -> {x, y}: kept across refreshes and windows
    this.layouts = 0;            // full layouts run (the benchmark checks refreshes add none)
    this.labelMode = "traffic";
    this.boxes = null;  // true: namespace boxes as plain nodes (large graphs), false: compound parents
    let timer = 0;
    this.cy.on("zoom", () => { clearTimeout(timer); timer = setTimeout(() => this.showLabels(), 150); });
  }

  showLabels() {
    const want = this.cy.zoom() >= LABEL_ZOOM;
    const large = this.cy.elements(".large");
    if (large.nonempty() && large.first().hasClass("labelled") !== want) large.toggleClass("labelled", want);
  }

  /** Draw `graph` (GET /api/v1/graph's body): add, remove, update; lay out only the first time. */
  show(graph) {
    const cy = this.cy;
    const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
    const namespaces = new Set(graph.nodes.filter((n) => n.namespace && n.kind !== "external").map((n) => n.namespace));
    const links = [
      ...graph.edges.map((e) => ({ source: e.from, target: e.to })),
      ...graph.serves.map((s) => ({ source: s.from, target: s.to })),
    ];
    cy.startBatch();
    cy.elements().filter((el) => {
      const id = el.id();
      if (el.isNode()) return id.startsWith("ns:") ? !namespaces.has(id.slice(3)) : !nodes.has(id);
      return false;
    }).remove();
    const wantedEdges = new Set([...graph.edges.map((e) => e.id), ...graph.serves.map((s) => s.id)]);
    cy.edges().filter((e) => !wantedEdges.has(e.id())).remove();
    const added = [];
    if (this.boxes === null || this.positions.size === 0) this.boxes = graph.nodes.length > DAGRE_MAX_NODES;
    for (const ns of namespaces) {
      if (cy.getElementById(`ns:${ns}`).nonempty()) continue;
      added.push({ group: "nodes", data: { id: `ns:${ns}`, label: ns, kind: "namespace", w: 1, h: 1 }, classes: this.boxes ? "box" : "" });
    }
    const fresh = [];
    for (const node of graph.nodes) {
      const data = { id: node.id, label: nodeLabel(node), kind: node.kind, health: node.health, name: node.name,
        namespace: node.namespace, service_entry: node.service_entry };
      const el = cy.getElementById(node.id);
      if (el.nonempty()) {
        if (el.data("health") !== data.health || el.data("label") !== data.label) el.data(data);
        continue;
      }
      if (node.namespace && node.kind !== "external" && !this.boxes) data.parent = `ns:${node.namespace}`;
      added.push({ group: "nodes", data, classes: this.boxes ? "large" : "" });
      fresh.push({ id: node.id, lane: laneOf(node) });
    }
    const large = graph.edges.length > LARGE_EDGES ? " large" : "";
    for (const edge of graph.edges) {
      const width = Math.round(edgeWidth(edge.rps) * 2) / 2;
      const label = edgeLabel(edge, this.labelMode);
      const el = cy.getElementById(edge.id);
      if (el.empty()) {
        added.push({ group: "edges", data: { id: edge.id, source: edge.from, target: edge.to, health: edge.health,
          width, label, labelShift: labelShift(label, width), stats: edge }, classes: large });
        continue;
      }
      // Only what changed is set: each change makes cytoscape restyle and redraw the edge.
      const old = el.data();
      old.stats = edge;
      if (old.health !== edge.health || old.width !== width || old.label !== label) el.data({ health: edge.health, width, label, labelShift: labelShift(label, width) });
    }
    for (const link of graph.serves) {
      if (cy.getElementById(link.id).empty()) {
        added.push({ group: "edges", data: { id: link.id, source: link.from, target: link.to }, classes: `serves${large}` });
      }
    }
    const laneById = (id) => (nodes.has(id) ? laneOf(nodes.get(id)) : "");
    const known = new Map([...this.positions].filter(([id]) => nodes.has(id) && !fresh.some((f) => f.id === id)));
    let placeAll = false;
    if (known.size === 0 && fresh.length) {
      placeAll = true;
    } else if (fresh.length) {
      Object.entries(placeNew(fresh, links, known, laneById)).forEach(([id, p]) => this.positions.set(id, p));
    }
    if (placeAll && graph.nodes.length > DAGRE_MAX_NODES) {
      const lanes = [...new Set(fresh.map((f) => f.lane))].sort();
      Object.entries(lanesLayout(fresh, links, lanes)).forEach(([id, p]) => this.positions.set(id, p));
      this.layouts++;
      placeAll = false;
    }
    for (const el of added) {
      if (el.group === "nodes" && this.positions.has(el.data.id)) el.position = { ...this.positions.get(el.data.id) };
    }
    // In id order, nodes first: dagre's result depends on the order it is given, and the API's
    // (busiest first) changes with the traffic; the same mesh then lays out the same way on every load.
    added.sort((a, b) => (a.group !== b.group ? (a.group === "nodes" ? -1 : 1) : a.data.id < b.data.id ? -1 : a.data.id > b.data.id ? 1 : 0));
    if (added.length) cy.add(added);
    if (this.boxes) this.sizeBoxes(graph);
    cy.endBatch();
    if (placeAll) this.dagre();
    return { added: added.length, fresh: fresh.length, first: placeAll || this.layouts === 1 && known.size === 0 };
  }

  /** Each namespace box around its nodes' positions (large graphs only). */
  sizeBoxes(graph) {
    const bounds = new Map();
    for (const node of graph.nodes) {
      const p = this.positions.get(node.id);
      if (!p || !node.namespace || node.kind === "external") continue;
      const b = bounds.get(node.namespace) || { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
      bounds.set(node.namespace, { x1: Math.min(b.x1, p.x), y1: Math.min(b.y1, p.y), x2: Math.max(b.x2, p.x), y2: Math.max(b.y2, p.y) });
    }
    for (const [ns, b] of bounds) {
      const box = this.cy.getElementById(`ns:${ns}`);
      const w = b.x2 - b.x1 + 120, h = b.y2 - b.y1 + 70;
      if (box.data("w") !== w || box.data("h") !== h) box.data({ w, h });
      box.position({ x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 + 8 });
    }
  }

  dagre() {
    this.cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 30, rankSep: 110, fit: false, animate: false }).run();
    this.cy.nodes().filter((n) => !n.isParent()).forEach((n) => this.positions.set(n.id(), { ...n.position() }));
    this.layouts++;
  }

  /** Lay everything out again (the Re-layout button): positions change once, on request. */
  relayout(graph) {
    this.positions.clear();
    this.cy.elements().remove();
    this.layouts = 0;
    this.show(graph);
    this.fit();
  }

  /** Fit the nodes' positions in the view (not cy.fit: its bounding boxes measure every label, seconds at 1,000 nodes). */
  fit() {
    const cy = this.cy;
    if (cy.nodes().empty()) return;
    if (cy.nodes().length <= DAGRE_MAX_NODES) { cy.fit(undefined, 30); return; }
    let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    cy.nodes().not(":parent, .box").forEach((n) => {
      const p = n.position();
      x1 = Math.min(x1, p.x); y1 = Math.min(y1, p.y); x2 = Math.max(x2, p.x); y2 = Math.max(y2, p.y);
    });
    const pad = 60;
    const zoom = Math.max(cy.minZoom(), Math.min(cy.width() / (x2 - x1 + 2 * pad), cy.height() / (y2 - y1 + 2 * pad), 2));
    cy.viewport({ zoom, pan: { x: (cy.width() - (x1 + x2) * zoom) / 2, y: (cy.height() - (y1 + y2) * zoom) / 2 } });
  }

  setLabelMode(mode) {
    this.labelMode = mode;
    this.cy.batch(() => this.cy.edges().not(".serves").forEach((e) => {
      const label = edgeLabel(e.data("stats"), mode);
      e.data({ label, labelShift: labelShift(label, e.data("width")) });
    }));
  }

  /** Mark the edges of `alerts` (GET /api/v1/alerts): root causes apart from the callers they take down. */
  markAlerts(alerts) {
    const cy = this.cy;
    cy.batch(() => {
      cy.edges(".alert").removeClass("alert pending root-cause symptom");
      if (!alerts.length) return;
      const byNames = new Map();
      cy.edges().not(".serves").forEach((e) => {
        const s = e.data("stats");
        byNames.set(`${s.source_namespace}/${s.source}->${s.destination_namespace}/${s.destination}`, e);
      });
      for (const alert of alerts) {
        const edge = byNames.get(`${alert.source_namespace}/${alert.source}->${alert.destination_namespace}/${alert.destination}`);
        if (!edge) continue;
        edge.addClass("alert");
        if (alert.status !== "firing") edge.addClass("pending");
        if (alert.root_causes.length) edge.addClass("symptom");
        else if (alert.affected.length) edge.addClass("root-cause");
      }
    });
  }

  /** Fade what does not match the name search; hide what is outside the namespace (and not its neighbour). */
  filter(namespace, search) {
    const cy = this.cy;
    const needle = search.trim().toLowerCase();
    if (!needle && !namespace && !this.filtered) return;  // nothing to undo: touch no element
    this.filtered = Boolean(needle || namespace);
    cy.batch(() => {
      cy.elements(".faded, .hidden, .match").removeClass("faded hidden match");
      if (namespace) {
        const inside = cy.nodes().filter((n) => n.data("namespace") === namespace || n.id() === `ns:${namespace}`);
        const keep = inside.union(inside.neighborhood()).union(inside.parent());
        cy.elements().not(keep).addClass("hidden");
      }
      if (needle) {
        const hits = cy.nodes().filter((n) => !n.isParent() && !n.hasClass("box") && `${n.data("name")} ${n.data("service_entry") || ""}`.toLowerCase().includes(needle));
        hits.addClass("match");
        cy.elements().not(hits.union(hits.connectedEdges()).union(hits.parent())).addClass("faded");
      }
    });
  }

  /** The drawing as SVG text (nodes, edges, labels, namespace boxes), for the SVG export. */
  svg() {
    const cy = this.cy;
    const bb = cy.elements().boundingBox();
    const esc = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="${bb.x1 - 20} ${bb.y1 - 20} ${bb.w + 40} ${bb.h + 40}" font-family="sans-serif">`,
      `<rect x="${bb.x1 - 20}" y="${bb.y1 - 20}" width="${bb.w + 40}" height="${bb.h + 40}" fill="#fff"/>`];
    cy.nodes(":parent, .box").forEach((p) => {
      const b = p.boundingBox({ includeLabels: false });
      parts.push(`<rect x="${b.x1}" y="${b.y1}" width="${b.w}" height="${b.h}" rx="6" fill="#f6f8fa" stroke="#9aa5b1"/><text x="${b.x1 + b.w / 2}" y="${b.y1 - 4}" text-anchor="middle" font-size="12" font-weight="bold" fill="#52606d">${esc(p.data("label"))}</text>`);
    });
    cy.edges().forEach((e) => {
      const s = e.sourceEndpoint(), t = e.targetEndpoint();
      const color = e.hasClass("serves") ? "#b8bec6" : COLORS[e.data("health")] || COLORS.idle;
      const dash = e.hasClass("serves") ? ' stroke-dasharray="4 3"' : "";
      parts.push(`<line x1="${s.x}" y1="${s.y}" x2="${t.x}" y2="${t.y}" stroke="${color}" stroke-width="${e.hasClass("serves") ? 1 : e.data("width")}"${dash}/>`);
      if (!e.hasClass("serves")) {
        parts.push(`<text x="${(s.x + t.x) / 2}" y="${(s.y + t.y) / 2 - 3}" text-anchor="middle" font-size="9">${esc(e.data("label").split("\n")[0])}</text>`);
      }
    });
    cy.nodes().not(":parent, .box").forEach((n) => {
      const p = n.position();
      const color = COLORS[n.data("health")] || COLORS.idle;
      parts.push(`<circle cx="${p.x}" cy="${p.y}" r="16" fill="#fff" stroke="${color}" stroke-width="3"/>`);
      n.data("label").split("\n").forEach((line, i) => parts.push(`<text x="${p.x}" y="${p.y + 30 + i * 12}" text-anchor="middle" font-size="11">${esc(line)}</text>`));
    });
    parts.push("</svg>");
    return parts.join("\n");
  }
}
