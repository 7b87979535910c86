// Checkpoints: a round trip restores model, optimizer state and position exactly (the next step
// after loading equals the next step without saving), files that are not checkpoints are refused
// with a message naming the file, and writing is atomic (no temporary left, the old file intact
// when a write fails).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, manualSeed, randn } from '@bitvit/tensor';
import { AdamW, SGD, crossEntropy, paramGroupsWithDecay, writeSafetensors, type Optimizer } from '@bitvit/nn';
import type { ImageClassifier } from '@bitvit/vit';
import { buildModel, loadCheckpoint, saveCheckpoint, saveModel, type TrainerPosition } from '../src/index.js';
import { tempDir } from './helpers.js';

const temp = tempDir('checkpoint');
afterAll(temp.cleanup);

const x = randn([4, 1, 28, 28], { generator: new Generator('checkpoint-test/x') });
const labels = Int32Array.from([3, 1, 4, 1]);

function model(): ImageClassifier {
  manualSeed(11);
  return buildModel({ model: 'vit-mnist' });
}

function adamw(m: ImageClassifier): Optimizer {
  return new AdamW(paramGroupsWithDecay(m, 0.05), { lr: 1e-3, betas: [0.9, 0.98], weightDecay: 0.05 });
}

function trainStep(m: ImageClassifier, opt: Optimizer): void {
  const loss = crossEntropy(m.forward(x), labels);
  opt.zeroGrad();
  loss.backward();
  opt.step();
}

function weights(m: ImageClassifier): Map<string, Float32Array> {
  return new Map([...m.stateDict()].map(([k, t]) => [k, Float32Array.from(t.data)]));
}

const position: TrainerPosition = {
  step: 2, epoch: 1, batchInEpoch: 0, rng: new Generator('position-rng').getState(), trainSeconds: 1.25, imagesSeen: 8,
  window: { loss: 4.5, correct: 3, seen: 8, steps: 2, seconds: 0.5 },
};

describe('saveCheckpoint / loadCheckpoint', () => {
  for (const [name, makeOptimizer] of [['AdamW', adamw], ['SGD with momentum', (m: ImageClassifier) => new SGD(m.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0 })]] as const) {
    it(`restores model, ${name} state and position exactly`, async () => {
      const a = model();
      const optA = makeOptimizer(a);
      trainStep(a, optA);
      trainStep(a, optA);
      const path = join(temp.dir, `${name}.safetensors`);
      await saveCheckpoint(path, a, optA, position);

      // A differently initialised model and a fresh optimizer take the checkpoint's state.
      manualSeed(999);
      const b = buildModel({ model: 'vit-mnist' });
      const optB = makeOptimizer(b);
      const ck = await loadCheckpoint(path);
      b.loadStateDict(ck.model);
      optB.loadStateDict(ck.optimizer);
      expect(ck.position).toEqual(position);
      expect(weights(b)).toEqual(weights(a));
      expect(optB.stateDict().state.map((s) => s.step)).toEqual(optA.stateDict().state.map((s) => s.step));

      // The next update from the restored state equals the next update of the original.
      trainStep(a, optA);
      trainStep(b, optB);
      expect(weights(b)).toEqual(weights(a));
    });
  }

  it('keeps the format marker and the position in __metadata__, tensors under model. and optim.', async () => {
    const m = model();
    const opt = adamw(m);
    trainStep(m, opt);
    const path = join(temp.dir, 'layout.safetensors');
    await saveCheckpoint(path, m, opt, position);
    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
    const metadata = header['__metadata__'] as Record<string, string>;
    expect(metadata['format']).toBe('bitvit-checkpoint');
    expect(JSON.parse(metadata['position']!)).toEqual(position);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).toContain('model.classifier.weight');
    expect(names.filter((n) => n.startsWith('optim.')).length).toBe(2 * m.parameters().length); // exp_avg and exp_avg_sq per parameter
    expect(names.every((n) => n.startsWith('model.') || n.startsWith('optim.'))).toBe(true);
  });

  it('is written atomically: no temporary file left, and a failed write leaves the old checkpoint intact', async () => {
    const dir = join(temp.dir, 'atomic');
    mkdirSync(dir);
    const path = join(dir, 'checkpoint.safetensors');
    const m = model();
    const opt = adamw(m);
    await saveCheckpoint(path, m, opt, position);
    await saveCheckpoint(path, m, opt, { ...position, step: 3 }); // overwrite
    expect(readdirSync(dir)).toEqual(['checkpoint.safetensors']);
    const before = readFileSync(path);

    // Make the temporary file impossible to create (a folder in its place): the write fails
    // and the checkpoint on disk is the old one, byte for byte.
    mkdirSync(`${path}.tmp-${process.pid}`);
    trainStep(m, opt);
    await expect(saveCheckpoint(path, m, opt, { ...position, step: 4 })).rejects.toThrow();
    expect(readFileSync(path).equals(before)).toBe(true);
    expect((await loadCheckpoint(path)).position.step).toBe(3);
  });

  it('refuses a file that is not safetensors, naming it', async () => {
    const path = join(temp.dir, 'notes.txt');
    writeFileSync(path, 'this is not a checkpoint at all');
    await expect(loadCheckpoint(path)).rejects.toThrow(path);
  });

  it('refuses a truncated checkpoint, naming it', async () => {
    const m = model();
    const opt = adamw(m);
    trainStep(m, opt);
    const good = join(temp.dir, 'whole.safetensors');
    await saveCheckpoint(good, m, opt, position);
    const bytes = readFileSync(good);
    const cut = join(temp.dir, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 1000));
    await expect(loadCheckpoint(cut)).rejects.toThrow(cut);
  });

  it('refuses a model file (safetensors without the checkpoint marker)', async () => {
    const dir = join(temp.dir, 'model-folder');
    await saveModel(model(), dir);
    const path = join(dir, 'model.safetensors');
    await expect(loadCheckpoint(path)).rejects.toThrow(`${path}: not a bitvit training checkpoint (no position in __metadata__)`);
  });

  it('refuses broken metadata and missing optimizer buffers with the key that is wrong', async () => {
    const tensors = new Map([['model.w', { dtype: 'F32' as const, shape: [2], data: Float32Array.from([1, 2]) }]]);
    const badJson = join(temp.dir, 'bad-json.safetensors');
    await writeSafetensors(badJson, tensors, { format: 'bitvit-checkpoint', position: '{"step": 1', optimizer_groups: '[]', optimizer_state: '[]' });
    await expect(loadCheckpoint(badJson)).rejects.toThrow(`${badJson}: __metadata__.position is not valid JSON`);

    const missing = join(temp.dir, 'missing-buffer.safetensors');
    await writeSafetensors(missing, tensors, {
      format: 'bitvit-checkpoint', position: JSON.stringify(position), optimizer_groups: '[{"lr":0.001,"weightDecay":0,"size":1}]',
      optimizer_state: '[{"index":0,"step":1,"buffers":["exp_avg"]}]',
    });
    await expect(loadCheckpoint(missing)).rejects.toThrow(`${missing}: optimizer buffer optim.0.exp_avg is missing`);
  });

  it('a checkpoint of another model does not load into this one', async () => {
    const path = join(temp.dir, 'other.safetensors');
    const other = buildModel({ model: 'vit-mnist', overrides: { numLabels: 3 } });
    await saveCheckpoint(path, other, adamw(other), position);
    const ck = await loadCheckpoint(path);
    expect(() => model().loadStateDict(ck.model)).toThrow(/classifier/);
  });
});
