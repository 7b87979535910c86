// Evaluation: accuracy and mean cross entropy of a model over a dataset, in eval mode without a graph.
import { Tensor, noGrad } from '@bitvit/tensor';
import { crossEntropy } from '@bitvit/nn';
import type { ImageClassifier } from '@bitvit/vit';
import { makeBatch, type ImageDataset, type Normalization } from './data/index.js';

export interface EvalResult {
  accuracy: number;
  loss: number;
  count: number;
  imagesPerSecond: number;
}

/** Run `fn` over the dataset in order, batch by batch (the last batch may be smaller). */
export function forEachBatch(
  ds: ImageDataset, norm: Normalization, batchSize: number, limit: number | undefined,
  fn: (x: Tensor, labels: Int32Array, start: number) => void,
): number {
  const n = Math.min(ds.count, limit ?? ds.count);
  const shape = [ds.channels, ds.height, ds.width];
  const buf = new Float32Array(batchSize * ds.channels * ds.height * ds.width);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const idx = Array.from({ length: count }, (_, i) => start + i);
    const { images, labels } = makeBatch(ds, idx, norm, { out: buf });
    fn(new Tensor(Float32Array.from(images), [count, ...shape]), labels, start);
  }
  return n;
}

export function evaluate(model: ImageClassifier, ds: ImageDataset, norm: Normalization, opts: { batchSize?: number; limit?: number; onBatch?: (done: number, total: number) => void } = {}): EvalResult {
  const wasTraining = model.training;
  model.eval();
  let correct = 0;
  let lossSum = 0;
  const t0 = performance.now();
  const total = Math.min(ds.count, opts.limit ?? ds.count);
  const n = noGrad(() =>
    forEachBatch(ds, norm, opts.batchSize ?? 256, opts.limit, (x, labels, start) => {
      const logits = model.forward(x);
      lossSum += crossEntropy(logits, labels).item() * labels.length;
      const pred = logits.argmax(-1).data;
      for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
      opts.onBatch?.(start + labels.length, total);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  model.train(wasTraining);
  return { accuracy: n ? correct / n : 0, loss: n ? lossSum / n : 0, count: n, imagesPerSecond: n / Math.max(seconds, 1e-9) };
}
