// The study pipeline behind `pnpm study`: the comparison the seed study made (BITNET.md section
// 5), rebuilt from scratch on one dataset and extended (BITNET.md section 2):
//
//   1. a float ViT trained from scratch;
//   2. a float DeiT distilled from that ViT (hard distillation);
//   3. the BitNet b1.58 QAT twins of both, with the same budget (epochs/steps, batch, data, seed;
//      the QAT DeiT distilled from the float ViT too);
//   4. PTQ of both float models with every method of @bitvit/bitnet;
//   5. for every model: accuracy, error against its float twin, throughput (float32, fake-quant,
//      packed ternary), storage per scheme, ternary shares, training curves;
//   6. study.json, RESULTS.md, report.html and report.png.
//
// Each training run is an ordinary `train` run in its own subfolder, built from the same flag
// table as `pnpm train:fp` / `train:qat` (so a model's command in RESULTS.md reproduces it).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, Tensor, noGrad, tidy } from '@bitvit/tensor';
import {
  QuantizedLinear, TernaryTracker, compareModels, layerOutputErrors, packedBytes, ptqToTernary, quantizePTQ, storageReport, toPacked,
  type ForwardFn, type ModelComparison, type PTQOptions,
} from '@bitvit/bitnet';
import type { ImageClassifier } from '@bitvit/vit';
import { Trainer, type TrainOptions, type TrainSummary } from '../trainer.js';
import { trainOptionsFromFlags } from '../commands/train.js';
import { loadModelAndData } from '../commands/common.js';
import { forEachBatch } from '../evaluate.js';
import { makeBatch, permutation, type ImageDataset, type Normalization } from '../data/index.js';
import { loadModel } from '../models.js';
import { Progress } from '../progress.js';
import { renderResultsMarkdown } from './report-md.js';
import { renderReportHtml } from './report-html.js';
import { CHROMIUM_PATH, screenshotReport } from './screenshot.js';
import type { CurvePoint, LayerErrors, PTQResult, QuantError, StudyModel, StudyResults, Throughput } from './results.js';

export interface StudyOptions {
  /** The float ViT preset, `vit-<size>`; the DeiT is `deit-<size>`. */
  model: string;
  data: string;
  out: string;
  seed: number;
  /** The whole pipeline on a tiny budget (minutes on two cores): a check that it works, not results. */
  quick: boolean;
  /** Budget overrides (default: the train command's defaults, or the quick budget). */
  epochs?: number;
  steps?: number;
  batchSize?: number;
  limitTrain?: number;
  limitTest?: number;
  /** Training images for PTQ calibration (static activation scales, GPTQ). */
  calibration?: number;
  /** Also copy RESULTS.md and report.png into the repository's docs/ folder. */
  docs: boolean;
  /** Take the report.png screenshot (skipped with a note when Chromium is missing). */
  screenshot: boolean;
  /** The command line that started the study, for study.json and RESULTS.md. */
  command: string;
  quiet: boolean;
}

export interface StudyOutput {
  results: StudyResults;
  files: { json: string; markdown: string; html: string; png: string | null };
}

/**
 * The quick budget: every phase runs, on a few dozen steps and a few hundred images. The warmup
 * shrinks with the steps (the train command's default warmup would outlast the run), and no
 * validation split (its evaluation after every epoch would cost more than the training).
 */
const QUICK = { steps: 32, batchSize: 32, limitTrain: 1024, limitTest: 500, warmup: 4, logEvery: 2, calibration: 64 };

/** Timed rounds of the throughput measurement (the median is reported) and batch-1 images per round. */
const TIMING = { quick: { rounds: 5, singles: 16 }, full: { rounds: 7, singles: 64 } };

// ---------------------------------------------------------------------------------------------
// Training: four Trainer runs

interface TrainedRun {
  id: string;
  family: 'vit' | 'deit';
  kind: 'float' | 'qat';
  preset: string;
  teacher?: string;
  floatTwin?: string;
  out: string;
  /** The `pnpm train:*` command line that repeats this run, and the options it stands for. */
  command: string;
  options: TrainOptions;
  summary: TrainSummary;
}

/** The flags every run shares: data, seed and the budget. */
function budgetFlags(o: StudyOptions): string[] {
  const flags = ['--data', o.data, '--seed', String(o.seed)];
  const add = (name: string, value: number | undefined): void => {
    if (value !== undefined) flags.push(`--${name}`, String(value));
  };
  if (o.quick) {
    add('steps', o.steps ?? (o.epochs === undefined ? QUICK.steps : undefined));
    add('epochs', o.epochs);
    add('batch-size', o.batchSize ?? QUICK.batchSize);
    add('limit-train', o.limitTrain ?? QUICK.limitTrain);
    add('limit-test', o.limitTest ?? QUICK.limitTest);
    add('warmup', QUICK.warmup);
    add('log-every', QUICK.logEvery);
    flags.push('--val-split', '0', '--checkpoint-every', '0');
  } else {
    add('epochs', o.epochs);
    add('steps', o.steps);
    add('batch-size', o.batchSize);
    add('limit-train', o.limitTrain);
    add('limit-test', o.limitTest);
  }
  return flags;
}

async function trainOne(
  o: StudyOptions, spec: Omit<TrainedRun, 'out' | 'command' | 'options' | 'summary'>, log: (line: string) => void,
): Promise<TrainedRun> {
  const out = join(o.out, spec.id);
  const flags = ['--model', spec.preset, ...budgetFlags(o), '--out', out];
  if (spec.teacher) flags.push('--teacher', join(o.out, spec.teacher, 'model'), '--distillation', 'hard');
  const parsed = trainOptionsFromFlags(spec.kind === 'qat' ? ['--qat', ...flags] : flags);
  if (parsed === 'help' || 'resume' in parsed) throw new Error('study: internal error, train flags parsed to help/resume');
  const options: TrainOptions = { ...parsed, quiet: o.quiet };
  const command = `pnpm train:${spec.kind === 'qat' ? 'qat' : 'fp'} ${flags.join(' ')}`;
  log(`study: training ${spec.id}: ${command}`);
  const summary = await new Trainer(options).run();
  log(`study: ${spec.id}: test accuracy ${(100 * summary.test_accuracy).toFixed(2)}% after ${summary.steps} steps, ${summary.train_images_per_s.toFixed(0)} train img/s`);
  return { ...spec, out, command, options, summary };
}

/** The training curve: metrics.jsonl's per-window lines (not the eval lines). */
async function readCurve(runDir: string): Promise<CurvePoint[]> {
  const text = await readFile(join(runDir, 'metrics.jsonl'), 'utf8');
  const points: CurvePoint[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    if (r['type'] !== undefined) continue;
    points.push({ step: r['step'] as number, epoch: r['epoch'] as number, loss: r['loss'] as number, accuracy: r['accuracy'] as number, lr: r['lr'] as number });
  }
  return points;
}

// ---------------------------------------------------------------------------------------------
// Measuring models

/** The test set as batches, loaded once and shared by every comparison. */
interface EvalSet {
  batches: Array<{ x: Tensor; labels: Int32Array }>;
  /** The first (up to) 64 test images: throughput at batch 64 and per-layer errors. */
  batch64: Tensor;
  /** Single images for the batch-1 throughput. */
  singles: Tensor[];
  train: ImageDataset;
  norm: Normalization;
}

async function loadEvalSet(floatModelDir: string, o: StudyOptions, limitTest: number | undefined, singles: number): Promise<EvalSet> {
  const { data, norm } = await loadModelAndData(floatModelDir, o.data);
  const batches: EvalSet['batches'] = [];
  forEachBatch(data.test, norm, 250, limitTest, (x, labels) => batches.push({ x, labels: Int32Array.from(labels) }));
  const first = batches[0]!.x;
  const n64 = Math.min(64, first.shape[0]!);
  const batch64 = first.narrow(0, 0, n64);
  const count = Math.min(singles, n64);
  return { batches, batch64, singles: Array.from({ length: count }, (_, i) => batch64.narrow(0, i, 1)), train: data.train, norm };
}

/**
 * A forward that answers the float model from a cache: every comparison runs the same float
 * model on the same test batches, so its logits are computed once (PTQ rows then cost one
 * forward each, not two).
 */
function cachedFloatForward(floatModel: ImageClassifier): ForwardFn {
  const cache = new Map<Tensor, Tensor>();
  return (model, x) => {
    if (model !== floatModel) return (model as ImageClassifier).forward(x);
    let y = cache.get(x);
    if (!y) cache.set(x, (y = floatModel.forward(x)));
    return y;
  };
}

function quantError(c: ModelComparison): QuantError {
  return { top1Agreement: c.top1Agreement, meanKL: c.meanKL, logitMSE: c.logitMSE };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export type ExecutionPath = 'float' | 'fakeQuant' | 'packed';

/** Seconds of one call of fn. */
function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

/**
 * Inference images/s of several models, forward only (eval mode, no graph): batch 64 as one
 * forward of 64 images, batch 1 as the single images one after another. One warmup each
 * (kernels compiled, workers started, buffers allocated), then timed rounds that take the models
 * in turn, so a burst of load from another process on the shared machine hits every path alike;
 * each path reports the median of its rounds.
 */
export function measureThroughput(
  models: Partial<Record<ExecutionPath, ImageClassifier>>, batch64: Tensor, singles: Tensor[], rounds: number,
): Partial<Record<ExecutionPath, Throughput>> {
  const paths = Object.entries(models) as Array<[ExecutionPath, ImageClassifier]>;
  return noGrad(() => {
    for (const [, model] of paths) {
      model.eval();
      model.forward(batch64);
      for (const x of singles.slice(0, 4)) model.forward(x);
    }
    const b64 = new Map(paths.map(([p]) => [p, [] as number[]]));
    const b1 = new Map(paths.map(([p]) => [p, [] as number[]]));
    for (let r = 0; r < rounds; r++) {
      // each forward inside tidy(): its activations go back to the storage pool at once, as in a
      // server (this loop never yields, so without it the pool would run to its cap)
      for (const [path, model] of paths) b64.get(path)!.push(batch64.shape[0]! / timed(() => tidy(() => void model.forward(batch64))));
      for (const [path, model] of paths) b1.get(path)!.push(singles.length / timed(() => singles.forEach((x) => tidy(() => void model.forward(x)))));
    }
    return Object.fromEntries(paths.map(([p]) => [p, { batch1: median(b1.get(p)!), batch64: median(b64.get(p)!) }]));
  });
}

// ---------------------------------------------------------------------------------------------
// PTQ

type Selection = 'all' | 'all but classifier' | 'all but first and last blocks' | 'MLP only' | 'attention only';

export interface PTQConfig {
  method: PTQOptions['method'];
  granularity: 'tensor' | 'channel';
  symmetric: boolean;
  layers: Selection;
  activations: 'none' | 'dynamic' | 'static';
}

/**
 * The layer selections as include/exclude globs on Hugging Face names. The MLP's second layer is
 * `<prefix>.encoder.layer.N.output.dense` and the attention's output projection is
 * `<prefix>.encoder.layer.N.attention.output.dense`: `*` stays inside one dotted segment, so the
 * MLP globs do not reach into the attention.
 */
export function layerSelection(model: ImageClassifier, layers: Selection): { include: string[]; exclude: string[] } {
  const heads = model.config.modelType === 'deit' ? ['cls_classifier', 'distillation_classifier'] : ['classifier'];
  const last = model.config.numHiddenLayers - 1;
  switch (layers) {
    case 'all': return { include: [], exclude: [] };
    case 'all but classifier': return { include: [], exclude: heads };
    case 'all but first and last blocks': return { include: [], exclude: ['*.encoder.layer.0.**', `*.encoder.layer.${last}.**`, ...heads] };
    case 'MLP only': return { include: ['*.encoder.layer.*.intermediate.dense', '*.encoder.layer.*.output.dense'], exclude: [] };
    case 'attention only': return { include: ['*.encoder.layer.*.attention.**'], exclude: [] };
  }
}

export function ptqLabel(c: PTQConfig): string {
  const acts = c.activations === 'none' ? 'float acts' : `a8 ${c.activations}`;
  return `${c.method} / ${c.granularity} / ${c.symmetric ? 'sym' : 'asym'} / ${c.layers} / ${acts}`;
}

/**
 * The first sweep: each weight-only method at each granularity, symmetric and asymmetric, every
 * layer, 8-bit dynamic activations (absmean-refit symmetric only: its asymmetric form differs
 * from twn-refit's only in the threshold).
 */
export function baseSweep(): PTQConfig[] {
  const rows: PTQConfig[] = [];
  for (const method of ['absmean', 'twn', 'twn-refit', 'absmean-refit'] as const) {
    for (const granularity of ['tensor', 'channel'] as const) {
      for (const symmetric of [true, false]) {
        if (method === 'absmean-refit' && !symmetric) continue;
        rows.push({ method, granularity, symmetric, layers: 'all', activations: 'dynamic' });
      }
    }
  }
  return rows;
}

/** The second sweep, on the best of the first: layer selections, static and float activations, GPTQ and two planes. */
export function variantSweep(best: PTQConfig): PTQConfig[] {
  const rows: PTQConfig[] = [];
  for (const layers of ['all but classifier', 'all but first and last blocks', 'MLP only', 'attention only'] as const) rows.push({ ...best, layers });
  for (const activations of ['static', 'none'] as const) rows.push({ ...best, activations });
  // The error-compensating methods at per-channel symmetric (what packs into the ternary format)
  // and at the best configuration's granularity and symmetry.
  for (const method of ['gptq', 'two-plane'] as const) {
    const shapes = [{ granularity: 'channel' as const, symmetric: true }, { granularity: best.granularity, symmetric: best.symmetric }];
    for (const s of shapes.filter((s, i) => i === 0 || s.granularity !== shapes[0]!.granularity || s.symmetric !== shapes[0]!.symmetric)) {
      rows.push({ method, ...s, layers: 'all', activations: 'dynamic' });
    }
  }
  return rows;
}

/**
 * Bytes of a PTQ model under the i2 scheme. Symmetric single-plane layers with dynamic or float
 * activations become TernaryLinear (ptqToTernary), which storageReport counts: 2 bits a code
 * plus float32 scales. The others (zero points, two planes, static scales) have no packed format
 * yet, so they are counted by hand the same way: 2 bits a code per plane, float32 scales, zero
 * points and static activation scale. Layers left float count as float32.
 */
export function ptqStorageBytes(model: ImageClassifier): number {
  ptqToTernary(model);
  let bytes = storageReport(model).bytes.i2; // float tensors (QuantizedLinear biases included) + TernaryLinear layers
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof QuantizedLinear)) continue;
    const w = m.weights;
    const scalars = w.planes.reduce((n, p) => n + p.alpha.length, 0) + (w.beta?.length ?? 0) + (m.activationScale !== null ? 1 : 0);
    bytes += w.planes.length * packedBytes('i2', w.rows, w.cols) + 4 * scalars;
  }
  return bytes;
}

interface PTQRun {
  result: PTQResult;
  layerErrors: LayerErrors['layers'];
}

async function runPTQ(
  base: TrainedRun, floatModel: ImageClassifier, config: PTQConfig, ev: EvalSet, calibration: Tensor[], forward: ForwardFn,
): Promise<PTQRun> {
  const quant = await loadModel(join(base.out, 'model'));
  quant.eval();
  const t0 = performance.now();
  quantizePTQ(quant, {
    method: config.method, granularity: config.granularity, symmetric: config.symmetric, activations: config.activations,
    ...layerSelection(quant, config.layers), calibration,
  });
  const seconds = (performance.now() - t0) / 1000;
  const c = compareModels(floatModel, quant, ev.batches, { forward });
  const layers = noGrad(() => layerOutputErrors(floatModel, quant, ev.batch64)).map((l) => ({ name: l.name, relMSE: l.relMSE }));
  return {
    result: {
      base: base.id, label: ptqLabel(config), ...config, testAccuracy: c.quantAccuracy!, quantError: quantError(c), storageBytes: ptqStorageBytes(quant), seconds,
    },
    layerErrors: layers,
  };
}

/** The lowest KL against the float model: the closest method, chosen without looking at labels. */
function closest(rows: PTQRun[]): PTQRun {
  return rows.reduce((a, r) => (r.result.quantError.meanKL < a.result.quantError.meanKL ? r : a));
}

/** A seeded sample of training images, in batches of 64, for calibration. */
function calibrationBatches(ev: EvalSet, count: number, seed: number): Tensor[] {
  const g = new Generator(`${seed}/calibration`);
  const pick = permutation(ev.train.count, () => g.random()).subarray(0, Math.min(count, ev.train.count));
  const shape = [ev.train.channels, ev.train.height, ev.train.width];
  const out: Tensor[] = [];
  for (let i = 0; i < pick.length; i += 64) {
    const idx = pick.subarray(i, i + 64);
    out.push(new Tensor(Float32Array.from(makeBatch(ev.train, idx, ev.norm).images), [idx.length, ...shape]));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/** The repository root (docs/ lives there): four folders up from src/study or dist/study. */
export function repoRoot(): string {
  return fileURLToPath(new URL('../../../../', import.meta.url));
}

export async function runStudy(o: StudyOptions): Promise<StudyOutput> {
  const started = performance.now();
  const progress = new Progress(process.stderr);
  const log = (line: string): void => {
    if (!o.quiet) progress.log(line);
  };
  // Wall and CPU seconds per phase: on a shared machine the two differ, and the CPU time says what the phase costs.
  let phaseStart = { wall: performance.now(), cpu: process.cpuUsage() };
  const phaseDone = (name: string): void => {
    const cpu = process.cpuUsage(phaseStart.cpu);
    log(`study: ${name} took ${((performance.now() - phaseStart.wall) / 1000).toFixed(1)} s (${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU)`);
    phaseStart = { wall: performance.now(), cpu: process.cpuUsage() };
  };
  const m = /^vit-(.+)$/.exec(o.model);
  if (!m) throw new Error(`study: --model takes a vit-<size> preset (the DeiT is deit-<size>), got "${o.model}"`);
  const vitPreset = o.model;
  const deitPreset = `deit-${m[1]}`;
  await mkdir(o.out, { recursive: true });

  // 1-3. Training. The DeiTs need the float ViT as teacher, so it goes first.
  const vitFp = await trainOne(o, { id: 'vit-fp', family: 'vit', kind: 'float', preset: vitPreset }, log);
  const vitQat = await trainOne(o, { id: 'vit-qat', family: 'vit', kind: 'qat', preset: vitPreset, floatTwin: 'vit-fp' }, log);
  const deitFp = await trainOne(o, { id: 'deit-fp', family: 'deit', kind: 'float', preset: deitPreset, teacher: 'vit-fp' }, log);
  const deitQat = await trainOne(o, { id: 'deit-qat', family: 'deit', kind: 'qat', preset: deitPreset, floatTwin: 'deit-fp', teacher: 'vit-fp' }, log);
  const runs = [vitFp, vitQat, deitFp, deitQat];
  phaseDone('training');

  // The evaluation data: the test images the trainer measured (same limit), at the model's size.
  const limitTest = o.limitTest ?? (o.quick ? QUICK.limitTest : undefined);
  const timing = o.quick ? TIMING.quick : TIMING.full;
  const ev = await loadEvalSet(join(vitFp.out, 'model'), o, limitTest, timing.singles);
  const calibration = calibrationBatches(ev, o.calibration ?? (o.quick ? QUICK.calibration : 256), o.seed);

  // 4. PTQ of each float model: the base sweep, then the variants of its closest configuration.
  const ptq: PTQResult[] = [];
  const layerErrors: LayerErrors[] = [];
  for (const base of [vitFp, deitFp]) {
    const floatModel = await loadModel(join(base.out, 'model'));
    floatModel.eval();
    const forward = cachedFloatForward(floatModel);
    const done: PTQRun[] = [];
    const sweep = baseSweep();
    let total = sweep.length + variantSweep(sweep[0]!).length; // exact once the variants are known
    const one = async (config: PTQConfig): Promise<PTQRun> => {
      if (!o.quiet) progress.update({ label: `PTQ ${base.id}`, done: done.length, total, fields: { row: ptqLabel(config) } });
      const r = await runPTQ(base, floatModel, config, ev, calibration, forward);
      done.push(r);
      return r;
    };
    for (const config of sweep) await one(config);
    const best = closest(done);
    const bestConfig: PTQConfig = { method: best.result.method as PTQConfig['method'], granularity: best.result.granularity, symmetric: best.result.symmetric, layers: 'all', activations: 'dynamic' };
    const variants = variantSweep(bestConfig);
    total = sweep.length + variants.length;
    for (const config of variants) await one(config);
    progress.done();
    ptq.push(...done.map((r) => r.result));
    // Per-layer output errors: the study's collapsing baseline and the closest all-layer configuration.
    const absmean = done.find((r) => r.result.method === 'absmean' && r.result.granularity === 'tensor' && r.result.symmetric)!;
    const bestAll = closest(done.filter((r) => r.result.layers === 'all'));
    for (const r of bestAll === absmean ? [absmean] : [absmean, bestAll]) layerErrors.push({ base: base.id, label: r.result.label, layers: r.layerErrors });
    const top = done.reduce((a, r) => (r.result.testAccuracy > a.result.testAccuracy ? r : a));
    log(`study: PTQ of ${base.id}: ${done.length} configurations; absmean per-tensor ${(100 * absmean.result.testAccuracy).toFixed(2)}%, ` +
      `best ${top.result.label} ${(100 * top.result.testAccuracy).toFixed(2)}% (float ${(100 * base.summary.test_accuracy).toFixed(2)}%)`);
  }
  phaseDone('PTQ');

  // 5. Every model: error against its float twin, storage, ternary shares, curve; then throughput,
  // the three paths of a family measured together.
  const models: StudyModel[] = [];
  const loaded = new Map<string, ImageClassifier>();
  for (const run of runs) {
    if (!o.quiet) progress.update({ label: 'measuring', done: models.length, total: runs.length, fields: { model: run.id } }, undefined, true);
    const model = await loadModel(join(run.out, 'model'));
    model.eval();
    loaded.set(run.id, model);
    const s = run.summary;
    const entry: StudyModel = {
      id: run.id, family: run.family, kind: run.kind, preset: run.preset, params: s.params,
      testAccuracy: s.test_accuracy, testLoss: s.test_loss, trainImagesPerSecond: s.train_images_per_s, trainSeconds: s.train_seconds,
      steps: s.steps, epochs: s.epochs, curve: await readCurve(run.out), storage: { ...s.model_bytes }, throughput: {},
      command: run.command, seed: o.seed,
    };
    if (run.teacher) entry.teacher = run.teacher;
    if (run.kind === 'qat') {
      entry.floatTwin = run.floatTwin;
      if (s.packed_file_bytes !== null) entry.packedFileBytes = s.packed_file_bytes;
      entry.quantError = quantError(compareModels(loaded.get(run.floatTwin!)!, model, ev.batches));
      entry.ternaryShares = new TernaryTracker().stats(model).layers.map((l) => ({ name: l.name, minus: l.minusShare, zero: l.zeroShare, plus: l.plusShare }));
    }
    models.push(entry);
  }
  for (const qat of models.filter((m) => m.kind === 'qat')) {
    if (!o.quiet) progress.update({ label: 'throughput', done: 0, total: 1, fields: { models: `${qat.floatTwin} and ${qat.id}` } }, undefined, true);
    const float = models.find((m) => m.id === qat.floatTwin)!;
    // The packed path: a copy of the QAT model whose BitLinears become TernaryLinears on the packed kernel.
    const packed = await loadModel(join(o.out, qat.id, 'model'));
    toPacked(packed);
    const t = measureThroughput({ float: loaded.get(float.id)!, fakeQuant: loaded.get(qat.id)!, packed }, ev.batch64, ev.singles, timing.rounds);
    float.throughput = { float: t.float! };
    qat.throughput = { fakeQuant: t.fakeQuant!, packed: t.packed! };
  }
  progress.done();
  phaseDone('measuring');

  // 6. The files.
  const results: StudyResults = {
    meta: {
      command: o.command, seed: o.seed, data: o.data, quick: o.quick, date: new Date().toISOString(), node: process.version, cpus: cpus().length,
      budget: { epochs: vitFp.summary.epochs, steps: vitFp.summary.steps, batchSize: vitFp.options.batchSize },
      seconds: (performance.now() - started) / 1000,
    },
    models, ptq, layerErrors,
  };
  const files = { json: join(o.out, 'study.json'), markdown: join(o.out, 'RESULTS.md'), html: join(o.out, 'report.html'), png: null as string | null };
  await writeFile(files.json, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(files.markdown, renderResultsMarkdown(results));
  await writeFile(files.html, renderReportHtml(results));
  if (o.screenshot) files.png = await screenshot(files.html, join(o.out, 'report.png'), log);
  phaseDone('report');
  if (o.docs) {
    const docs = join(repoRoot(), 'docs');
    await mkdir(docs, { recursive: true });
    await copyFile(files.markdown, join(docs, 'RESULTS.md'));
    if (files.png) await copyFile(files.png, join(docs, 'report.png'));
    log(`study: copied RESULTS.md${files.png ? ' and report.png' : ''} to ${docs}`);
  }
  log(`study: done in ${results.meta.seconds.toFixed(0)} s; ${files.json}, ${files.markdown}, ${files.html}${files.png ? `, ${files.png}` : ''}`);
  return { results, files };
}

/** report.png via headless Chromium; without Chromium (or playwright-core) the study still finishes, with a note. */
async function screenshot(html: string, png: string, log: (line: string) => void): Promise<string | null> {
  if (!existsSync(CHROMIUM_PATH)) {
    console.error(`study: no Chromium at ${CHROMIUM_PATH}, so no report.png (apt-get install chromium, or set CHROMIUM_PATH)`);
    return null;
  }
  try {
    await screenshotReport(html, png);
    log(`study: screenshot ${png}`);
    return png;
  } catch (e) {
    console.error(`study: report.png skipped: ${(e as Error).message}`);
    return null;
  }
}
