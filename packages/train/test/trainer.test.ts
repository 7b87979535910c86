// The Trainer end to end on a tiny model: what a run writes (model folders, metrics.jsonl,
// summary.json), that the saved folders reproduce the reported test accuracy, a diverging run
// stopping cleanly, and DeiT distillation from a teacher folder.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noGrad } from '@bitvit/tensor';
import { bitLinears } from '@bitvit/bitnet';
import { DeiTForImageClassificationWithTeacher, loadPreprocessor } from '@bitvit/vit';
import {
  Trainer, TrainingDiverged, evaluate, evaluateAsync, forEachBatch, loadCheckpoint, loadDataset, loadModel,
  normalizationFromPreprocessorConfig, type DatasetSplits, type TrainSummary,
} from '../src/index.js';
import { readJson, readMetrics, tempDir, tinyRun } from './helpers.js';

const temp = tempDir('trainer');
afterAll(temp.cleanup);
let mnist: DatasetSplits;
beforeAll(async () => {
  mnist = await loadDataset('mnist');
});

/** Test accuracy of a saved model folder on the first `limit` MNIST test images, normalised as its preprocessor says. */
async function folderAccuracy(dir: string, limit: number): Promise<{ accuracy: number; loss: number }> {
  const model = await loadModel(dir);
  const pre = await loadPreprocessor(dir);
  const norm = normalizationFromPreprocessorConfig(pre as unknown as Record<string, unknown>, 1);
  const r = evaluate(model, mnist.test, norm, { batchSize: 200, limit });
  // the Trainer's evaluation (yielding to the storage pool after each batch) gives the same numbers
  const a = await evaluateAsync(model, mnist.test, norm, { batchSize: 200, limit });
  expect([a.accuracy, a.loss, a.count]).toEqual([r.accuracy, r.loss, r.count]);
  return { accuracy: r.accuracy, loss: r.loss };
}

async function folderLogits(dir: string, limit: number): Promise<Float32Array> {
  const model = await loadModel(dir);
  model.eval();
  const norm = normalizationFromPreprocessorConfig((await loadPreprocessor(dir)) as unknown as Record<string, unknown>, 1);
  const out: number[] = [];
  noGrad(() => forEachBatch(mnist.test, norm, 100, limit, (x) => out.push(...model.forward(x).data)));
  return Float32Array.from(out);
}

function expectSummaryShape(s: TrainSummary, steps: number): void {
  expect(s.steps).toBe(steps);
  expect(s.stopped_early).toBe(false);
  for (const k of ['test_accuracy', 'train_images_per_s', 'eval_images_per_s', 'seconds', 'params'] as const) {
    expect(Number.isFinite(s[k]), k).toBe(true);
  }
  expect(s.train_images_per_s).toBeGreaterThan(0);
  expect(s.eval_images_per_s).toBeGreaterThan(0);
  expect(s.seconds).toBeGreaterThan(0);
  expect(s.params).toBe(139_018); // vit-mnist
  // Bytes per storage scheme: float32 is 4 bytes a parameter, the ternary schemes far less.
  expect(s.model_bytes['float32']).toBe(4 * s.params);
  expect(s.model_bytes['i2']).toBeLessThan(s.model_bytes['float32']! / 4);
}

describe('Trainer: a float run end to end', () => {
  const out = join(temp.dir, 'float');
  let summary: TrainSummary;
  beforeAll(async () => {
    // 8 images per step, 256 images: an epoch is 8 steps; 10 steps cross into epoch 2.
    summary = await new Trainer(tinyRun(out, { steps: 10, batchSize: 32, limitTrain: 256, logEvery: 5, valSplit: 0.005 })).run();
  });

  it('writes the model folder, metrics, summary, run options and a checkpoint', () => {
    expect(readdirSync(join(out, 'model')).sort()).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json']);
    expect(existsSync(join(out, 'model-packed'))).toBe(false); // float: no packed twin
    for (const f of ['metrics.jsonl', 'summary.json', 'run.json', 'checkpoint.safetensors']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('summary.json holds the figures the run returned', () => {
    expectSummaryShape(summary, 10);
    expect(summary.epochs).toBeCloseTo(10 / 8, 12);
    expect(summary.qat).toBe(false);
    expect(summary.val_accuracy).not.toBeNull();
    const onDisk = readJson<TrainSummary>(join(out, 'summary.json'));
    expect(onDisk.test_accuracy).toBe(summary.test_accuracy);
    expect(onDisk.model_bytes).toEqual(summary.model_bytes);
  });

  it('metrics.jsonl has a line every logEvery steps, a val line per epoch and a final test line', () => {
    const m = readMetrics(out);
    const train = m.filter((r) => r['type'] === undefined);
    expect(train.map((r) => r['step'])).toEqual([5, 10]);
    for (const r of train) {
      for (const k of ['step', 'epoch', 'loss', 'lr', 'accuracy', 'images_per_s']) expect(typeof r[k], k).toBe('number');
      expect(r['ternary']).toBeUndefined();
      expect(r['loss'] as number).toBeGreaterThan(0);
    }
    expect(train[0]!['epoch']).toBeCloseTo(5 / 8, 12);
    expect(train[1]!['epoch']).toBeCloseTo(1 + 2 / 8, 12);
    // Warmup of 2 steps then cosine decay: the 10th update ran at a lower lr than the 5th.
    expect(train[1]!['lr'] as number).toBeLessThan(train[0]!['lr'] as number);
    const evals = m.filter((r) => r['type'] === 'eval');
    // Validation after each epoch and after the last step (part way through epoch 2).
    expect(evals.map((r) => [r['split'], r['step'], r['epoch']])).toEqual([['val', 8, 1], ['val', 10, 1.25], ['test', 10, 1.25]]);
    expect(evals[2]!['accuracy']).toBe(summary.test_accuracy);
  });

  it('the saved folder gives the test accuracy the run reported', async () => {
    const r = await folderAccuracy(join(out, 'model'), 200);
    expect(r.accuracy).toBe(summary.test_accuracy);
    expect(r.loss).toBeCloseTo(summary.test_loss, 6);
  });
});

describe('Trainer: a BitNet QAT run end to end', () => {
  const out = join(temp.dir, 'qat');
  let summary: TrainSummary;
  beforeAll(async () => {
    summary = await new Trainer(tinyRun(out, { qat: true, steps: 6, batchSize: 32, limitTrain: 128, logEvery: 2, lr: 3e-3 })).run();
  });

  it('writes a latent model folder and a packed one', () => {
    for (const d of ['model', 'model-packed']) {
      expect(readdirSync(join(out, d)).sort(), d).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json']);
    }
    const latent = readJson<{ quantization_config: { format: string } }>(join(out, 'model', 'config.json'));
    const packed = readJson<{ quantization_config: { format: string } }>(join(out, 'model-packed', 'config.json'));
    expect(latent.quantization_config.format).toBe('latent');
    expect(packed.quantization_config.format).toBe('packed');
  });

  it('summary.json reports QAT, the packed file size and bytes per scheme', () => {
    expectSummaryShape(summary, 6);
    expect(summary.qat).toBe(true);
    expect(summary.epochs).toBe(1.5); // 4 steps an epoch
    expect(summary.packed_file_bytes).toBeGreaterThan(0);
    expect(summary.packed_file_bytes!).toBeLessThan(summary.model_bytes['float32']! / 4);
  });

  it('metrics.jsonl lines carry ternary shares and code flips', () => {
    const train = readMetrics(out).filter((r) => r['type'] === undefined);
    expect(train.map((r) => r['step'])).toEqual([2, 4, 6]);
    for (const r of train) {
      const t = r['ternary'] as { minus: number; zero: number; plus: number; flips: number; flip_rate: number };
      expect(t.minus + t.zero + t.plus).toBeCloseTo(1, 12);
      for (const share of [t.minus, t.zero, t.plus]) expect(share).toBeGreaterThan(0.1); // absmean codes of a fresh init are roughly 1/3 each
      expect(Number.isInteger(t.flips)).toBe(true);
      expect(t.flips).toBeGreaterThan(0); // lr 3e-3 moves some weights across a threshold in two steps
      expect(t.flip_rate).toBeGreaterThan(0);
    }
  });

  it('the latent folder reloads as BitNet and gives the reported accuracy; the packed folder agrees', async () => {
    const latentModel = await loadModel(join(out, 'model'));
    expect(bitLinears(latentModel).length).toBeGreaterThan(0);
    const latent = await folderAccuracy(join(out, 'model'), 200);
    expect(latent.accuracy).toBe(summary.test_accuracy);
    expect(latent.loss).toBeCloseTo(summary.test_loss, 6);
    const packed = await folderAccuracy(join(out, 'model-packed'), 200);
    expect(packed.accuracy).toBe(summary.test_accuracy);
    // The packed kernels add the same integer products in another order: equal to float
    // rounding, or about 1% of the logit scale where rounding moves an activation an int8 step.
    const a = await folderLogits(join(out, 'model'), 100);
    const b = await folderLogits(join(out, 'model-packed'), 100);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(0.02 * Math.max(...a.map(Math.abs)));
  });
});

describe('Trainer: divergence', () => {
  it('a non-finite loss throws TrainingDiverged naming the step; the last good checkpoint is intact', async () => {
    const out = join(temp.dir, 'nan');
    // AdamW moves every weight by about lr per step: lr 1e30 makes the second forward overflow.
    const run = new Trainer(tinyRun(out, { steps: 6, lr: 1e30, warmup: 0, schedule: 'constant', checkpointEvery: 1, weightDecay: 0 }));
    const error = await run.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDiverged);
    const message = (error as Error).message;
    const step = Number(/at step (\d+)/.exec(message)?.[1]);
    expect(step).toBeGreaterThan(1);
    expect(message).toContain('checkpoint');
    expect(message).toContain(`--resume ${out}`);
    // The checkpoint holds the state before the diverging step, every value finite.
    const ck = await loadCheckpoint(join(out, 'checkpoint.safetensors'));
    expect(ck.position.step).toBe(step - 1);
    for (const [name, t] of ck.model) expect(t.data.every(Number.isFinite), name).toBe(true);
    for (const s of ck.optimizer.state) for (const [b, d] of Object.entries(s.buffers)) expect(d.every(Number.isFinite), b).toBe(true);
    // No final model or summary for a run that did not finish.
    expect(existsSync(join(out, 'model'))).toBe(false);
    expect(existsSync(join(out, 'summary.json'))).toBe(false);
  });

  it('a finite loss with an overflowing gradient stops before the NaN update reaches a checkpoint', async () => {
    const out = join(temp.dir, 'nan-grad');
    // SGD at lr 1e10: the second loss is large but finite; its gradient is not.
    const run = new Trainer(tinyRun(out, { steps: 6, lr: 1e10, optimizer: 'sgd', warmup: 0, schedule: 'constant', checkpointEvery: 1, weightDecay: 0 }));
    const error = await run.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDiverged);
    expect((error as Error).message).toMatch(/gradient norm is (NaN|Infinity) at step 2 /);
    const losses = readMetrics(out).map((r) => r['loss'] as number);
    expect(losses).toHaveLength(1);
    const ck = await loadCheckpoint(join(out, 'checkpoint.safetensors'));
    expect(ck.position.step).toBe(1);
    for (const [name, t] of ck.model) expect(t.data.every(Number.isFinite), name).toBe(true);
  });
});

describe('Trainer: DeiT distillation from a teacher folder', () => {
  const teacherOut = join(temp.dir, 'teacher');
  beforeAll(async () => {
    await new Trainer(tinyRun(teacherOut, { steps: 3, limitTrain: 96, augment: 'none', limitTest: 100 })).run();
  });

  for (const distillation of ['hard', 'soft'] as const) {
    it(`trains deit-mnist with ${distillation} distillation`, async () => {
      const out = join(temp.dir, `deit-${distillation}`);
      const s = await new Trainer(tinyRun(out, {
        model: 'deit-mnist', teacher: join(teacherOut, 'model'), distillation, steps: 3, limitTrain: 96, limitTest: 100, augment: 'none',
      })).run();
      expect(s.steps).toBe(3);
      expect(Number.isFinite(s.test_loss)).toBe(true);
      const train = readMetrics(out).filter((r) => r['type'] === undefined);
      expect(train).toHaveLength(3);
      for (const r of train) expect(Number.isFinite(r['loss'] as number) && (r['loss'] as number) > 0).toBe(true);
      const student = await loadModel(join(out, 'model'));
      expect(student).toBeInstanceOf(DeiTForImageClassificationWithTeacher);
      expect((await folderAccuracy(join(out, 'model'), 100)).accuracy).toBe(s.test_accuracy);
    });
  }

  it('the distillation term changes the loss (hard and soft differ from no teacher)', async () => {
    const losses: Record<string, number> = {};
    for (const [name, extra] of [['none', {}], ['hard', { distillation: 'hard' }], ['soft', { distillation: 'soft' }]] as const) {
      const out = join(temp.dir, `deit-loss-${name}`);
      const teacher = name === 'none' ? undefined : join(teacherOut, 'model');
      await new Trainer(tinyRun(out, { model: 'deit-mnist', teacher, ...extra, steps: 1, limitTrain: 32, limitTest: 1, augment: 'none' })).run();
      losses[name] = readMetrics(out)[0]!['loss'] as number;
    }
    // Same init, same first batch: only the objective differs.
    expect(losses['hard']).not.toBe(losses['none']);
    expect(losses['soft']).not.toBe(losses['hard']);
    expect(losses['soft']).not.toBe(losses['none']);
  });
});
