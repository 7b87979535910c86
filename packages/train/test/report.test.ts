// The study's report: RESULTS.md tables and answers from a sample StudyResults, report.html's
// charts (parsed as a string, then rendered in headless Chromium), and the screenshot.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudyResults } from '../src/study/results.js';
import { renderResultsMarkdown, studyAnswers } from '../src/study/report-md.js';
import { renderReportHtml, shortLayerName } from '../src/study/report-html.js';
import { CHROMIUM_PATH, openReportPage, screenshotReport } from '../src/study/screenshot.js';
import { escapeXml, formatTick, linearScale, logScale } from '../src/study/svg.js';

const FIXTURE = new URL('./fixtures/study-sample.json', import.meta.url);
const sample = JSON.parse(await readFile(FIXTURE, 'utf8')) as StudyResults;

/** A deep copy to edit per test. */
function copy(): StudyResults {
  return structuredClone(sample);
}

function model(r: StudyResults, id: string) {
  const m = r.models.find((x) => x.id === id);
  if (!m) throw new Error(`fixture has no model ${id}`);
  return m;
}

/** The rows of the Markdown table that follows `heading`, as arrays of cells. */
function tableAfter(md: string, heading: string): string[][] {
  const start = md.indexOf(heading);
  expect(start, `no "${heading}" in RESULTS.md`).toBeGreaterThanOrEqual(0);
  const lines = md.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    // split on pipes that are not escaped
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

/** Every chart figure in the page: its name, body and how many marks carry data-point. */
function chartsIn(html: string): Map<string, { body: string; points: number }> {
  const charts = new Map<string, { body: string; points: number }>();
  for (const m of html.matchAll(/<figure class="chart" data-chart="([^"]*)">([\s\S]*?)<\/figure>/g)) {
    const body = m[2]!;
    charts.set(m[1]!, { body, points: [...body.matchAll(/<(circle|rect) data-point\b/g)].length });
  }
  return charts;
}

describe('svg helpers', () => {
  it('linear scales end on nice ticks and map the domain onto the pixel range', () => {
    const s = linearScale(0.13, 0.97, 300, 100);
    expect(s.ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(s(0)).toBe(300);
    expect(s(1)).toBe(100);
    expect(s(0.5)).toBeCloseTo(200, 9);
    expect(linearScale(0, 1843, 0, 1).ticks).toEqual([0, 500, 1000, 1500, 2000]);
    // bars start at 0 when the domain holds it, else at its low end
    expect(linearScale(-3, 7, 0, 1).base).toBe(0);
    expect(linearScale(20, 80, 0, 1).base).toBe(20);
  });

  it('log scales cover whole decades, with 2x and 5x ticks over few decades', () => {
    const s = logScale(0.004, 0.6, 400, 100);
    expect(s.ticks).toEqual([0.001, 0.01, 0.1, 1]);
    expect(s(0.001)).toBe(400);
    expect(s(1)).toBe(100);
    expect(s(0.01)).toBeCloseTo(300, 9);
    expect(logScale(0.004, 0.06, 0, 1).ticks).toEqual([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]);
    expect(logScale(1e-5, 20, 0, 1).ticks).toEqual([1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100]);
    expect(() => logScale(0, 1, 0, 1)).toThrow(/logScale: domain \[0, 1\] must be positive/);
  });

  it('formats ticks and escapes text', () => {
    expect([0, 0.2, 1500, 12000, 0.0001, 2e-5].map(formatTick)).toEqual(['0', '0.2', '1500', '12k', '1e-4', '2e-5']);
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('shortens Hugging Face layer names and passes others through', () => {
    expect(shortLayerName('vit.encoder.layer.3.attention.attention.query')).toBe('3.query');
    expect(shortLayerName('deit.encoder.layer.0.attention.output.dense')).toBe('0.attn-out');
    expect(shortLayerName('vit.encoder.layer.11.intermediate.dense')).toBe('11.fc1');
    expect(shortLayerName('vit.encoder.layer.11.output.dense')).toBe('11.fc2');
    expect(shortLayerName('distillation_classifier')).toBe('distillation_classifier');
  });
});

describe('RESULTS.md', () => {
  const md = renderResultsMarkdown(sample);

  it("has the study's table: accuracies, points lost, agreement, KL and throughput per family", () => {
    const rows = tableAfter(md, "## The study's table");
    expect(rows[0]).toEqual(['model', 'float acc (%)', '1.58-bit QAT acc (%)', 'QAT - float (points)', 'top-1 agreement (%)', 'KL(float ‖ QAT)', 'float img/s (b64)', 'QAT img/s (b64, packed)']);
    // vit-fp 0.9742, vit-qat 0.9618 (agreement 0.9671, KL 0.0583), float b64 2611.8, packed b64 3987.5
    expect(rows[2]).toEqual(['ViT (vit-mnist)', '97.42', '96.18', '-1.24', '96.71', '0.0583', '2,612', '3,988']);
    expect(rows[3]).toEqual(['DeiT (deit-mnist)', '97.81', '96.55', '-1.26', '97.02', '0.0511', '2,490', '3,803']);
    expect(rows).toHaveLength(4);
  });

  it('has one PTQ row per result with its method, knobs, accuracy, error and storage', () => {
    const rows = tableAfter(md, '## Post-training quantization');
    expect(rows).toHaveLength(2 + sample.ptq.length);
    expect(rows[0]).toEqual(['base', 'method', 'granularity', 'weights', 'layers', 'activations', 'accuracy (%)', 'vs float (points)', 'agreement (%)', 'KL', 'logit MSE', 'storage']);
    expect(rows[2]).toEqual(['vit-fp', 'absmean', 'per tensor', 'sym', 'all', '8-bit dynamic', '21.14', '-76.28', '21.87', '1.93', '18.8', '62.3 kB']);
    expect(rows[6]).toEqual(['vit-fp', 'twn-refit', 'per channel', 'asym', 'all', '8-bit dynamic', '77.91', '-19.51', '78.66', '0.360', '2.94', '65.1 kB']);
    expect(rows[12]).toEqual(['vit-fp', 'twn-refit', 'per channel', 'sym', 'all', 'float', '73.02', '-24.40', '73.81', '0.463', '3.65', '63.7 kB']);
    sample.ptq.forEach((p, i) => expect(rows[2 + i]![6]).toBe((100 * p.testAccuracy).toFixed(2)));
  });

  it('has storage per scheme with the packed file and its ratio to float32', () => {
    const rows = tableAfter(md, '## Storage');
    expect(rows[0]).toEqual(['model', 'float32', 'float16', 'int8', 'i2', 't3', 'log2(3)', 'entropy', 'packed file', 'float32 / packed']);
    // 556088 / 62880 = 8.84
    expect(rows[3]).toEqual(['vit-qat', '556 kB', '278 kB', '161 kB', '62.3 kB', '55.7 kB', '55.4 kB', '55.0 kB', '62.9 kB', '8.84×']);
    expect(rows[2]!.slice(-2)).toEqual(['-', '-']);
  });

  it('has throughput per path with speedups against the float model', () => {
    const rows = tableAfter(md, '## Throughput');
    // packed 1356.2 / 912.4 = 1.486, 3987.5 / 2611.8 = 1.527; fake-quant 488.6 / 912.4 = 0.536
    expect(rows).toContainEqual(['vit-qat', 'packed ternary', '1,356', '3,988', '1.49×', '1.53×']);
    expect(rows).toContainEqual(['vit-qat', 'fake-quant', '489', '1,403', '0.54×', '0.54×']);
    expect(rows).toContainEqual(['deit-fp', 'float32', '874', '2,490', '1.00×', '1.00×']);
    expect(rows).toHaveLength(2 + 8);
  });

  it('cites the study command, the seed and every model command', () => {
    expect(md).toContain('Command: `pnpm study --data mnist --seed 7`');
    expect(md.match(/Produced by `pnpm study --data mnist --seed 7` \(seed 7\)/g)?.length).toBe(4);
    for (const m of sample.models) expect(md).toContain(`- ${m.id}: \`${m.command}\` (seed ${m.seed})`);
    const training = tableAfter(md, '## Training');
    expect(training).toContainEqual(['deit-qat', 'deit-mnist', 'BitNet QAT (twin of deit-fp)', 'vit-fp', '139,800', '10', '4,690', '1,121', '9 min', '96.55', '0.114']);
  });

  it('answers the four questions from the numbers', () => {
    expect(md).toContain('- ViT: QAT reaches 96.18% vs 97.42% float, 1.24 points lost (98.7% of the float accuracy kept).');
    expect(md).toMatch(/- vit-fp: absmean per-tensor PTQ of every layer gives 21\.14% \(-76\.28 points vs float 97\.42%\); the best PTQ, gptq .* reaches 93\.18% \(-4\.24 points vs float, \+72\.04 vs absmean\); so no PTQ method avoids the collapse/);
    expect(md).toContain('- vit-qat: the packed model file is 62.9 kB (62,880 bytes), 8.84× smaller than float32 (556 kB)');
    expect(md).toContain('- vit-qat: packed ternary inference runs 1,356 img/s at batch 1 and 3,988 at batch 64, 1.49× faster than float32 at batch 1 (912 img/s) and 1.53× faster than float32 at batch 64 (2,612 img/s).');
  });

  it('phrases the answers from the numbers, not from expectations', () => {
    const r = copy();
    model(r, 'vit-qat').testAccuracy = 0.9751; // QAT above float
    r.ptq.find((p) => p.base === 'vit-fp' && p.method === 'gptq')!.testAccuracy = 0.9688; // within a point of float 97.42
    r.ptq.find((p) => p.base === 'deit-fp' && p.method === 'gptq')!.testAccuracy = 0.9665; // above QAT 96.55, 1.16 below float 97.81
    const packed = model(r, 'deit-qat').throughput.packed!;
    packed.batch1 = 600; // float32 874: slower
    packed.batch64 = 2500; // float32 2490: about as fast
    const a = studyAnswers(r);
    expect(a.qat[0]).toBe('ViT: QAT reaches 97.51% vs 97.42% float: no accuracy lost (+0.09 points).');
    expect(a.ptq[0]).toContain('so PTQ avoids the collapse (within 1 point of float)');
    expect(a.ptq[1]).toContain('so it beats QAT (96.55%) but stays more than 1 point below float');
    expect(a.speed[1]).toContain('1.46× slower than float32 at batch 1 (874 img/s) and about as fast as float32 at batch 64');
  });

  it('says when the best PTQ keeps layers float, and what the best all-ternary one reaches', () => {
    const r = copy();
    r.ptq = r.ptq.filter((p) => p.method !== 'gptq');
    const a = studyAnswers(r);
    expect(a.ptq[0]).toContain('the best PTQ, twn-refit / channel / sym / all but first and last blocks / a8 dynamic, reaches 90.37%');
    expect(a.ptq[0]).toContain('it keeps some layers float (all but first and last blocks, 320 kB); with every layer ternary the best is twn-refit / channel / asym / all / a8 dynamic at 77.91% (65.1 kB)');
  });

  it('keeps table rows intact and inert when names hold Markdown syntax', () => {
    const r = copy();
    model(r, 'vit-qat').id = 'vit|qat <b>*x*</b>';
    r.ptq[0]!.base = 'a|b';
    const out = renderResultsMarkdown(r);
    for (const heading of ['## Storage', '## Post-training quantization', '## Throughput']) {
      const rows = tableAfter(out, heading);
      for (const row of rows) expect(row).toHaveLength(rows[0]!.length);
    }
    expect(out).toContain('| vit\\|qat \\<b\\>\\*x\\*\\</b\\> |');
    expect(out).not.toContain('<b>');
  });

  it('says so when something was not measured', () => {
    const r = copy();
    r.ptq = [];
    for (const m of r.models) {
      delete m.packedFileBytes;
      delete m.throughput.packed;
    }
    const out = renderResultsMarkdown(r);
    expect(out).toContain('No PTQ results in this run.');
    expect(out.match(/- Not measured in this run\./g)?.length).toBe(3);
    // without packed kernels the headline falls back to fake-quant throughput (vit-qat 1402.7)
    expect(tableAfter(out, "## The study's table")[2]![7]).toBe('1,403');
  });
});

/** The charts the sample must give, and how many marks each draws. */
const EXPECTED_POINTS: Record<string, number> = {
  'loss-vit': 2 * 20,
  'accuracy-vit': 2 * 20,
  'loss-deit': 2 * 20,
  'accuracy-deit': 2 * 20,
  'training-throughput': 4,
  'ptq-vit-fp': 12,
  'ptq-deit-fp': 2,
  'layer-error-vit-fp': 2 * 25,
  'ternary-shares-vit-qat': 3 * 25,
  'ternary-shares-deit-qat': 3 * 26,
  storage: 4 * 7 + 2, // four models under seven schemes, and two packed files
  throughput: 8 * 2, // eight model/path pairs at batch 1 and 64
};

describe('report.html', () => {
  const html = renderReportHtml(sample);

  it('is self-contained: no scripts, no external URLs', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).not.toMatch(/<(img|link|iframe|object|embed)\b/i);
  });

  it('draws every chart with its data points', () => {
    const charts = chartsIn(html);
    expect([...charts.keys()].sort()).toEqual(Object.keys(EXPECTED_POINTS).sort());
    for (const [name, chart] of charts) {
      expect(chart.points, `chart ${name}`).toBe(EXPECTED_POINTS[name]);
      expect(chart.body, `chart ${name} has no title`).toMatch(/<text x="12" y="22" font-size="15" font-weight="bold">[^<]+<\/text>/);
      expect(chart.body, `chart ${name} has no legend`).toContain('class="legend-item"');
      expect(chart.body, `chart ${name} has a NaN coordinate`).not.toMatch(/="[^"]*NaN/);
    }
  });

  it('labels the axes with units and keeps text at 11px or more', () => {
    const charts = chartsIn(html);
    expect(charts.get('storage')!.body).toContain('>storage (kB)<');
    expect(charts.get('throughput')!.body).toContain('>images/s (forward only)<');
    expect(charts.get('accuracy-vit')!.body).toContain('>training accuracy (%)<');
    expect(charts.get('accuracy-vit')!.body).toContain('>epoch<');
    expect(charts.get('ptq-vit-fp')!.body).toContain('>test accuracy (%)<');
    expect(charts.get('layer-error-vit-fp')!.body).toContain('>relative MSE (log scale)<');
    expect(charts.get('layer-error-vit-fp')!.body).toContain('>0.001<'); // a log tick
    const sizes = [...html.matchAll(/font-size(?:="|:\s*)(\d+)/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(100);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(11);
  });

  it('marks the float and QAT accuracy as reference lines on the PTQ chart', () => {
    const ptq = chartsIn(html).get('ptq-vit-fp')!.body;
    expect(ptq.match(/<line class="ref"/g)).toHaveLength(2);
    expect(ptq).toContain('float vit-fp: 97.42%');
    expect(ptq).toContain('QAT vit-qat: 96.18%');
  });

  it('renders a bare run (one float model, one curve point, nothing else) without NaN', () => {
    const r = copy();
    const fp = model(r, 'vit-fp');
    fp.curve = fp.curve.slice(0, 1);
    r.models = [fp];
    r.ptq = [];
    r.layerErrors = [];
    const out = renderReportHtml(r);
    const charts = chartsIn(out);
    expect([...charts.keys()].sort()).toEqual(['accuracy-vit', 'loss-vit', 'storage', 'throughput', 'training-throughput']);
    expect(charts.get('loss-vit')!.points).toBe(1);
    expect(out).not.toMatch(/NaN|Infinity/);
    expect(renderResultsMarkdown(r)).not.toMatch(/NaN|Infinity/);
  });

  it('escapes names everywhere', () => {
    const r = copy();
    model(r, 'vit-qat').id = '<script>alert("q")</script>&';
    r.ptq[0]!.label = '<img src=x onerror=alert(1)>';
    r.layerErrors[0]!.layers[0]!.name = '"><svg onload=alert(1)>';
    const out = renderReportHtml(r);
    expect(out).not.toMatch(/<script|<img|<svg onload/);
    expect(out).toContain('&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt;&amp;');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

const hasChromium = existsSync(CHROMIUM_PATH);
const inCI = process.env.CI === 'true';

// Skipped only on a developer machine without Chromium; in CI a missing browser fails the test.
describe.skipIf(!hasChromium && !inCI)('report.html in headless Chromium', () => {
  let dir = '';
  let htmlPath = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bitvit-report-'));
    htmlPath = join(dir, 'report.html');
    await writeFile(htmlPath, renderReportHtml(sample));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function requireChromium(): void {
    if (!hasChromium) throw new Error(`report test: no Chromium at ${CHROMIUM_PATH} (CI=true): install Debian's chromium package or set CHROMIUM_PATH`);
  }

  it('renders every chart with visible data points, inside its chart, and fetches nothing', async () => {
    requireChromium();
    const report = await openReportPage(htmlPath);
    try {
      const charts = await report.page.evaluate(() =>
        Array.from(document.querySelectorAll('figure.chart')).map((figure) => {
          const box = figure.getBoundingClientRect();
          const svg = figure.querySelector('svg')!.getBoundingClientRect();
          const points = Array.from(figure.querySelectorAll('svg [data-point]'));
          const drawn = points.filter((p) => {
            const b = p.getBoundingClientRect();
            return b.width > 0 && b.height > 0;
          });
          // text that spills out of its svg is cut off on screen
          const spilled = Array.from(figure.querySelectorAll('svg text'))
            .filter((t) => {
              const b = t.getBoundingClientRect();
              return b.left < svg.left - 1 || b.right > svg.right + 1 || b.top < svg.top - 1 || b.bottom > svg.bottom + 1;
            })
            .map((t) => t.textContent);
          const smallest = Math.min(...Array.from(figure.querySelectorAll('svg text')).map((t) => parseFloat(getComputedStyle(t).fontSize)));
          return { name: figure.getAttribute('data-chart'), width: box.width, height: box.height, points: points.length, drawn: drawn.length, spilled, smallest };
        }),
      );
      expect(charts.map((c) => c.name).sort()).toEqual(Object.keys(EXPECTED_POINTS).sort());
      for (const c of charts) {
        expect(c.width * c.height, `chart ${c.name} has no area`).toBeGreaterThan(0);
        expect(c.points, `chart ${c.name}`).toBe(EXPECTED_POINTS[c.name!]);
        expect(c.drawn, `chart ${c.name}: marks with zero size`).toBe(c.points);
        expect(c.spilled, `chart ${c.name}: text outside the chart`).toEqual([]);
        expect(c.smallest, `chart ${c.name}: text under 11px`).toBeGreaterThanOrEqual(11);
      }
      // the two half-width curve charts share a row
      const tops = await report.page.evaluate(() =>
        ['loss-vit', 'accuracy-vit'].map((n) => document.querySelector(`figure[data-chart="${n}"]`)!.getBoundingClientRect().top),
      );
      expect(tops[0]).toBe(tops[1]);
      expect(report.requests).toEqual([]);
      expect(report.errors).toEqual([]);
    } finally {
      await report.close();
    }
  }, 120_000);

  it('saves a full-page screenshot', async () => {
    requireChromium();
    const pngPath = join(dir, 'report.png');
    await screenshotReport(htmlPath, pngPath);
    const png = await readFile(pngPath);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR: width and height, big-endian, right after the signature and chunk header
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    expect(width).toBeGreaterThanOrEqual(1300);
    expect(height).toBeGreaterThan(3000); // the whole page, not the first screen
    expect((await stat(pngPath)).size).toBeGreaterThan(100_000);
  }, 120_000);
});
