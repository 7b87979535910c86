// `ptq`: post-training ternary quantization of a trained float model folder, with the methods
// of @bitvit/bitnet, measured against the float model on the test set; writes report.json and,
// when every quantized layer fits the packed format, a packed model folder.
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { Generator, Tensor, noGrad } from '@bitvit/tensor';
import { compareModels, layerOutputErrors, ptqToTernary, quantizePTQ, savePacked, storageReport, type PTQOptions } from '@bitvit/bitnet';
import { loadPreprocessor, writeFileAtomic } from '@bitvit/vit';
import { bool, formatHelp, num, parseFlags, str, UsageError, type FlagTable } from '../args.js';
import { forEachBatch } from '../evaluate.js';
import { makeBatch, permutation } from '../data/index.js';
import { loadModel } from '../models.js';
import { loadModelAndData } from './common.js';

export const PTQ_FLAGS: FlagTable = {
  model: { type: 'string', help: 'trained float model folder' },
  data: { type: 'string', default: 'mnist', help: 'data for calibration (train split) and evaluation (test split)' },
  method: { type: 'string', default: 'twn-refit', choices: ['absmean', 'twn', 'absmean-refit', 'twn-refit', 'gptq', 'two-plane'], help: 'how ternary codes and scales are chosen' },
  granularity: { type: 'string', default: 'channel', choices: ['tensor', 'channel'], help: 'scales per tensor or per output channel' },
  asymmetric: { type: 'boolean', default: false, help: 'a per-channel zero point (levels beta-alpha, beta, beta+alpha)' },
  include: { type: 'string', default: '', help: 'comma-separated globs of Linear names to quantize (default all)' },
  exclude: { type: 'string', default: '', help: 'comma-separated globs to keep float, e.g. classifier' },
  activations: { type: 'string', default: 'dynamic', choices: ['none', 'dynamic', 'static'], help: '8-bit activations per token, calibrated per layer, or float' },
  calibration: { type: 'int', default: 256, min: 1, help: 'training images for calibration (static activations, gptq)' },
  'eval-limit': { type: 'int', min: 1, help: 'test images to measure on (default all)' },
  'batch-size': { type: 'int', default: 250, min: 1, help: 'evaluation batch size' },
  seed: { type: 'int', default: 42, help: 'seed of the calibration sample' },
  out: { type: 'string', help: 'output folder for report.json (and model-packed/)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
};

const globs = (s: string | undefined): string[] => (s ? s.split(',').map((g) => g.trim()).filter(Boolean) : []);

export async function ptqCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags(argv, PTQ_FLAGS, 'ptq');
  if (bool(f, 'help')) {
    console.log(formatHelp('ptq', 'quantize a trained float model to ternary weights after training', PTQ_FLAGS));
    return 0;
  }
  const modelDir = str(f, 'model');
  const out = str(f, 'out');
  if (!modelDir) throw new UsageError('ptq: --model <dir> is required');
  if (!out) throw new UsageError('ptq: --out <dir> is required');
  const { model: float, data, norm } = await loadModelAndData(modelDir, str(f, 'data')!);
  const quant = await loadModel(modelDir);
  quant.eval();

  // Calibration: a seeded sample of training images.
  const g = new Generator(`${num(f, 'seed')}/calibration`);
  const pick = permutation(data.train.count, () => g.random()).subarray(0, num(f, 'calibration')!);
  const shape = [data.train.channels, data.train.height, data.train.width];
  const calibration: Tensor[] = [];
  for (let i = 0; i < pick.length; i += 64) {
    const idx = pick.subarray(i, i + 64);
    calibration.push(new Tensor(Float32Array.from(makeBatch(data.train, idx, norm).images), [idx.length, ...shape]));
  }
  const options: PTQOptions = {
    method: str(f, 'method') as PTQOptions['method'],
    granularity: str(f, 'granularity') as PTQOptions['granularity'],
    symmetric: !bool(f, 'asymmetric'),
    include: globs(str(f, 'include')),
    exclude: globs(str(f, 'exclude')),
    activations: str(f, 'activations') as PTQOptions['activations'],
    calibration,
  };
  const t0 = performance.now();
  const report = quantizePTQ(quant, options);
  const seconds = (performance.now() - t0) / 1000;

  const batches: Array<{ x: Tensor; labels: Int32Array }> = [];
  forEachBatch(data.test, norm, num(f, 'batchSize')!, num(f, 'evalLimit'), (x, labels) => batches.push({ x, labels: Int32Array.from(labels) }));
  const comparison = compareModels(float, quant, batches);
  const layers = noGrad(() => layerOutputErrors(float, quant, batches[0]!.x));

  await mkdir(out, { recursive: true });
  const { converted, kept } = ptqToTernary(quant);
  let packed: string | null = null;
  if (kept.length === 0 && converted.length > 0) {
    packed = join(out, 'model-packed');
    await savePacked(quant, packed, { configJson: quant.config.toJson() as Record<string, unknown>, scheme: 'i2', preprocessor: await loadPreprocessor(modelDir) });
  }
  const result = {
    model: modelDir,
    options: report.options,
    seconds,
    ...comparison,
    storage: storageReport(quant).bytes,
    layers: report.layers,
    layerOutputErrors: layers,
    packed,
    notPacked: kept,
  };
  await writeFileAtomic(join(out, 'report.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({
    out, float_accuracy: comparison.floatAccuracy, quant_accuracy: comparison.quantAccuracy,
    top1_agreement: comparison.top1Agreement, mean_kl: comparison.meanKL, packed,
  }));
  return 0;
}
