// Evaluation: accuracy and mean cross entropy of a model over a dataset, in eval mode without a graph.
import { Tensor, noGrad, recycleMemory, tidy } from '@bitvit/tensor';
import { crossEntropy } from '@bitvit/nn';
import type { ImageClassifier } from '@bitvit/vit';
import { makeBatch, type ImageDataset, type Normalization } from './data/index.js';

export interface EvalResult {
  accuracy: number;
  loss: number;
  count: number;
  imagesPerSecond: number;
}

/** The dataset in order, batch by batch (the last batch may be smaller). */
export function* batches(ds: ImageDataset, norm: Normalization, batchSize: number, limit: number | undefined): Generator<{ x: Tensor; labels: Int32Array; start: number }> {
  const n = Math.min(ds.count, limit ?? ds.count);
  const shape = [ds.channels, ds.height, ds.width];
  const buf = new Float32Array(batchSize * ds.channels * ds.height * ds.width);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const idx = Array.from({ length: count }, (_, i) => start + i);
    const { images, labels } = makeBatch(ds, idx, norm, { out: buf });
    yield { x: new Tensor(Float32Array.from(images), [count, ...shape]), labels, start };
  }
}

/** Run `fn` over the dataset in order, batch by batch (the last batch may be smaller). */
export function forEachBatch(
  ds: ImageDataset, norm: Normalization, batchSize: number, limit: number | undefined,
  fn: (x: Tensor, labels: Int32Array, start: number) => void,
): number {
  for (const { x, labels, start } of batches(ds, norm, batchSize, limit)) fn(x, labels, start);
  return Math.min(ds.count, limit ?? ds.count);
}

export interface EvaluateOptions {
  batchSize?: number;
  limit?: number;
  onBatch?: (done: number, total: number) => void;
}

/** Accuracy and mean cross entropy over the dataset, in eval mode without a graph. */
export function evaluate(model: ImageClassifier, ds: ImageDataset, norm: Normalization, opts: EvaluateOptions = {}): EvalResult {
  const run = evaluation(model, ds, opts);
  for (const b of batches(ds, norm, opts.batchSize ?? 256, opts.limit)) run.batch(b);
  return run.finish();
}

/**
 * evaluate() that yields to the event loop after each batch, so the storage pool takes the
 * batch's arrays back (@bitvit/tensor's recycleMemory): what the Trainer and the CLI use. A
 * synchronous loop over thousands of images runs into the pool's cap and then on plain arrays.
 */
export async function evaluateAsync(model: ImageClassifier, ds: ImageDataset, norm: Normalization, opts: EvaluateOptions = {}): Promise<EvalResult> {
  const run = evaluation(model, ds, opts);
  for (const b of batches(ds, norm, opts.batchSize ?? 256, opts.limit)) {
    run.batch(b);
    await recycleMemory();
  }
  return run.finish();
}

/** One evaluation's running sums: batch() per batch (eval mode, no graph), then finish(). */
function evaluation(model: ImageClassifier, ds: ImageDataset, opts: EvaluateOptions): {
  batch(b: { x: Tensor; labels: Int32Array; start: number }): void;
  finish(): EvalResult;
} {
  const wasTraining = model.training;
  model.eval();
  const total = Math.min(ds.count, opts.limit ?? ds.count);
  let correct = 0;
  let lossSum = 0;
  const t0 = performance.now();
  return {
    batch({ x, labels, start }) {
      // tidy: the batch's activations go back to the storage pool at once
      tidy(() =>
        noGrad(() => {
          const logits = model.forward(x);
          lossSum += crossEntropy(logits, labels).item() * labels.length;
          const pred = logits.argmax(-1).data;
          for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
        }),
      );
      opts.onBatch?.(start + labels.length, total);
    },
    finish() {
      const seconds = (performance.now() - t0) / 1000;
      model.train(wasTraining);
      const n = total;
      return { accuracy: n ? correct / n : 0, loss: n ? lossSum / n : 0, count: n, imagesPerSecond: n / Math.max(seconds, 1e-9) };
    },
  };
}
