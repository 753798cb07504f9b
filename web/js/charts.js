// Small SVG line charts of a time series (GET /api/v1/edges/timeseries points): no library.

const W = 200;
const H = 56;

/** An SVG chart of `series` ([{name, color, values}]) over `points`' times, `headline` at its top right. */
export function lineChart(title, points, series, headline) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const max = Math.max(1e-9, ...all);
  const x = (i) => (points.length < 2 ? W / 2 : (i / (points.length - 1)) * W);
  const y = (v) => H - 3 - (v / max) * (H - 8);
  const paths = series.map((s) => {
    let d = "";
    s.values.forEach((v, i) => {
      if (v === null) return;
      d += `${d && s.values[i - 1] !== null ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"><title>${s.name || title}</title></path>`;
  });
  return `<div class="chart"><div class="title"><span>${title}</span><span>${headline}</span></div>
<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${title}">
<line x1="0" y1="${H - 3}" x2="${W}" y2="${H - 3}" stroke="#ddd"/>${paths.join("")}</svg></div>`;
}
