// report.html from a StudyResults: one self-contained page (inline CSS, inline SVG, no scripts,
// nothing fetched) with the study's charts. The numbers and sentences come from report-md.ts, so
// the page and RESULTS.md never disagree; the charts come from svg.ts.
import type { LayerShare, StudyModel, StudyResults } from './results.js';
import {
  ANSWER_QUESTIONS, FAMILY_NAMES, PATH_NAMES, bytes, headlineTable, modelById, modelPairs, percent, ptqBases, rate, storageSchemes, studyAnswers, when,
  type Answers, type Table,
} from './report-md.js';
import { PALETTE, escapeXml, groupedBarChart, horizontalBarChart, lineChart, stackedBarChart, type RefLine } from './svg.js';

// Two half-width charts and the 16 px gap between them fill one full-width row (each figure has a 1 px border).
const PAGE_WIDTH = 1300;
const FULL_WIDTH = PAGE_WIDTH - 2;
const HALF_WIDTH = (PAGE_WIDTH - 16) / 2 - 2;

/** Float models in blues, QAT models in oranges (by family), the same in every chart. */
function modelColor(r: StudyResults, m: StudyModel): string {
  const families = [...new Set(r.models.map((x) => x.family))];
  const shade = families.indexOf(m.family) % 2;
  return m.kind === 'float' ? ['#0072B2', '#56B4E9'][shade]! : ['#E69F00', '#D55E00'][shade]!;
}

/**
 * Short layer names for axis labels: Hugging Face ViT/DeiT names lose their common parts
 * (`vit.encoder.layer.3.attention.attention.query` -> `3.query`, `...intermediate.dense` -> `3.fc1`);
 * other names pass through. The full name stays in each bar's tooltip.
 */
export function shortLayerName(name: string): string {
  return name
    .replace(/^(vit|deit)\.encoder\.layer\./, '')
    .replace('.attention.attention.', '.')
    .replace('.attention.output.dense', '.attn-out')
    .replace('.intermediate.dense', '.fc1')
    .replace('.output.dense', '.fc2');
}

const pct = (fraction: number): number => 100 * fraction;
const pctTick = (v: number): string => `${Number(v.toFixed(1))}%`;

// ---------------------------------------------------------------------------------------------
// The charts, one function per kind of figure

/** Training loss and accuracy, float vs QAT, per family: two line charts side by side. */
function curveCharts(r: StudyResults): string[] {
  const charts: string[] = [];
  for (const family of [...new Set(r.models.map((m) => m.family))]) {
    const models = r.models.filter((m) => m.family === family && m.curve.length);
    if (!models.length) continue;
    const series = (value: (p: StudyModel['curve'][number]) => number) =>
      models.map((m) => ({
        name: `${m.id} (${m.kind === 'qat' ? 'BitNet QAT' : 'float'})`,
        color: modelColor(r, m),
        points: m.curve.map((p) => ({ x: p.epoch, y: value(p) })),
      }));
    const name = FAMILY_NAMES[family];
    charts.push(
      lineChart({ name: `loss-${family}`, title: `${name}: training loss, float vs QAT`, xLabel: 'epoch', yLabel: 'training loss (cross entropy)', width: HALF_WIDTH, series: series((p) => p.loss) }),
      lineChart({ name: `accuracy-${family}`, title: `${name}: training accuracy, float vs QAT`, xLabel: 'epoch', yLabel: 'training accuracy (%)', width: HALF_WIDTH, series: series((p) => pct(p.accuracy)), yFormat: pctTick }),
    );
  }
  return charts;
}

/** PTQ test accuracy per configuration, one chart per float model, with the float and QAT accuracy as reference lines. */
function ptqCharts(r: StudyResults): string[] {
  const methods = [...new Set(r.ptq.map((p) => p.method))];
  const methodColor = (method: string): string => PALETTE[methods.indexOf(method) % PALETTE.length]!;
  return ptqBases(r).map((baseId) => {
    const rows = r.ptq.filter((p) => p.base === baseId);
    const base = modelById(r, baseId);
    const twin = r.models.find((m) => m.kind === 'qat' && m.floatTwin === baseId);
    const refLines: RefLine[] = [];
    if (base) refLines.push({ value: pct(base.testAccuracy), label: `float ${base.id}: ${percent(base.testAccuracy)}%`, color: '#000000' });
    if (twin) refLines.push({ value: pct(twin.testAccuracy), label: `QAT ${twin.id}: ${percent(twin.testAccuracy)}%`, color: '#D55E00' });
    const used = methods.filter((m) => rows.some((p) => p.method === m));
    return horizontalBarChart({
      name: `ptq-${baseId}`,
      title: `Post-training quantization of ${baseId}: test accuracy per method`,
      xLabel: 'test accuracy (%)',
      width: FULL_WIDTH,
      xDomain: [0, 100],
      xFormat: pctTick,
      bars: rows.map((p) => ({ label: p.label, value: pct(p.testAccuracy), color: methodColor(p.method), valueText: `${percent(p.testAccuracy)}%` })),
      legend: used.map((m) => ({ label: m, color: methodColor(m) })),
      refLines,
      caption: 'Each bar: method / granularity / symmetric or asymmetric levels / layers quantized / activations. Dashed lines: the float model and its QAT twin.',
    });
  });
}

/** Per-layer relative MSE for each PTQ configuration that recorded it, one chart per float model, log scale. */
function layerErrorCharts(r: StudyResults): string[] {
  return [...new Set(r.layerErrors.map((e) => e.base))].map((baseId) => {
    const entries = r.layerErrors.filter((e) => e.base === baseId);
    const names = [...new Set(entries.flatMap((e) => e.layers.map((l) => l.name)))];
    return groupedBarChart({
      name: `layer-error-${baseId}`,
      title: `Per-layer quantization error of ${baseId}`,
      xLabel: 'layer (block.projection)',
      yLabel: 'relative MSE (log scale)',
      width: FULL_WIDTH,
      height: 420,
      yLog: true,
      categories: names.map(shortLayerName),
      categoryTitles: names,
      series: entries.map((e) => ({ name: e.label, values: names.map((n) => e.layers.find((l) => l.name === n)?.relMSE ?? null) })),
      caption: 'relMSE per quantized layer (lower is better); the y axis is logarithmic, one grid line per factor of 10 (with 2x and 5x lines when few decades are shown).',
    });
  });
}

/** The share of -1, 0 and +1 codes per layer of each QAT model, stacked to 100%. */
function shareCharts(r: StudyResults): string[] {
  return r.models
    .filter((m): m is StudyModel & { ternaryShares: LayerShare[] } => !!m.ternaryShares?.length)
    .map((m) => {
      const shares = m.ternaryShares;
      return stackedBarChart({
        name: `ternary-shares-${m.id}`,
        title: `${m.id}: share of -1, 0 and +1 weights per layer`,
        xLabel: 'layer (block.projection)',
        yLabel: 'share of weights (%)',
        width: FULL_WIDTH,
        height: 400,
        yDomain: [0, 100],
        yFormat: pctTick,
        categories: shares.map((s) => shortLayerName(s.name)),
        categoryTitles: shares.map((s) => s.name),
        series: [
          { name: '-1', color: '#D55E00', values: shares.map((s) => pct(s.minus)) },
          { name: '0', color: '#BBBBBB', values: shares.map((s) => pct(s.zero)) },
          { name: '+1', color: '#0072B2', values: shares.map((s) => pct(s.plus)) },
        ],
      });
    });
}

/** Whole-model storage per scheme and the packed file, one bar per model, in kB or MB. */
function storageChart(r: StudyResults): string {
  const schemes = storageSchemes(r);
  const largest = Math.max(1, ...r.models.flatMap((m) => [...Object.values(m.storage), m.packedFileBytes ?? 0]));
  const [unit, size] = largest >= 1e6 ? ['MB', 1e6] : ['kB', 1e3];
  return groupedBarChart({
    name: 'storage',
    title: 'Model storage per scheme',
    xLabel: 'storage scheme',
    yLabel: `storage (${unit})`,
    width: HALF_WIDTH,
    categories: [...schemes, 'packed file'],
    series: r.models.map((m) => ({
      name: m.id,
      color: modelColor(r, m),
      values: [...schemes.map((s) => (m.storage[s] === undefined ? null : m.storage[s]! / size)), m.packedFileBytes === undefined ? null : m.packedFileBytes / size],
    })),
    yFormat: (v) => `${Number(v.toPrecision(4))}`,
    groupLabels: [...schemes.map((s) => r.models.map((m) => m.storage[s] ?? 0)), r.models.map((m) => m.packedFileBytes ?? 0)].map((v) => bytes(Math.max(...v))),
    caption: `Ternary schemes: weights at 2 bits (i2), 1.6 bits (t3), log2(3) or the code entropy, plus float32 scales; the rest float32. packed file: model.safetensors on disk. Above each group: its largest value. 1 ${unit} = ${size} bytes.`,
  });
}

/** Inference images/s per model and execution path, batch 1 and batch 64 side by side. */
function throughputChart(r: StudyResults): string {
  const rows = r.models.flatMap((m) =>
    (['float', 'fakeQuant', 'packed'] as const).flatMap((path) => (m.throughput[path] ? [{ label: `${m.id} ${PATH_NAMES[path]}`, t: m.throughput[path]! }] : [])),
  );
  return groupedBarChart({
    name: 'throughput',
    title: 'Inference throughput per model and path',
    xLabel: 'model and execution path',
    yLabel: 'images/s (forward only)',
    width: HALF_WIDTH,
    height: 420,
    categories: rows.map((x) => x.label),
    series: [
      { name: 'batch 1', color: '#56B4E9', values: rows.map((x) => x.t.batch1) },
      { name: 'batch 64', color: '#0072B2', values: rows.map((x) => x.t.batch64) },
    ],
    yFormat: (v) => rate(v),
  });
}

function trainingSpeedChart(r: StudyResults): string {
  const kindColor = (m: StudyModel): string => (m.kind === 'float' ? '#0072B2' : '#E69F00');
  return horizontalBarChart({
    name: 'training-throughput',
    title: 'Training throughput',
    xLabel: 'training images/s',
    width: HALF_WIDTH,
    bars: r.models.map((m) => ({ label: m.id, value: m.trainImagesPerSecond, color: kindColor(m), valueText: rate(m.trainImagesPerSecond) })),
    legend: [
      { label: 'float', color: '#0072B2' },
      { label: 'BitNet QAT', color: '#E69F00' },
    ],
    xFormat: (v) => rate(v),
    caption: 'Forward, backward and optimizer step; BitNet QAT also runs the weight and activation fake-quantization.',
  });
}

// ---------------------------------------------------------------------------------------------
// The page

function htmlTable(t: Table): string {
  const cell = (tag: string, text: string, numeric: boolean): string => `<${tag}${numeric ? ' class="num"' : ''}>${escapeXml(text)}</${tag}>`;
  const head = `<tr>${t.header.map((h, i) => cell('th', h, t.numeric[i]!)).join('')}</tr>`;
  const body = t.rows.map((row) => `<tr>${row.map((c, i) => cell('td', c, t.numeric[i]!)).join('')}</tr>`).join('');
  return `<table><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

function answersList(answers: Answers): string {
  return (Object.keys(ANSWER_QUESTIONS) as Array<keyof Answers>)
    .map((key) => {
      const items = answers[key].length ? answers[key] : ['Not measured in this run.'];
      return `<h3>${escapeXml(ANSWER_QUESTIONS[key])}</h3><ul>${items.map((a) => `<li>${escapeXml(a)}</li>`).join('')}</ul>`;
    })
    .join('');
}

function section(title: string, body: string): string {
  return body ? `<section><h2>${escapeXml(title)}</h2>${body}</section>` : '';
}

function charts(figures: string[]): string {
  return figures.length ? `<div class="charts">${figures.join('')}</div>` : '';
}

const CSS = `
body { font-family: 'Liberation Sans', Arial, Helvetica, sans-serif; color: #222; background: #f6f6f4; margin: 0; }
main { max-width: ${PAGE_WIDTH}px; margin: 0 auto; padding: 16px 12px 40px; }
h1 { font-size: 24px; margin: 8px 0; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
p, li { font-size: 14px; line-height: 1.45; }
ul { margin: 4px 0; padding-left: 22px; }
code { font-family: 'DejaVu Sans Mono', monospace; font-size: 13px; background: #ececea; padding: 1px 4px; border-radius: 3px; }
.meta { color: #444; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #d4d4d4; padding: 4px 8px; text-align: left; }
th { background: #efefed; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; background: #fff; border: 1px solid #ddd; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
/* the caption wraps at the chart's width instead of widening the figure */
figcaption { font-size: 12px; color: #555; padding: 0 12px 10px; width: 0; min-width: 100%; box-sizing: border-box; }
`;

export function renderReportHtml(r: StudyResults): string {
  const m = r.meta;
  const commands = r.models.map((x) => `<li>${escapeXml(x.id)}: <code>${escapeXml(x.command)}</code> (seed ${x.seed})</li>`).join('');
  const families = modelPairs(r).map((p) => FAMILY_NAMES[p.family]).join(' and ');
  const header =
    `<h1>${escapeXml(`BitNet b1.58 study: float vs ternary ${families || 'models'}`)}</h1>` +
    `<p class="meta">Data <code>${escapeXml(m.data)}</code>, seed ${m.seed}, ${m.quick ? '<strong>quick run</strong> (tiny budget: the numbers only show the pipeline works)' : 'full run'}; ` +
    `budget ${m.budget.epochs} epochs / ${rate(m.budget.steps)} steps at batch ${m.budget.batchSize}; ${escapeXml(when(m.date))}, Node ${escapeXml(m.node)} on ${m.cpus} CPUs. ` +
    `Produced by <code>${escapeXml(m.command)}</code>.</p>`;
  const body = [
    header,
    section('Answers', answersList(studyAnswers(r))),
    section("The study's table", `${htmlTable(headlineTable(r))}<p>Quantization error: the QAT model against its float twin. Throughput: batch 64, the QAT model with packed ternary kernels.</p>`),
    section('Training', charts([...curveCharts(r), trainingSpeedChart(r)])),
    section('Post-training quantization', charts([...ptqCharts(r), ...layerErrorCharts(r)])),
    section('Ternary weights', charts(shareCharts(r))),
    section('Storage and speed', charts([storageChart(r), throughputChart(r)])),
    section('Commands', `<ul>${commands}</ul><p>Every figure on this page: <code>${escapeXml(m.command)}</code>, seed ${m.seed}.</p>`),
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bitvit study report</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
