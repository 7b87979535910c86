// Shared by the trainer, resume and CLI tests: a temporary folder and the options of a tiny,
// fast training run (vit-mnist, a few hundred MNIST images, a handful of steps).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainOptions } from '../src/index.js';

/** A fresh folder under the OS temp dir; `cleanup` removes it. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `bitvit-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The options `train` would build from its defaults, shrunk to a run of a few seconds. */
export function tinyRun(out: string, overrides: Partial<TrainOptions> = {}): TrainOptions {
  return {
    model: 'vit-mnist', qat: false, inputNorm: 'none', weightScale: 'tensor', activationBits: 8, floatHead: false,
    data: 'mnist', epochs: 1, steps: 4, batchSize: 32, evalBatchSize: 200,
    optimizer: 'adamw', lr: 2e-3, minLr: 1e-5, weightDecay: 0.05, beta1: 0.9, beta2: 0.98, momentum: 0.9,
    warmup: 2, schedule: 'cosine', labelSmoothing: 0, clipGrad: 1,
    distillation: 'hard', temperature: 3, distillAlpha: 0.5,
    augment: 'crop', flip: false, valSplit: 0, seed: 7, out,
    checkpointEvery: 0, logEvery: 1, limitTrain: 256, limitTest: 200, quiet: true,
    ...overrides,
  };
}

/** The records of a metrics.jsonl file. */
export function readMetrics(out: string): Array<Record<string, unknown>> {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
