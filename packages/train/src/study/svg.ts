// A tiny chart library for the study's report: line charts, grouped and stacked column charts and
// horizontal bar charts, each returned as an HTML string `<figure class="chart" data-chart=name>`
// holding one inline <svg>. No dependencies, no scripts: the page renders the same offline.
//
// Conventions the report (and its tests) rely on:
// - every plotted mark (line point, bar, bar segment) carries a `data-point` attribute and a
//   <title> tooltip with its exact value, so a test can count what a chart drew;
// - every chart has a title, axis labels (the caller puts units in them), tick labels and a legend;
// - text is 11px or larger; colors are the Okabe-Ito palette, which stays distinguishable with
//   the common color-vision deficiencies;
// - all text goes through escapeXml, so a model called `<b>&` prints as such.

/** Okabe-Ito without its yellow (too light on white), then a brown and a grey for series 7 and 8. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#8C564B', '#666666'];

const FONT = "'Liberation Sans', Arial, Helvetica, sans-serif";
const TITLE_SIZE = 15;
const LABEL_SIZE = 13;
const TICK_SIZE = 12;
const VALUE_SIZE = 11;
const GRID = '#e3e3e3';
const INK = '#222';
/** A white outline drawn under the glyphs, so a value stays readable where it crosses a line. */
const HALO = 'paint-order="stroke" stroke="#fff" stroke-width="3" stroke-linejoin="round"';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * Width of a text in px, estimated (there is no layout engine here) from Liberation Sans/Arial
 * advance widths, a little generous: capitals ~0.67 em, digits 0.56, lowercase ~0.45, the rest ~0.33.
 */
export function textWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const c of text) em += /[A-Z%@]/.test(c) ? 0.68 : /[0-9]/.test(c) ? 0.56 : /[a-z]/.test(c) ? 0.47 : 0.34;
  return em * fontSize;
}

/** The text cut to `max` characters with an ellipsis (the full text goes in a tooltip). */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Tick text: plain decimals for everyday magnitudes, 12k for thousands, 1e-4 for tiny values. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4) return `${Number((v / 1000).toPrecision(6))}k`;
  if (a < 1e-3) return v.toExponential().replace(/\.?0+e/, 'e').replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

// ---------------------------------------------------------------------------------------------
// Scales: value -> pixel, with the ticks to draw.

export interface Scale {
  (v: number): number;
  ticks: number[];
  log: boolean;
  /** Where bars start: 0 clamped into the domain (the lowest decade on a log scale). */
  base: number;
}

/** 1, 2 or 5 times a power of ten, so that about `count` steps span `span`. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
}

/** A linear scale over [lo, hi] widened to whole ticks, mapped onto pixels [from, to]. */
export function linearScale(lo: number, hi: number, from: number, to: number, count = 5): Scale {
  if (!(hi > lo)) [lo, hi] = lo === 0 && hi === 0 ? [0, 1] : [lo - Math.abs(lo) * 0.1 - 1e-9, hi + Math.abs(hi) * 0.1 + 1e-9];
  const step = niceStep(hi - lo, count);
  const start = Math.floor(lo / step + 1e-9) * step;
  const end = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  // toPrecision drops the float dust of repeated addition (0.30000000000000004)
  for (let i = 0; start + i * step <= end + step * 1e-9; i++) ticks.push(Number((start + i * step).toPrecision(12)));
  const scale = (v: number): number => from + ((v - start) / (end - start)) * (to - from);
  return Object.assign(scale, { ticks, log: false, base: Math.min(Math.max(0, start), end) });
}

/** A log10 scale over whole decades around [lo, hi] (both > 0); 2x and 5x ticks when it spans few decades. */
export function logScale(lo: number, hi: number, from: number, to: number): Scale {
  if (!(lo > 0 && hi > 0)) throw new Error(`logScale: domain [${lo}, ${hi}] must be positive`);
  const d0 = Math.floor(Math.log10(lo) + 1e-9);
  let d1 = Math.ceil(Math.log10(hi) - 1e-9);
  if (d1 === d0) d1 += 1;
  const ticks: number[] = [];
  for (let d = d0; d <= d1; d++) {
    ticks.push(Number((10 ** d).toPrecision(12)));
    if (d1 - d0 <= 2 && d < d1) ticks.push(Number((2 * 10 ** d).toPrecision(12)), Number((5 * 10 ** d).toPrecision(12)));
  }
  const scale = (v: number): number => from + ((Math.log10(v) - d0) / (d1 - d0)) * (to - from);
  return Object.assign(scale, { ticks, log: true, base: 10 ** d0 });
}

// ---------------------------------------------------------------------------------------------
// Pieces every chart shares: the frame (title, legend), axes, the figure wrapper.

export interface LegendItem {
  label: string;
  color: string;
  /** box: a filled swatch (bars); line: a line with a dot (series); dash: a dashed reference line. */
  kind: 'box' | 'line' | 'dash';
}

/** A reference value drawn as a dashed line across the plot (e.g. the float model's accuracy). */
export interface RefLine {
  value: number;
  label: string;
  color?: string;
}

interface Legend {
  svg: string;
  height: number;
}

/** Legend items left to right from (x, y), wrapping at `width`. */
function legend(items: LegendItem[], x: number, y: number, width: number): Legend {
  const parts: string[] = [];
  let cx = x;
  let row = 0;
  for (const item of items) {
    const w = 26 + textWidth(item.label, TICK_SIZE) + 16;
    if (cx > x && cx + w > x + width) {
      cx = x;
      row++;
    }
    const cy = y + row * 20;
    const swatch =
      item.kind === 'box'
        ? `<rect x="${cx}" y="${cy - 6}" width="16" height="12" fill="${item.color}"/>`
        : `<line x1="${cx}" y1="${cy}" x2="${cx + 20}" y2="${cy}" stroke="${item.color}" stroke-width="2"${item.kind === 'dash' ? ' stroke-dasharray="6 3"' : ''}/>` +
          (item.kind === 'line' ? `<circle cx="${cx + 10}" cy="${cy}" r="3" fill="${item.color}"/>` : '');
    parts.push(`<g class="legend-item">${swatch}<text x="${cx + 24}" y="${cy + 4}" font-size="${TICK_SIZE}">${escapeXml(item.label)}</text></g>`);
    cx += Math.round(w);
  }
  return { svg: parts.join(''), height: items.length ? (row + 1) * 20 : 0 };
}

/** Where the plot starts: under the title and the legend. */
function plotTop(lg: Legend): number {
  return lg.height ? 44 + lg.height + 8 : 40;
}

/** The svg element: its title on top (also its accessible name), then the body. */
function svgRoot(width: number, height: number, title: string, body: string): string {
  return (
    `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}" ` +
    `font-family="${FONT}" fill="${INK}">` +
    `<rect width="${width}" height="${height}" fill="#fff"/>` +
    `<text x="12" y="22" font-size="${TITLE_SIZE}" font-weight="bold">${escapeXml(title)}</text>${body}</svg>`
  );
}

/** The chart's root element; the caption holds notes such as what a log scale means. */
export function figure(name: string, svg: string, caption?: string): string {
  const cap = caption ? `<figcaption>${escapeXml(caption)}</figcaption>` : '';
  return `<figure class="chart" data-chart="${escapeXml(name)}">${svg}${cap}</figure>`;
}

interface Plot {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Horizontal grid lines with tick labels on the left, and the rotated axis label. */
function valueAxisY(scale: Scale, plot: Plot, label: string, format: (v: number) => string): string {
  const parts = scale.ticks.map((t) => {
    const y = scale(t).toFixed(1);
    return `<line x1="${plot.left}" y1="${y}" x2="${plot.right}" y2="${y}" stroke="${GRID}"/>` +
      `<text x="${plot.left - 6}" y="${y}" dy="4" text-anchor="end" font-size="${TICK_SIZE}">${escapeXml(format(t))}</text>`;
  });
  const midY = (plot.top + plot.bottom) / 2;
  parts.push(`<text transform="translate(16 ${midY}) rotate(-90)" text-anchor="middle" font-size="${LABEL_SIZE}">${escapeXml(label)}</text>`);
  parts.push(`<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="${INK}"/>`);
  return parts.join('');
}

/** Vertical grid lines with tick labels below, and the axis label under them. */
function valueAxisX(scale: Scale, plot: Plot, label: string, format: (v: number) => string): string {
  const parts = scale.ticks.map((t) => {
    const x = scale(t).toFixed(1);
    return `<line x1="${x}" y1="${plot.top}" x2="${x}" y2="${plot.bottom}" stroke="${GRID}"/>` +
      `<text x="${x}" y="${plot.bottom + 16}" text-anchor="middle" font-size="${TICK_SIZE}">${escapeXml(format(t))}</text>`;
  });
  parts.push(`<text x="${(plot.left + plot.right) / 2}" y="${plot.bottom + 36}" text-anchor="middle" font-size="${LABEL_SIZE}">${escapeXml(label)}</text>`);
  parts.push(`<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="${INK}"/>`);
  return parts.join('');
}

function refLineColor(line: RefLine, i: number): string {
  return line.color ?? ['#000000', '#777777'][i % 2]!;
}

/** The values a scale must cover, finite ones only (and positive ones on a log scale). */
function domainOf(values: number[], log: boolean, includeZero: boolean): [number, number] {
  const usable = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (includeZero && !log) usable.push(0);
  if (!usable.length) return log ? [0.1, 1] : [0, 1];
  return [Math.min(...usable), Math.max(...usable)];
}

function seriesColor(color: string | undefined, i: number): string {
  return color ?? PALETTE[i % PALETTE.length]!;
}

// ---------------------------------------------------------------------------------------------
// Line chart: numeric x, one polyline with dots per series.

export interface LineSeries {
  name: string;
  color?: string;
  dashed?: boolean;
  points: Array<{ x: number; y: number }>;
}

export interface LineChartSpec {
  name: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  width?: number;
  height?: number;
  yLog?: boolean;
  /** Fixed y range, e.g. [0, 100] for percentages; default: the data's range widened to ticks. */
  yDomain?: [number, number];
  yFormat?: (v: number) => string;
  caption?: string;
}

export function lineChart(spec: LineChartSpec): string {
  const width = spec.width ?? 620;
  const height = spec.height ?? 360;
  const yFormat = spec.yFormat ?? formatTick;
  const colors = spec.series.map((s, i) => seriesColor(s.color, i));
  const lg = legend(spec.series.map((s, i) => ({ label: s.name, color: colors[i]!, kind: s.dashed ? 'dash' : 'line' })), 12, 44, width - 24);
  const all = spec.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!spec.yLog || p.y > 0));
  const [ylo, yhi] = spec.yDomain ?? domainOf(all.map((p) => p.y), spec.yLog ?? false, false);
  const [xlo, xhi] = domainOf(all.map((p) => p.x), false, false);
  const top = plotTop(lg);
  const yTickWidth = Math.max(...[ylo, yhi, (ylo + yhi) / 2].map((v) => textWidth(yFormat(v), TICK_SIZE)));
  const plot: Plot = { left: Math.round(34 + yTickWidth + 8), right: width - 20, top, bottom: height - 48 };
  const y = spec.yLog ? logScale(ylo, yhi, plot.bottom, plot.top) : linearScale(ylo, yhi, plot.bottom, plot.top);
  const x = linearScale(xlo, xhi, plot.left, plot.right, 8);
  const lines = spec.series.map((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!spec.yLog || p.y > 0));
    const path = pts.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
    const dots = pts.map((p) =>
      `<circle data-point data-series="${escapeXml(s.name)}" cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="2.5" fill="${colors[i]}">` +
      `<title>${escapeXml(`${s.name}: ${formatTick(p.x)}, ${yFormat(p.y)}`)}</title></circle>`,
    );
    const dash = s.dashed ? ' stroke-dasharray="6 3"' : '';
    return `<g class="series"><polyline points="${path}" fill="none" stroke="${colors[i]}" stroke-width="2"${dash}/>${dots.join('')}</g>`;
  });
  const body = lg.svg + valueAxisY(y, plot, spec.yLabel, yFormat) + valueAxisX(x, plot, spec.xLabel, formatTick) + lines.join('');
  return figure(spec.name, svgRoot(width, height, spec.title, body), spec.caption);
}

// ---------------------------------------------------------------------------------------------
// Column charts: categories along x, one bar per series side by side (grouped) or on top of
// each other (stacked).

export interface BarSeries {
  name: string;
  color?: string;
  /** One value per category; null: no bar (not measured). */
  values: Array<number | null>;
}

export interface ColumnChartSpec {
  name: string;
  title: string;
  xLabel: string;
  yLabel: string;
  categories: string[];
  /** Longer names shown in the tooltips (e.g. full layer names when categories are short ones). */
  categoryTitles?: string[];
  series: BarSeries[];
  width?: number;
  height?: number;
  yLog?: boolean;
  yDomain?: [number, number];
  yFormat?: (v: number) => string;
  refLines?: RefLine[];
  /** A text above each category's bars (e.g. its largest value), so the numbers read without hovering. */
  groupLabels?: string[];
  caption?: string;
}

export function groupedBarChart(spec: ColumnChartSpec): string {
  return columnChart(spec, false);
}

/** Stacked columns: each category's series values add up (e.g. shares that sum to 100%). */
export function stackedBarChart(spec: ColumnChartSpec): string {
  if (spec.yLog) throw new Error(`stackedBarChart "${spec.name}": a log scale cannot stack`);
  return columnChart(spec, true);
}

function columnChart(spec: ColumnChartSpec, stacked: boolean): string {
  const width = spec.width ?? 620;
  const height = spec.height ?? 380;
  const yFormat = spec.yFormat ?? formatTick;
  const log = spec.yLog ?? false;
  const colors = spec.series.map((s, i) => seriesColor(s.color, i));
  const refs = spec.refLines ?? [];
  const items: LegendItem[] = [
    ...spec.series.map((s, i): LegendItem => ({ label: s.name, color: colors[i]!, kind: 'box' })),
    ...refs.map((r, i): LegendItem => ({ label: r.label, color: refLineColor(r, i), kind: 'dash' })),
  ];
  const lg = legend(items, 12, 44, width - 24);
  const n = spec.categories.length;
  const value = (s: BarSeries, c: number): number | null => {
    const v = s.values[c];
    return v === null || v === undefined || !Number.isFinite(v) || (log && v <= 0) ? null : v;
  };
  const totals = spec.categories.map((_, c) => spec.series.reduce((a, s) => a + (value(s, c) ?? 0), 0));
  const values = stacked ? totals : spec.series.flatMap((s) => spec.categories.map((_, c) => value(s, c) ?? NaN));
  const [ylo, dataHi] = spec.yDomain ?? domainOf([...values, ...refs.map((r) => r.value)], log, true);
  const yhi = spec.groupLabels && !spec.yDomain ? dataHi * (log ? 2 : 1.08) : dataHi; // room for the labels
  // category labels turn 45 degrees when they do not fit their slot
  const labels = spec.categories.map((c) => clip(c, 28));
  const labelWidth = Math.max(0, ...labels.map((l) => textWidth(l, TICK_SIZE)));
  const top = plotTop(lg);
  const yTickWidth = Math.max(...[ylo, yhi, (ylo + yhi) / 2].map((v) => textWidth(yFormat(v), TICK_SIZE)));
  const left = Math.round(34 + yTickWidth + 8);
  const band = (width - 20 - left) / Math.max(n, 1);
  const rotate = labelWidth > band - 6;
  const below = rotate ? labelWidth * 0.71 + 18 : 24;
  const plot: Plot = { left, right: width - 20, top, bottom: Math.round(height - below - 26) };
  const y = log ? logScale(ylo, yhi, plot.bottom, plot.top) : linearScale(ylo, yhi, plot.bottom, plot.top);
  const parts: string[] = [lg.svg, valueAxisY(y, plot, spec.yLabel, yFormat)];
  const slot = band * 0.8;
  const barWidth = stacked ? slot : slot / Math.max(spec.series.length, 1);
  spec.categories.forEach((category, c) => {
    const x0 = plot.left + c * band + (band - slot) / 2;
    const name = spec.categoryTitles?.[c] ?? category;
    let stackTop = 0;
    spec.series.forEach((s, i) => {
      const v = value(s, c);
      if (v === null) return;
      const from = stacked ? stackTop : y.base;
      const to = stacked ? stackTop + v : v;
      stackTop = to;
      const x = stacked ? x0 : x0 + i * barWidth;
      const yTop = Math.min(y(from), y(to)); // a negative value hangs below the baseline
      const h = Math.abs(y(from) - y(to));
      parts.push(
        `<rect data-point data-series="${escapeXml(s.name)}" data-category="${escapeXml(name)}" x="${x.toFixed(1)}" y="${yTop.toFixed(1)}" ` +
          `width="${Math.max(1, barWidth - (stacked ? 0 : 1)).toFixed(1)}" height="${h.toFixed(1)}" fill="${colors[i]}">` +
          `<title>${escapeXml(`${name} · ${s.name}: ${yFormat(v)}`)}</title></rect>`,
      );
    });
    const lx = plot.left + (c + 0.5) * band;
    const groupLabel = spec.groupLabels?.[c];
    const tallest = stacked ? totals[c]! : Math.max(...spec.series.map((s) => value(s, c) ?? -Infinity));
    if (groupLabel && Number.isFinite(tallest)) {
      parts.push(`<text x="${lx.toFixed(1)}" y="${(y(tallest) - 5).toFixed(1)}" text-anchor="middle" font-size="${VALUE_SIZE}" ${HALO}>${escapeXml(groupLabel)}</text>`);
    }
    const label = escapeXml(labels[c]!);
    parts.push(
      rotate
        ? `<text transform="translate(${lx.toFixed(1)} ${plot.bottom + 12}) rotate(-45)" text-anchor="end" font-size="${TICK_SIZE}">${label}</text>`
        : `<text x="${lx.toFixed(1)}" y="${plot.bottom + 16}" text-anchor="middle" font-size="${TICK_SIZE}">${label}</text>`,
    );
  });
  refs.forEach((r, i) => {
    const ry = y(r.value).toFixed(1);
    parts.push(`<line class="ref" x1="${plot.left}" y1="${ry}" x2="${plot.right}" y2="${ry}" stroke="${refLineColor(r, i)}" stroke-width="1.5" stroke-dasharray="6 3"/>`);
  });
  parts.push(`<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="${INK}"/>`);
  parts.push(`<text x="${(plot.left + plot.right) / 2}" y="${height - 10}" text-anchor="middle" font-size="${LABEL_SIZE}">${escapeXml(spec.xLabel)}</text>`);
  return figure(spec.name, svgRoot(width, height, spec.title, parts.join('')), spec.caption);
}

// ---------------------------------------------------------------------------------------------
// Horizontal bars: one labelled row per bar, for long category names (PTQ configurations).

export interface HBar {
  label: string;
  value: number | null;
  color?: string;
  /** Text after the bar; default the formatted value. */
  valueText?: string;
}

export interface HBarChartSpec {
  name: string;
  title: string;
  xLabel: string;
  bars: HBar[];
  /** What the bar colors mean (bars pick their own colors). */
  legend?: Array<{ label: string; color: string }>;
  refLines?: RefLine[];
  width?: number;
  xDomain?: [number, number];
  xFormat?: (v: number) => string;
  caption?: string;
}

export function horizontalBarChart(spec: HBarChartSpec): string {
  const width = spec.width ?? 620;
  const xFormat = spec.xFormat ?? formatTick;
  const refs = spec.refLines ?? [];
  const items: LegendItem[] = [
    ...(spec.legend ?? []).map((l): LegendItem => ({ ...l, kind: 'box' })),
    ...refs.map((r, i): LegendItem => ({ label: r.label, color: refLineColor(r, i), kind: 'dash' })),
  ];
  const lg = legend(items, 12, 44, width - 24);
  const row = 22;
  const labels = spec.bars.map((b) => clip(b.label, 90));
  const labelWidth = Math.min(Math.max(0, ...labels.map((l) => textWidth(l, TICK_SIZE))), width * 0.5);
  const top = plotTop(lg);
  const plot: Plot = { left: Math.round(12 + labelWidth + 8), right: width - 56, top, bottom: top + spec.bars.length * row };
  const height = plot.bottom + 48;
  const values = spec.bars.map((b) => b.value ?? NaN);
  const [lo, hi] = spec.xDomain ?? domainOf([...values, ...refs.map((r) => r.value)], false, true);
  const x = linearScale(lo, hi, plot.left, plot.right);
  const parts: string[] = [lg.svg, valueAxisX(x, plot, spec.xLabel, xFormat)];
  // bars, then the reference lines over them, then the value texts over both (with a white halo)
  const texts: string[] = [];
  spec.bars.forEach((b, i) => {
    const cy = plot.top + i * row + row / 2;
    parts.push(`<text x="${plot.left - 6}" y="${cy + 4}" text-anchor="end" font-size="${TICK_SIZE}">${escapeXml(labels[i]!)}</text>`);
    if (b.value === null || !Number.isFinite(b.value)) {
      texts.push(`<text x="${plot.left + 4}" y="${cy + 4}" font-size="${VALUE_SIZE}" fill="#777">not measured</text>`);
      return;
    }
    const x0 = x(x.base);
    const x1 = x(b.value);
    const text = b.valueText ?? xFormat(b.value);
    parts.push(
      `<rect data-point data-category="${escapeXml(b.label)}" x="${Math.min(x0, x1).toFixed(1)}" y="${(cy - row * 0.36).toFixed(1)}" ` +
        `width="${Math.abs(x1 - x0).toFixed(1)}" height="${(row * 0.72).toFixed(1)}" fill="${b.color ?? PALETTE[0]}">` +
        `<title>${escapeXml(`${b.label}: ${text}`)}</title></rect>`,
    );
    texts.push(`<text x="${(Math.max(x0, x1) + 4).toFixed(1)}" y="${cy + 4}" font-size="${VALUE_SIZE}" ${HALO}>${escapeXml(text)}</text>`);
  });
  refs.forEach((r, i) => {
    const rx = x(r.value).toFixed(1);
    parts.push(`<line class="ref" x1="${rx}" y1="${plot.top}" x2="${rx}" y2="${plot.bottom}" stroke="${refLineColor(r, i)}" stroke-width="1.5" stroke-dasharray="6 3"/>`);
  });
  parts.push(...texts);
  parts.push(`<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="${INK}"/>`);
  return figure(spec.name, svgRoot(width, height, spec.title, parts.join('')), spec.caption);
}
