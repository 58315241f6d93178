// Job: draw the page's charts as SVG/HTML: a labelled scatter with legend, a line chart (loss curve), a confusion-matrix heat table.

const SVG = 'http://www.w3.org/2000/svg';
// Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgRoot(width, height, label) {
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: 'chart' });
  svg.append(el('title', {}, label));
  return svg;
}

/** Round tick values covering [lo, hi], about `count` of them. */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function formatTick(t) {
  const a = Math.abs(t);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return t.toExponential(1);
  return String(Number(t.toPrecision(4)));
}

function axes(g, box, xDomain, yDomain, xLabel, yLabel, xInteger = false) {
  const [x0, x1] = xDomain;
  const [y0, y1] = yDomain;
  const sx = (v) => box.left + ((v - x0) / (x1 - x0 || 1)) * box.width;
  const sy = (v) => box.top + box.height - ((v - y0) / (y1 - y0 || 1)) * box.height;
  g.append(el('rect', { x: box.left, y: box.top, width: box.width, height: box.height, class: 'chart-frame' }));
  for (const t of niceTicks(x0, x1, 6)) {
    if (t < x0 || t > x1 || (xInteger && !Number.isInteger(t))) continue;
    const x = sx(t);
    g.append(el('line', { x1: x, x2: x, y1: box.top + box.height, y2: box.top + box.height + 4, class: 'chart-tick' }));
    g.append(el('text', { x, y: box.top + box.height + 16, 'text-anchor': 'middle', class: 'chart-label' }, formatTick(t)));
  }
  for (const t of niceTicks(y0, y1, 5)) {
    if (t < y0 || t > y1) continue;
    const y = sy(t);
    g.append(el('line', { x1: box.left, x2: box.left + box.width, y1: y, y2: y, class: 'chart-grid' }));
    g.append(el('text', { x: box.left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-label' }, formatTick(t)));
  }
  g.append(el('text', { x: box.left + box.width / 2, y: box.top + box.height + 34, 'text-anchor': 'middle', class: 'chart-axis-title' }, xLabel));
  const yt = el('text', { x: 0, y: 0, 'text-anchor': 'middle', class: 'chart-axis-title', transform: `translate(14 ${box.top + box.height / 2}) rotate(-90)` }, yLabel);
  g.append(yt);
  return { sx, sy };
}

function extent(values, stride = 1, offset = 0) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = offset; i < values.length; i += stride) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/**
 * Scatter plot of 2-D points (Float32Array n×2), coloured by `labels`
 * (string[] or null), with a legend; `ids` name each point in its tooltip.
 */
export function scatterChart(container, points, { ids = [], labels = null, xLabel = 'PC 1', yLabel = 'PC 2', title = 'Scatter plot' } = {}) {
  const n = points.length / 2;
  const hasLabels = Array.isArray(labels) && labels.some((l) => l !== '');
  const classes = hasLabels ? [...new Set(labels.map((l) => (l === '' ? '(none)' : l)))].sort(naturalCompare) : [];
  const colourOf = new Map(classes.map((c, i) => [c, PALETTE[i % PALETTE.length]]));
  const legendWidth = hasLabels ? 130 : 0;
  const width = 640;
  const height = 400;
  const svg = svgRoot(width, height, `${title}: ${n} points${hasLabels ? `, ${classes.length} labels` : ''}`);
  const box = { left: 56, top: 12, width: width - 56 - 16 - legendWidth, height: height - 12 - 46 };
  const g = el('g');
  svg.append(g);
  const { sx, sy } = axes(g, box, extent(points, 2, 0), extent(points, 2, 1), xLabel, yLabel);
  const dots = el('g', { class: 'chart-points' });
  const radius = n > 2000 ? 1.8 : n > 300 ? 2.6 : 3.5;
  for (let i = 0; i < n; i++) {
    const label = hasLabels ? (labels[i] === '' ? '(none)' : labels[i]) : '';
    const c = el('circle', { cx: sx(points[2 * i]).toFixed(2), cy: sy(points[2 * i + 1]).toFixed(2), r: radius, fill: hasLabels ? colourOf.get(label) : PALETTE[0], 'fill-opacity': 0.75 });
    c.append(el('title', {}, `${ids[i] ?? `#${i}`}${hasLabels ? ` (label ${label})` : ''}`));
    dots.append(c);
  }
  g.append(dots);
  if (hasLabels) {
    const legend = el('g', { class: 'chart-legend' });
    const x = width - legendWidth + 4;
    legend.append(el('text', { x, y: 24, class: 'chart-axis-title' }, 'label'));
    classes.slice(0, 16).forEach((c, i) => {
      const y = 44 + i * 20;
      legend.append(el('circle', { cx: x + 6, cy: y - 4, r: 5, fill: colourOf.get(c) }));
      legend.append(el('text', { x: x + 18, y, class: 'chart-label' }, c.length > 14 ? c.slice(0, 13) + '…' : c));
    });
    if (classes.length > 16) legend.append(el('text', { x, y: 44 + 16 * 20, class: 'chart-label' }, `+${classes.length - 16} more`));
    svg.append(legend);
  }
  container.replaceChildren(svg);
  return svg;
}

/** Line chart of ys against 1..n (e.g. the training loss per step). */
export function lineChart(container, ys, { xLabel = 'step', yLabel = 'loss', title = 'Line chart', xMax } = {}) {
  const width = 640;
  const height = 300;
  const n = ys.length;
  const last = n ? ys[n - 1] : NaN;
  const svg = svgRoot(width, height, `${title}: ${n} points${n ? `, last ${formatTick(last)}` : ''}`);
  const box = { left: 56, top: 12, width: width - 56 - 16, height: height - 12 - 46 };
  const g = el('g');
  svg.append(g);
  const xHi = Math.max(2, xMax ?? n);
  let [lo, hi] = extent(ys);
  if (lo > 0 && lo < hi * 0.25) lo = 0;
  const { sx, sy } = axes(g, box, [1, xHi], [lo, hi], xLabel, yLabel, true);
  if (n > 0) {
    // At most ~2 points per pixel column: keep the chart light for long runs.
    const stride = Math.max(1, Math.floor(n / (box.width * 2)));
    let d = '';
    for (let i = 0; i < n; i += stride) {
      if (!Number.isFinite(ys[i])) continue;
      d += `${d ? 'L' : 'M'}${sx(i + 1).toFixed(1)} ${sy(ys[i]).toFixed(1)}`;
    }
    if ((n - 1) % stride !== 0 && Number.isFinite(last)) d += `L${sx(n).toFixed(1)} ${sy(last).toFixed(1)}`;
    g.append(el('path', { d, class: 'chart-line', fill: 'none' }));
    if (Number.isFinite(last)) g.append(el('circle', { cx: sx(n), cy: sy(last), r: 3, class: 'chart-last' }));
  }
  container.replaceChildren(svg);
  return svg;
}

/** Bar chart of `ys` (one bar per item, named by `names` in its tooltip), bars from zero. */
export function barChart(container, ys, { names = [], xLabel = 'item', yLabel = 'value', title = 'Bar chart' } = {}) {
  const width = 640;
  const height = 300;
  const n = ys.length;
  const svg = svgRoot(width, height, `${title}: ${n} bars`);
  const box = { left: 56, top: 12, width: width - 56 - 16, height: height - 12 - 46 };
  const g = el('g');
  svg.append(g);
  let [lo, hi] = extent(ys);
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  const { sx, sy } = axes(g, box, [0.5, n + 0.5], [lo, hi], xLabel, yLabel, true);
  const bars = el('g', { class: 'chart-points' });
  const w = Math.max(1, (box.width / Math.max(n, 1)) * 0.8);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(ys[i])) continue;
    const [a, b] = [sy(Math.max(ys[i], 0)), sy(Math.min(ys[i], 0))];
    const bar = el('rect', { x: (sx(i + 1) - w / 2).toFixed(2), y: a.toFixed(2), width: w.toFixed(2), height: Math.max(0.5, b - a).toFixed(2), fill: PALETTE[ys[i] < 0 ? 5 : 0] });
    bar.append(el('title', {}, `${names[i] ?? `#${i + 1}`}: ${formatTick(ys[i])}`));
    bars.append(bar);
  }
  g.append(bars);
  container.replaceChildren(svg);
  return svg;
}

/**
 * Confusion matrix (Uint32Array C×C, row = true class, column = predicted)
 * as an HTML table whose cells are shaded by their share of the row.
 */
export function confusionTable(container, matrix, classes, names = null) {
  const name = (k) => (names && names[k] ? names[k] : String(k));
  const table = document.createElement('table');
  table.className = 'confusion';
  const caption = document.createElement('caption');
  caption.textContent = 'Confusion matrix: rows are the true class, columns the predicted class';
  table.append(caption);
  const head = table.createTHead().insertRow();
  const corner = document.createElement('th');
  corner.scope = 'col';
  corner.textContent = 'true \\ predicted';
  head.append(corner);
  for (let k = 0; k < classes; k++) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = name(k);
    head.append(th);
  }
  const body = table.createTBody();
  for (let t = 0; t < classes; t++) {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name(t);
    row.append(th);
    let rowSum = 0;
    for (let p = 0; p < classes; p++) rowSum += matrix[t * classes + p];
    for (let p = 0; p < classes; p++) {
      const count = matrix[t * classes + p];
      const share = rowSum ? count / rowSum : 0;
      const td = row.insertCell();
      td.textContent = String(count);
      td.title = `true ${name(t)}, predicted ${name(p)}: ${count} (${(share * 100).toFixed(1)}% of true ${name(t)})`;
      // Set through the CSSOM (allowed by the page's CSP, unlike style attributes).
      // Green on the diagonal, red off it; darker = larger share (white text there).
      const hue = t === p ? 150 : 10;
      const dark = share > 0.6;
      const lightness = dark ? Math.round(40 - (share - 0.6) * 25) : Math.round(97 - share * 50);
      td.style.backgroundColor = `hsl(${hue} 65% ${lightness}%)`;
      if (dark) td.style.color = '#fff';
    }
  }
  container.replaceChildren(table);
  return table;
}

function naturalCompare(a, b) {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
