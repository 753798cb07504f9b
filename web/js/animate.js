// Traffic animation on a canvas over the graph, as Kiali draws it: dots run along each edge,
// as many as its rate calls for (log scale, at most 6), taking longer the slower its calls
// (p50); a share of them as large as the edge's error rate is drawn red and off the line.

const MAX_EDGES = 800;

export class TrafficAnimation {
  constructor(canvas, cy) {
    this.canvas = canvas;
    this.cy = cy;
    this.frame = 0;
  }

  start() {
    if (this.frame) return;
    const step = (now) => { this.draw(now); this.frame = requestAnimationFrame(step); };
    this.frame = requestAnimationFrame(step);
  }

  stop() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  draw(now) {
    const { canvas, cy } = this;
    const rect = canvas.getBoundingClientRect();
    const width = Math.round(rect.width), height = Math.round(rect.height);
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const zoom = cy.zoom(), pan = cy.pan();
    const edges = cy.edges().not(".serves, .hidden, .faded");
    for (let i = 0; i < Math.min(edges.length, MAX_EDGES); i++) {
      const stats = edges[i].data("stats");
      if (!stats || stats.rps <= 0) continue;
      const s = edges[i].sourceEndpoint(), t = edges[i].targetEndpoint();
      const dots = Math.min(6, Math.ceil(Math.log2(1 + stats.rps)));
      const period = Math.min(6000, Math.max(700, 700 + (stats.p50_ms || 0) * 4));
      for (let k = 0; k < dots; k++) {
        const phase = now / period + k / dots;
        const f = phase % 1;
        const cycle = Math.floor(phase);
        const failed = ((cycle * 7919 + k * 104729 + i * 31) % 1000) / 1000 < stats.error_rate;
        const off = failed ? 5 : 0;
        const x = (s.x + (t.x - s.x) * f) * zoom + pan.x;
        const y = (s.y + (t.y - s.y) * f + off) * zoom + pan.y;
        ctx.fillStyle = failed ? "#cc0000" : "#1d4f91";
        ctx.beginPath();
        ctx.arc(x, y, Math.max(1.5, 2.6 * Math.min(1, zoom)), 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
}
