// RESULTS.md from a StudyResults: the study's table (BITNET.md section 5) extended with PTQ,
// storage, throughput and training tables, and an "answers" section whose sentences are computed
// from the numbers (nothing here knows what the outcome will be).
//
// Units: accuracies and agreements are fractions 0..1 in the results (as evaluate() returns them)
// and print as percentages; bytes print in SI units (1 kB = 1000 bytes).
//
// The table builders and answers are exported so report.html shows the same figures.
import type { PTQResult, StudyModel, StudyResults, Throughput } from './results.js';

// ---------------------------------------------------------------------------------------------
// Formatting

/** 0.97423 -> "97.42" (percent, no sign: the header says %). */
export function percent(fraction: number, digits = 2): string {
  return Number.isFinite(fraction) ? (100 * fraction).toFixed(digits) : 'n/a';
}

/** Accuracy difference in percentage points, signed: "-1.24", "+0.30". */
export function points(delta: number): string {
  if (!Number.isFinite(delta)) return 'n/a';
  const p = 100 * delta;
  return `${p >= 0 ? '+' : '-'}${Math.abs(p).toFixed(2)}`;
}

/** 3 significant digits, the precision KL and MSE are worth ("0.360", "18.8"; whole numbers from 1000 up). */
export function sig3(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(3);
}

/** 2611.8 -> "2,612" (images/s: a whole number reads best). */
export function rate(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** SI bytes: "812 B", "62.3 kB", "1.24 MB"; three digits with the trailing zero kept ("63.0 kB") so columns line up. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (n < 999.5) return `${Math.round(n)} B`;
  const [unit, size] = n < 999.5e3 ? ['kB', 1e3] : n < 999.5e6 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(n / size).toPrecision(3)} ${unit}`;
}

/** A ratio as "8.84×". */
export function times(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(ratio >= 10 ? 1 : 2)}×` : 'n/a';
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'n/a';
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** '2026-03-14T09:26:53.000Z' -> '2026-03-14 09:26 UTC'; anything else as given. */
export function when(date: string): string {
  const d = new Date(date);
  return Number.isNaN(d.getTime()) ? date : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const FAMILY_NAMES: Record<StudyModel['family'], string> = { vit: 'ViT', deit: 'DeiT' };

export const PATH_NAMES: Record<'float' | 'fakeQuant' | 'packed', string> = { float: 'float32', fakeQuant: 'fake-quant', packed: 'packed ternary' };

/** Storage schemes in the order of the study's chart; a results file may hold more (they follow). */
export const STORAGE_SCHEMES = ['float32', 'float16', 'int8', 'i2', 't3', 'log2(3)', 'entropy'];

// ---------------------------------------------------------------------------------------------
// Pairing models and picking reference numbers

export interface ModelPair {
  family: StudyModel['family'];
  float?: StudyModel;
  qat?: StudyModel;
}

/** One pair per float model and its QAT twin (QAT models without a twin get a pair of their own). */
export function modelPairs(r: StudyResults): ModelPair[] {
  const pairs: ModelPair[] = r.models.filter((m) => m.kind === 'float').map((m) => ({ family: m.family, float: m }));
  for (const m of r.models.filter((x) => x.kind === 'qat')) {
    const pair = pairs.find((p) => p.float && p.float.id === m.floatTwin && !p.qat);
    if (pair) pair.qat = m;
    else pairs.push({ family: m.family, qat: m });
  }
  return pairs;
}

export function modelById(r: StudyResults, id: string | undefined): StudyModel | undefined {
  return r.models.find((m) => m.id === id);
}

/** The float32 throughput a model's paths are compared with: its float twin's (the float model), else its own float path. */
export function floatReference(r: StudyResults, m: StudyModel): Throughput | undefined {
  return (m.kind === 'qat' ? modelById(r, m.floatTwin)?.throughput.float : undefined) ?? m.throughput.float;
}

/** The path a QAT model is deployed with: packed ternary when measured, else fake-quant. */
function deployedPath(m: StudyModel): Throughput | undefined {
  return m.throughput.packed ?? m.throughput.fakeQuant ?? m.throughput.float;
}

/** The plain absmean per-tensor PTQ of every layer: the baseline that collapses in the study. */
export function absmeanBaseline(rows: PTQResult[]): PTQResult | undefined {
  const candidates = rows.filter((p) => p.method === 'absmean' && p.granularity === 'tensor' && p.layers === 'all');
  return candidates.find((p) => p.symmetric && p.activations === 'dynamic') ?? candidates.find((p) => p.symmetric) ?? candidates[0];
}

function best(rows: PTQResult[]): PTQResult | undefined {
  return rows.reduce<PTQResult | undefined>((a, p) => (!a || p.testAccuracy > a.testAccuracy ? p : a), undefined);
}

/** The float models PTQ was run on, in the order they first appear. */
export function ptqBases(r: StudyResults): string[] {
  return [...new Set(r.ptq.map((p) => p.base))];
}

export function storageSchemes(r: StudyResults): string[] {
  const present = new Set(r.models.flatMap((m) => Object.keys(m.storage)));
  return [...STORAGE_SCHEMES.filter((s) => present.has(s)), ...[...present].filter((s) => !STORAGE_SCHEMES.includes(s))];
}

// ---------------------------------------------------------------------------------------------
// Tables (plain text cells; each renderer escapes them for its format)

export interface Table {
  header: string[];
  /** Columns holding numbers (right-aligned). */
  numeric: boolean[];
  rows: string[][];
}

function modelName(pair: ModelPair): string {
  const preset = (pair.float ?? pair.qat)?.preset;
  return preset ? `${FAMILY_NAMES[pair.family]} (${preset})` : FAMILY_NAMES[pair.family];
}

/** The study's table: one row per family, float vs QAT, with the quantization error and throughput at batch 64. */
export function headlineTable(r: StudyResults): Table {
  const rows = modelPairs(r).map((p) => {
    const qe = p.qat?.quantError;
    const fl = p.float?.throughput.float;
    const q = p.qat ? deployedPath(p.qat) : undefined;
    return [
      modelName(p),
      p.float ? percent(p.float.testAccuracy) : 'n/a',
      p.qat ? percent(p.qat.testAccuracy) : 'n/a',
      p.float && p.qat ? points(p.qat.testAccuracy - p.float.testAccuracy) : 'n/a',
      qe ? percent(qe.top1Agreement) : 'n/a',
      qe ? sig3(qe.meanKL) : 'n/a',
      fl ? rate(fl.batch64) : 'n/a',
      q ? rate(q.batch64) : 'n/a',
    ];
  });
  return {
    header: ['model', 'float acc (%)', '1.58-bit QAT acc (%)', 'QAT - float (points)', 'top-1 agreement (%)', 'KL(float ‖ QAT)', 'float img/s (b64)', 'QAT img/s (b64, packed)'],
    numeric: [false, true, true, true, true, true, true, true],
    rows,
  };
}

export function ptqTable(r: StudyResults): Table {
  const rows = r.ptq.map((p) => {
    const base = modelById(r, p.base);
    return [
      p.base,
      p.method,
      p.granularity === 'channel' ? 'per channel' : 'per tensor',
      p.symmetric ? 'sym' : 'asym',
      p.layers,
      p.activations === 'none' ? 'float' : `8-bit ${p.activations}`,
      percent(p.testAccuracy),
      base ? points(p.testAccuracy - base.testAccuracy) : 'n/a',
      percent(p.quantError.top1Agreement),
      sig3(p.quantError.meanKL),
      sig3(p.quantError.logitMSE),
      bytes(p.storageBytes),
    ];
  });
  return {
    header: ['base', 'method', 'granularity', 'weights', 'layers', 'activations', 'accuracy (%)', 'vs float (points)', 'agreement (%)', 'KL', 'logit MSE', 'storage'],
    numeric: [false, false, false, false, false, false, true, true, true, true, true, true],
    rows,
  };
}

export function storageTable(r: StudyResults): Table {
  const schemes = storageSchemes(r);
  const rows = r.models.map((m) => {
    const f32 = m.storage.float32;
    const packed = m.packedFileBytes;
    return [
      m.id,
      ...schemes.map((s) => (m.storage[s] === undefined ? 'n/a' : bytes(m.storage[s]!))),
      packed === undefined ? '-' : bytes(packed),
      packed === undefined || f32 === undefined ? '-' : times(f32 / packed),
    ];
  });
  return {
    header: ['model', ...schemes, 'packed file', 'float32 / packed'],
    numeric: [false, ...schemes.map(() => true), true, true],
    rows,
  };
}

export function throughputTable(r: StudyResults): Table {
  const rows: string[][] = [];
  for (const m of r.models) {
    const ref = floatReference(r, m);
    for (const path of ['float', 'fakeQuant', 'packed'] as const) {
      const t = m.throughput[path];
      if (!t) continue;
      rows.push([m.id, PATH_NAMES[path], rate(t.batch1), rate(t.batch64), ref ? times(t.batch1 / ref.batch1) : 'n/a', ref ? times(t.batch64 / ref.batch64) : 'n/a']);
    }
  }
  return {
    header: ['model', 'path', 'batch 1 (img/s)', 'batch 64 (img/s)', 'vs float32 model, b1', 'vs float32 model, b64'],
    numeric: [false, false, true, true, true, true],
    rows,
  };
}

export function trainingTable(r: StudyResults): Table {
  const rows = r.models.map((m) => [
    m.id,
    m.preset,
    m.kind === 'qat' ? `BitNet QAT${m.floatTwin ? ` (twin of ${m.floatTwin})` : ''}` : 'float',
    m.teacher ?? '-',
    rate(m.params),
    String(m.epochs),
    rate(m.steps),
    rate(m.trainImagesPerSecond),
    duration(m.trainSeconds),
    percent(m.testAccuracy),
    sig3(m.testLoss),
  ]);
  return {
    header: ['model', 'preset', 'kind', 'teacher', 'params', 'epochs', 'steps', 'train img/s', 'train time', 'test acc (%)', 'test loss'],
    numeric: [false, false, false, false, true, true, true, true, true, true, true],
    rows,
  };
}

// ---------------------------------------------------------------------------------------------
// Answers: the study's four questions, each sentence computed from the numbers.

export interface Answers {
  qat: string[];
  ptq: string[];
  size: string[];
  speed: string[];
}

/** Within this many points of float, a PTQ result counts as avoiding the collapse. */
export const NEAR_FLOAT_POINTS = 1;

function speedWord(ratio: number): string {
  if (ratio > 1.05) return `${times(ratio)} faster than`;
  if (ratio < 0.95) return `${times(1 / ratio)} slower than`;
  return 'about as fast as';
}

export function studyAnswers(r: StudyResults): Answers {
  const pairs = modelPairs(r);
  const qat: string[] = [];
  for (const p of pairs) {
    if (!p.float || !p.qat) continue;
    const d = p.qat.testAccuracy - p.float.testAccuracy;
    const kept = p.qat.testAccuracy / p.float.testAccuracy;
    qat.push(
      d < 0
        ? `${FAMILY_NAMES[p.family]}: QAT reaches ${percent(p.qat.testAccuracy)}% vs ${percent(p.float.testAccuracy)}% float, ${(-100 * d).toFixed(2)} points lost (${(100 * kept).toFixed(1)}% of the float accuracy kept).`
        : `${FAMILY_NAMES[p.family]}: QAT reaches ${percent(p.qat.testAccuracy)}% vs ${percent(p.float.testAccuracy)}% float: no accuracy lost (${points(d)} points).`,
    );
  }

  const ptq: string[] = [];
  for (const baseId of ptqBases(r)) {
    const rows = r.ptq.filter((p) => p.base === baseId);
    const base = modelById(r, baseId);
    const top = best(rows);
    if (!top) continue;
    const fa = base?.testAccuracy;
    const twin = r.models.find((m) => m.kind === 'qat' && m.floatTwin === baseId);
    const parts: string[] = [];
    const absmean = absmeanBaseline(rows);
    if (absmean && fa !== undefined) parts.push(`absmean per-tensor PTQ of every layer gives ${percent(absmean.testAccuracy)}% (${points(absmean.testAccuracy - fa)} points vs float ${percent(fa)}%)`);
    const vsAbsmean = absmean && absmean !== top ? `, ${points(top.testAccuracy - absmean.testAccuracy)} vs absmean` : '';
    const vsFloat = fa !== undefined ? ` (${points(top.testAccuracy - fa)} points vs float${vsAbsmean})` : '';
    parts.push(`the best PTQ, ${top.label}, reaches ${percent(top.testAccuracy)}%${vsFloat}`);
    let verdict: string;
    if (fa === undefined) verdict = 'no float accuracy to compare with';
    else if (top.testAccuracy >= fa - NEAR_FLOAT_POINTS / 100) verdict = `so PTQ avoids the collapse (within ${NEAR_FLOAT_POINTS} point of float)`;
    else if (twin && top.testAccuracy >= twin.testAccuracy) verdict = `so it beats QAT (${percent(twin.testAccuracy)}%) but stays more than ${NEAR_FLOAT_POINTS} point below float`;
    else verdict = `so no PTQ method avoids the collapse: all stay more than ${NEAR_FLOAT_POINTS} point below float${twin ? ` and below QAT (${percent(twin.testAccuracy)}%)` : ''}`;
    parts.push(verdict);
    const allTernary = best(rows.filter((p) => p.layers === 'all'));
    if (top.layers !== 'all' && allTernary)
      parts.push(`it keeps some layers float (${top.layers}, ${bytes(top.storageBytes)}); with every layer ternary the best is ${allTernary.label} at ${percent(allTernary.testAccuracy)}% (${bytes(allTernary.storageBytes)})`);
    ptq.push(`${baseId}: ${parts.join('; ')}.`);
  }

  const size: string[] = [];
  for (const m of r.models) {
    if (m.packedFileBytes === undefined) continue;
    const f32 = m.storage.float32;
    const denser = m.storage.t3 !== undefined && m.storage.t3 < m.packedFileBytes ? `; the denser t3 packing would take ${bytes(m.storage.t3)}` : '';
    size.push(
      f32 !== undefined
        ? `${m.id}: the packed model file is ${bytes(m.packedFileBytes)} (${rate(m.packedFileBytes)} bytes), ${times(f32 / m.packedFileBytes)} smaller than float32 (${bytes(f32)})${denser}.`
        : `${m.id}: the packed model file is ${bytes(m.packedFileBytes)} (${rate(m.packedFileBytes)} bytes).`,
    );
  }

  const speed: string[] = [];
  for (const m of r.models) {
    const packed = m.throughput.packed;
    const ref = floatReference(r, m);
    if (!packed || !ref) continue;
    const fake = m.throughput.fakeQuant;
    const vsFake = fake ? ` Fake-quant runs ${rate(fake.batch1)} and ${rate(fake.batch64)} img/s.` : '';
    speed.push(
      `${m.id}: packed ternary inference runs ${rate(packed.batch1)} img/s at batch 1 and ${rate(packed.batch64)} at batch 64, ` +
        `${speedWord(packed.batch1 / ref.batch1)} float32 at batch 1 (${rate(ref.batch1)} img/s) and ${speedWord(packed.batch64 / ref.batch64)} float32 at batch 64 (${rate(ref.batch64)} img/s).${vsFake}`,
    );
  }
  return { qat, ptq, size, speed };
}

export const ANSWER_QUESTIONS: Record<keyof Answers, string> = {
  qat: 'How much accuracy does QAT keep?',
  ptq: 'Does any PTQ method avoid the collapse?',
  size: 'How large is the packed model?',
  speed: 'How much faster is packed ternary inference?',
};

// ---------------------------------------------------------------------------------------------
// Markdown

/** Text safe in a Markdown table cell: no pipes or newlines breaking the row, no stray emphasis or HTML. */
export function mdText(text: string): string {
  return text.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');
}

/** Inline code with a fence longer than any backtick run inside; pipes escaped (GFM splits cells on them even in code). */
export function mdCode(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')}${pad}${fence}`;
}

export function mdTable(t: Table): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [
    line(t.header.map(mdText)),
    line(t.numeric.map((n) => (n ? '---:' : '---'))),
    ...t.rows.map((row) => line(row.map(mdText))),
  ].join('\n');
}

function provenance(r: StudyResults): string {
  return `Produced by ${mdCode(r.meta.command)} (seed ${r.meta.seed}).`;
}

export function renderResultsMarkdown(r: StudyResults): string {
  const m = r.meta;
  const answers = studyAnswers(r);
  const out: string[] = [];
  out.push('# Results: float vs BitNet b1.58 ViT and DeiT');
  out.push('');
  out.push(
    `Data ${mdCode(m.data)}, seed ${m.seed}, ${m.quick ? '**quick run** (tiny budget: the numbers only show the pipeline works)' : 'full run'}; ` +
      `budget ${m.budget.epochs} epochs / ${rate(m.budget.steps)} steps at batch ${m.budget.batchSize}; ` +
      `${when(m.date)}, Node ${mdText(m.node)} on ${m.cpus} CPUs, ${duration(m.seconds)} in all.`,
  );
  out.push('');
  out.push(`Command: ${mdCode(m.command)}. Accuracies are on the test set; 1 kB = 1000 bytes.`);
  out.push('');
  out.push('## Answers');
  out.push('');
  for (const key of Object.keys(ANSWER_QUESTIONS) as Array<keyof Answers>) {
    out.push(`**${ANSWER_QUESTIONS[key]}**`);
    out.push('');
    const lines = answers[key];
    out.push(...(lines.length ? lines.map((l) => `- ${mdText(l)}`) : ['- Not measured in this run.']));
    out.push('');
  }
  out.push("## The study's table");
  out.push('');
  out.push(mdTable(headlineTable(r)));
  out.push('');
  out.push(
    'Quantization error is the QAT model against its float twin on the test set. Throughput is images/s at batch 64, forward only: ' +
      'the float model in float32, the QAT model with packed ternary kernels (fake-quant where no packed figure exists). ' +
      `${provenance(r)} Each model's own command is under [Training](#training).`,
  );
  out.push('');
  out.push('## Post-training quantization');
  out.push('');
  if (r.ptq.length) {
    out.push(mdTable(ptqTable(r)));
    out.push('');
    out.push(
      `The trained float models quantized after training, without retraining. Agreement, KL and logit MSE are against the float model. ` +
        `Storage is the model under the i2 scheme with the layers left float in float32. ${provenance(r)}`,
    );
  } else out.push('No PTQ results in this run.');
  out.push('');
  out.push('## Storage');
  out.push('');
  out.push(mdTable(storageTable(r)));
  out.push('');
  out.push(
    'The whole model under each scheme (ternary weights at the scheme\'s bits plus float32 scales; everything else float32, float16 in the float16 column), ' +
      `and the packed model.safetensors on disk. ${provenance(r)}`,
  );
  out.push('');
  out.push('## Throughput');
  out.push('');
  out.push(mdTable(throughputTable(r)));
  out.push('');
  out.push(`Forward only, images/s; speedups are against the float model in float32 at the same batch size. ${provenance(r)}`);
  out.push('');
  out.push('## Training');
  out.push('');
  out.push(mdTable(trainingTable(r)));
  out.push('');
  out.push('Each model was trained by:');
  out.push('');
  for (const model of r.models) out.push(`- ${mdText(model.id)}: ${mdCode(model.command)} (seed ${model.seed})`);
  out.push('');
  return out.join('\n');
}
