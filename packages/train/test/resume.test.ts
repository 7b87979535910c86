// Resume equals uninterrupted, bit for bit: a run stopped part way (twice: mid-epoch, and exactly
// at an epoch's end) and resumed from its checkpoint ends with the same weights, the same
// optimizer state and the same metrics.jsonl as the run that never stopped. Augmentation and
// dropout are on, so the per-step generators and the saved global RNG state are exercised.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '@bitvit/nn';
import { Trainer, buildModel, loadCheckpoint, readRunOptions, saveModel, type TrainOptions, type TrainSummary } from '../src/index.js';
import { readJson, readMetrics, tempDir, tinyRun } from './helpers.js';

const temp = tempDir('resume');
afterAll(temp.cleanup);

/** metrics.jsonl without the wall-clock field, which no two runs share. */
function metricsWithoutTiming(out: string): Array<Record<string, unknown>> {
  return readMetrics(out).map(({ images_per_s: _, ...rest }) => rest);
}

function expectSameTensors(a: string, b: string): void {
  const fa = parseSafetensors(readFileSync(a));
  const fb = parseSafetensors(readFileSync(b));
  expect([...fb.tensors.keys()].sort()).toEqual([...fa.tensors.keys()].sort());
  for (const [name, t] of fa.tensors) {
    const u = fb.tensors.get(name)!;
    expect(u.shape, name).toEqual(t.shape);
    // Bit for bit: compare the raw float bits, so -0 vs 0 or two NaNs would also be told apart.
    expect(Buffer.from(new Uint8Array(u.data.buffer)).equals(Buffer.from(new Uint8Array(t.data.buffer))), name).toBe(true);
  }
}

/** Run `options` uninterrupted into `full`, and stopped after each of `stops` steps then resumed into `pieces`. */
async function fullAndResumed(full: TrainOptions, pieces: string, stops: number[]): Promise<{ a: TrainSummary; b: TrainSummary; stoppedAt: number[] }> {
  const a = await new Trainer(full).run();
  const stoppedAt: number[] = [];
  let s = await new Trainer({ ...full, out: pieces, stopAfter: stops[0] }).run();
  stoppedAt.push(s.steps);
  for (const stop of stops.slice(1)) {
    // What --resume does: the options saved in run.json, this process's stopAfter.
    s = await new Trainer({ ...(await readRunOptions(pieces)), stopAfter: stop }).run(pieces);
    stoppedAt.push(s.steps);
  }
  const b = await new Trainer(await readRunOptions(pieces)).run(pieces);
  return { a, b, stoppedAt };
}

describe('resume equals uninterrupted', () => {
  let initDir: string;
  beforeAll(async () => {
    // vit-mnist with dropout, so training draws from the global generator too.
    initDir = join(temp.dir, 'init');
    const model = buildModel({ model: 'vit-mnist', overrides: { hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1 } });
    await saveModel(model, initDir);
  });

  it('float with dropout, crop and flip augmentation: stopped at step 3 and 6 (an epoch end), resumed', async () => {
    // 192 images of batch 32: 6 steps an epoch; 9 steps cross into epoch 2. Metrics every 2
    // steps, so the stops fall between two lines; checkpoints every 4 steps in between.
    const options = tinyRun(join(temp.dir, 'a'), {
      init: initDir, steps: 9, limitTrain: 192, limitTest: 100, augment: 'crop', flip: true,
      logEvery: 2, checkpointEvery: 4, valSplit: 0.002,
    });
    const { a, b, stoppedAt } = await fullAndResumed(options, join(temp.dir, 'b'), [3, 3]);
    expect(stoppedAt).toEqual([3, 6]);
    expect(b.stopped_early).toBe(false);
    expect(b.steps).toBe(9);
    expectSameTensors(join(temp.dir, 'a', 'model', 'model.safetensors'), join(temp.dir, 'b', 'model', 'model.safetensors'));
    // The final checkpoints agree too: optimizer moments and step counts, position.
    const ca = await loadCheckpoint(join(temp.dir, 'a', 'checkpoint.safetensors'));
    const cb = await loadCheckpoint(join(temp.dir, 'b', 'checkpoint.safetensors'));
    expect(cb.optimizer.groups).toEqual(ca.optimizer.groups);
    expect(cb.optimizer.state.map((s) => [s.index, s.step])).toEqual(ca.optimizer.state.map((s) => [s.index, s.step]));
    for (let i = 0; i < ca.optimizer.state.length; i++) {
      for (const [buf, data] of Object.entries(ca.optimizer.state[i]!.buffers)) expect(cb.optimizer.state[i]!.buffers[buf], buf).toEqual(data);
    }
    const { trainSeconds: _ta, window: wa, ...posA } = ca.position;
    const { trainSeconds: _tb, window: wb, ...posB } = cb.position;
    expect(posB).toEqual(posA);
    expect(wb?.steps).toBe(wa?.steps);
    // Same log, line for line (train lines at steps 2..8 and 9, val after epoch 1 and at the end, test).
    const ma = metricsWithoutTiming(join(temp.dir, 'a'));
    expect(ma.map((r) => r['step'])).toEqual([2, 4, 6, 6, 8, 9, 9, 9]);
    expect(metricsWithoutTiming(join(temp.dir, 'b'))).toEqual(ma);
    expect(b.test_accuracy).toBe(a.test_accuracy);
    expect(b.test_loss).toBe(a.test_loss);
    expect(b.val_accuracy).toBe(a.val_accuracy);
    expect(b.epochs).toBe(a.epochs);
    expect(readdirSync(join(temp.dir, 'b')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('BitNet QAT with RandAugment: stopped at step 5, resumed', async () => {
    const options = tinyRun(join(temp.dir, 'qa'), {
      qat: true, steps: 7, limitTrain: 128, limitTest: 100, augment: 'randaugment', logEvery: 1, checkpointEvery: 0, lr: 3e-3,
    });
    const { a, b, stoppedAt } = await fullAndResumed(options, join(temp.dir, 'qb'), [5]);
    expect(stoppedAt).toEqual([5]);
    expectSameTensors(join(temp.dir, 'qa', 'model', 'model.safetensors'), join(temp.dir, 'qb', 'model', 'model.safetensors'));
    expectSameTensors(join(temp.dir, 'qa', 'model-packed', 'model.safetensors'), join(temp.dir, 'qb', 'model-packed', 'model.safetensors'));
    // With a line every step the ternary flips count from the same codes, so even they agree.
    expect(metricsWithoutTiming(join(temp.dir, 'qb'))).toEqual(metricsWithoutTiming(join(temp.dir, 'qa')));
    expect(b.test_accuracy).toBe(a.test_accuracy);
  });

  it('a stopped run says so in summary.json and leaves no final model; run.json does not carry stopAfter', async () => {
    const out = join(temp.dir, 'stopped');
    const s = await new Trainer(tinyRun(out, { steps: 4, stopAfter: 2 })).run();
    expect(s.stopped_early).toBe(true);
    expect(s.steps).toBe(2);
    expect(Number.isNaN(s.test_accuracy)).toBe(true);
    expect(readJson(join(out, 'summary.json'))['stopped_early']).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['checkpoint.safetensors', 'metrics.jsonl', 'run.json', 'summary.json']);
    expect((await readRunOptions(out)).stopAfter).toBeUndefined();
    expect((await loadCheckpoint(join(out, 'checkpoint.safetensors'))).position).toMatchObject({ step: 2, epoch: 0, batchInEpoch: 2 });
  });

  it('--stop-after that reaches the last step just finishes the run', async () => {
    const out = join(temp.dir, 'stop-at-end');
    const s = await new Trainer(tinyRun(out, { steps: 3, stopAfter: 3 })).run();
    expect(s.stopped_early).toBe(false);
    expect(s.steps).toBe(3);
    expect(Number.isFinite(s.test_accuracy)).toBe(true);
    expect(readdirSync(join(out, 'model')).sort()).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json']);
  });

  it('readRunOptions refuses a folder that is not a training output', async () => {
    await expect(readRunOptions(temp.dir)).rejects.toThrow(/no run\.json there/);
  });
});
