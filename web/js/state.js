// What the page shows, held in its URL so that a link (from Slack, say) opens the same view:
// window, end (a replayed window; absent = live), the selected edge or node, the namespace and
// name filters, the label mode, paused. `source`/`destination` select an edge by its names.

export const WINDOWS = ["1m", "5m", "15m", "1h", "6h", "24h"];
const KEYS = ["window", "end", "edge", "node", "ns", "q", "labels", "paused", "source", "destination", "animate"];

export function readState() {
  const query = new URLSearchParams(location.search);
  const state = Object.fromEntries(KEYS.map((key) => [key, query.get(key) || ""]));
  if (!WINDOWS.includes(state.window)) state.window = "5m";
  if (!["traffic", "latency", "timeouts"].includes(state.labels)) state.labels = "traffic";
  state.paused = state.paused === "1";
  state.animate = state.animate === "1";
  return state;
}

export function writeState(state) {
  const query = new URLSearchParams();
  for (const key of KEYS) {
    const value = state[key];
    if (value === true) query.set(key, "1");
    else if (value && value !== "5m" && value !== "traffic") query.set(key, value);
    else if (key === "window" && value) query.set(key, value);
  }
  const url = `${location.pathname}?${query}`;
  if (url !== `${location.pathname}${location.search}`) history.replaceState(null, "", url);
}

/** Steps of the panel's charts: about 30 to 100 points per window. */
export const CHART_STEP = { "1m": "2s", "5m": "10s", "15m": "30s", "1h": "1m", "6h": "5m", "24h": "15m" };
