// The drawing: GET /api/v1/graph's nodes, edges and serves links as cytoscape elements.
// `GraphView.show` adds what is new, removes what is gone and updates the rest in place (data
// and classes only): a refresh never runs a layout, so nodes do not jump.

import { DAGRE_MAX_NODES, lanesLayout, placeNew } from "./layout.js";

export const COLORS = { healthy: "#3f9c35", degraded: "#ec7a08", failing: "#cc0000", idle: "#9a9a9a" };
const SHAPES = { workload: "ellipse", service: "round-triangle", external: "diamond", unknown: "round-rectangle" };
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

function edgeWidth(rate) {
  return Math.min(9, 1.2 + Math.log2(1 + rate) * 1.1);
}

const STYLE = [
  { selector: "node", style: {
    shape: (n) => SHAPES[n.data("kind")] || "ellipse", width: 34, height: 34, "background-color": "#fff",
    "border-width": 3, "border-color": (n) => COLORS[n.data("health")] || COLORS.idle,
    label: "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4, "text-wrap": "wrap",
    "text-max-width": 180, "min-zoomed-font-size": 7 } },
  { selector: "node[kind = 'external']", style: { "border-style": "double", "border-width": 5, "background-color": "#f3f0ff" } },
  { selector: "node[kind = 'unknown']", style: { "background-color": "#eee" } },
  { selector: ":parent", style: {
    shape: "round-rectangle", "background-color": "#f6f8fa", "background-opacity": 0.7, "border-width": 1,
    "border-color": "#9aa5b1", label: "data(label)", "text-valign": "top", "text-halign": "center",
    "text-margin-y": -2, "font-size": 12, "font-weight": "bold", color: "#52606d", padding: 18 } },
  { selector: "edge", style: {
    "curve-style": "bezier", width: "data(width)", "line-color": (e) => COLORS[e.data("health")] || COLORS.idle,
    "target-arrow-shape": "triangle", "target-arrow-color": (e) => COLORS[e.data("health")] || COLORS.idle,
    "arrow-scale": 0.9, label: "data(label)", "font-size": 9, "text-wrap": "wrap", "text-rotation": "autorotate",
    "text-background-color": "#fff", "text-background-opacity": 0.55, "text-background-padding": 1,
    "min-zoomed-font-size": 8 } },
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
  { selector: ":selected", style: { "overlay-color": "#2b6cb0", "overlay-opacity": 0.18, "overlay-padding": 8 } },
];

export class GraphView {
  constructor(container) {
    this.cy = cytoscape({
      container, style: STYLE, minZoom: 0.03, maxZoom: 4, wheelSensitivity: 0.3,
      textureOnViewport: true, hideEdgesOnViewport: true, boxSelectionEnabled: false,
    });
    this.positions = new Map();  // node id -> {x, y}: kept across refreshes and windows
    this.layouts = 0;            // full layouts run (the benchmark checks refreshes add none)
    this.labelMode = "traffic";
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
    for (const ns of namespaces) {
      if (cy.getElementById(`ns:${ns}`).empty()) added.push({ group: "nodes", data: { id: `ns:${ns}`, label: ns, kind: "namespace" } });
    }
    const fresh = [];
    for (const node of graph.nodes) {
      const data = { id: node.id, label: nodeLabel(node), kind: node.kind, health: node.health, name: node.name,
        namespace: node.namespace, service_entry: node.service_entry };
      const el = cy.getElementById(node.id);
      if (el.nonempty()) { el.data(data); continue; }
      if (node.namespace && node.kind !== "external") data.parent = `ns:${node.namespace}`;
      added.push({ group: "nodes", data });
      fresh.push({ id: node.id, lane: laneOf(node) });
    }
    for (const edge of graph.edges) {
      const data = { id: edge.id, source: edge.from, target: edge.to, health: edge.health,
        width: edgeWidth(edge.rps), label: edgeLabel(edge, this.labelMode), stats: edge };
      const el = cy.getElementById(edge.id);
      if (el.nonempty()) el.data(data);
      else added.push({ group: "edges", data });
    }
    for (const link of graph.serves) {
      if (cy.getElementById(link.id).empty()) {
        added.push({ group: "edges", data: { id: link.id, source: link.from, target: link.to }, classes: "serves" });
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
    if (added.length) cy.add(added);
    cy.endBatch();
    if (placeAll) this.dagre();
    return { added: added.length, fresh: fresh.length, first: placeAll || this.layouts === 1 && known.size === 0 };
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

  fit() {
    this.cy.fit(undefined, 30);
  }

  setLabelMode(mode) {
    this.labelMode = mode;
    this.cy.batch(() => this.cy.edges().not(".serves").forEach((e) => e.data("label", edgeLabel(e.data("stats"), mode))));
  }

  /** Mark the edges of `alerts` (GET /api/v1/alerts): root causes apart from the callers they take down. */
  markAlerts(alerts) {
    const cy = this.cy;
    cy.batch(() => {
      cy.edges().removeClass("alert pending root-cause symptom");
      for (const alert of alerts) {
        const edge = cy.edges().filter((e) => {
          const s = e.data("stats");
          return s && s.source === alert.source && s.destination === alert.destination
            && s.source_namespace === alert.source_namespace && s.destination_namespace === alert.destination_namespace;
        });
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
    cy.batch(() => {
      cy.elements().removeClass("faded hidden match");
      if (namespace) {
        const inside = cy.nodes().filter((n) => n.data("namespace") === namespace || n.id() === `ns:${namespace}`);
        const keep = inside.union(inside.neighborhood()).union(inside.parent());
        cy.elements().not(keep).addClass("hidden");
      }
      if (needle) {
        const hits = cy.nodes().filter((n) => !n.isParent() && `${n.data("name")} ${n.data("service_entry") || ""}`.toLowerCase().includes(needle));
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
    cy.nodes(":parent").forEach((p) => {
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
    cy.nodes().not(":parent").forEach((n) => {
      const p = n.position();
      const color = COLORS[n.data("health")] || COLORS.idle;
      parts.push(`<circle cx="${p.x}" cy="${p.y}" r="16" fill="#fff" stroke="${color}" stroke-width="3"/>`);
      n.data("label").split("\n").forEach((line, i) => parts.push(`<text x="${p.x}" y="${p.y + 30 + i * 12}" text-anchor="middle" font-size="11">${esc(line)}</text>`));
    });
    parts.push("</svg>");
    return parts.join("\n");
  }
}
