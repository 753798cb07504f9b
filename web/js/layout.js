// Positions of the graph's nodes, left to right, and keeping them between refreshes.
//
// Small graphs use dagre (cytoscape-dagre, with the namespaces as compound boxes). Past
// DAGRE_MAX_NODES dagre takes seconds to minutes in a browser (measured: 1.5 s at 200 nodes
// and 600 edges; no answer in 120 s at 1,000 and 3,000), so larger graphs use `lanesLayout`:
// a layered layout in lanes, milliseconds at 1,000 nodes. Each namespace gets a horizontal
// lane (its box), so boxes never overlap; a node's column is its longest call path from the
// graph's entry points; within a lane and column, nodes are ordered by a few barycenter sweeps
// to cut crossings. Refreshes never lay out again: `placeNew` puts only the nodes that
// appeared next to a neighbour, and every other node keeps its position.

export const DAGRE_MAX_NODES = 150;
export const RANK_SEP = 230;
export const NODE_SEP = 64;
const LANE_GAP = 70;

/** Columns (0, 1, ...) of `nodes` ({id}) along `links` ({source, target}): longest path, cycles broken. */
export function ranks(nodes, links) {
  const out = new Map(nodes.map((n) => [n.id, []]));
  for (const l of links) if (out.has(l.source) && out.has(l.target) && l.source !== l.target) out.get(l.source).push(l.target);
  // Depth-first: a link back to a node on the current path closes a cycle and is ignored.
  const state = new Map();
  const order = [];
  const kept = new Map(nodes.map((n) => [n.id, []]));
  for (const start of out.keys()) {
    if (state.has(start)) continue;
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])[top[1]++];
      if (next === undefined) { state.set(top[0], 2); order.push(top[0]); stack.pop(); continue; }
      if (state.get(next) === 1) continue;
      kept.get(top[0]).push(next);
      if (!state.has(next)) { state.set(next, 1); stack.push([next, 0]); }
    }
  }
  const rank = new Map(nodes.map((n) => [n.id, 0]));
  for (let i = order.length - 1; i >= 0; i--) {  // reverse post-order is a topological order
    const id = order[i];
    for (const next of kept.get(id)) rank.set(next, Math.max(rank.get(next), rank.get(id) + 1));
  }
  return rank;
}

/** Positions {id: {x, y}} for `nodes` ({id, lane}) in lanes; `lanes` lists lane names top to bottom. */
export function lanesLayout(nodes, links, lanes) {
  const rank = ranks(nodes, links);
  const cells = new Map();  // lane -> column -> [ids]
  for (const n of [...nodes].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (!cells.has(n.lane)) cells.set(n.lane, new Map());
    const columns = cells.get(n.lane);
    const r = rank.get(n.id);
    if (!columns.has(r)) columns.set(r, []);
    columns.get(r).push(n.id);
  }
  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const l of links) {
    if (neighbours.has(l.source) && neighbours.has(l.target)) {
      neighbours.get(l.source).push(l.target);
      neighbours.get(l.target).push(l.source);
    }
  }
  const laneTop = new Map();
  const y = new Map();
  let top = 0;
  for (const lane of lanes) {
    const columns = cells.get(lane);
    if (!columns) continue;
    laneTop.set(lane, top);
    const height = Math.max(...[...columns.values()].map((c) => c.length)) * NODE_SEP;
    for (const column of columns.values()) {
      const offset = (height - column.length * NODE_SEP) / 2;  // centred in its lane
      column.forEach((id, i) => y.set(id, top + offset + i * NODE_SEP));
    }
    top += height + LANE_GAP;
  }
  // Barycenter sweeps: order each cell by its neighbours' mean height, then re-space it.
  for (let sweep = 0; sweep < 4; sweep++) {
    for (const [lane, columns] of cells) {
      for (const column of columns.values()) {
        const wanted = new Map(column.map((id) => {
          const ys = neighbours.get(id).map((other) => y.get(other));
          return [id, ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : y.get(id)];
        }));
        const slots = column.map((id) => y.get(id)).sort((a, b) => a - b);
        column.sort((a, b) => wanted.get(a) - wanted.get(b));
        column.forEach((id, i) => y.set(id, slots[i]));
      }
      void lane;
    }
  }
  const positions = {};
  for (const n of nodes) positions[n.id] = { x: rank.get(n.id) * RANK_SEP, y: y.get(n.id) };
  return positions;
}

/**
 * Positions for `fresh` nodes ({id, lane}) that appeared in a refresh, given the `known`
 * positions (a Map id -> {x, y}, not changed here): one column right of a caller already placed
 * (else left of a callee, else at the far left), at the first free height below its lane's nodes.
 */
export function placeNew(fresh, links, known, laneOf) {
  const placed = new Map(known);
  const result = {};
  const taken = (x, y) => {
    for (const p of placed.values()) if (Math.abs(p.x - x) < RANK_SEP / 2 && Math.abs(p.y - y) < NODE_SEP * 0.8) return true;
    return false;
  };
  for (const node of fresh) {
    let x = 0;
    const caller = links.find((l) => l.target === node.id && placed.has(l.source));
    const callee = links.find((l) => l.source === node.id && placed.has(l.target));
    if (caller) x = placed.get(caller.source).x + RANK_SEP;
    else if (callee) x = placed.get(callee.target).x - RANK_SEP;
    const laneYs = [...placed].filter(([id]) => laneOf(id) === node.lane).map(([, p]) => p.y);
    let y = laneYs.length ? Math.min(...laneYs) : Math.max(0, ...[...placed.values()].map((p) => p.y)) + NODE_SEP * 2;
    while (taken(x, y)) y += NODE_SEP;
    placed.set(node.id, { x, y });
    result[node.id] = { x, y };
  }
  return result;
}
