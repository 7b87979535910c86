// End to end on a small ViT (vit-mnist with 2 layers) trained for 30 steps on synthetic
// class prototypes plus noise, so that it is not random: every PTQ method against the float
// model. The table it prints is the one in the bitnet README:
//   cd /work/main && npx vitest run packages/bitnet/test/ptq-vit.test.ts
import { beforeAll, describe, expect, it } from 'vitest';
import { Generator, Tensor, randn } from '@bitvit/tensor';
import { Adam, crossEntropy, type Module } from '@bitvit/nn';
// bitnet does not depend on vit (DESIGN.md); its tests reach the sibling package's sources.
import { createModel, presetConfig } from '@bitvit/vit';
import { compareModels, layerOutputErrors, layerSensitivity, type ModelComparison } from '../src/metrics.js';
import { quantizePTQ, type PTQOptions, type PTQReport } from '../src/ptq/quantize.js';

const config = presetConfig('vit-mnist', { numHiddenLayers: 2 });
const g = new Generator(1);
const CLASSES = 10;
const prototypes = randn([CLASSES, 784], { generator: g }).data;

/** Images of 10 classes: a fixed random 28x28 prototype per class plus N(0, 1.5^2) noise. */
function batch(n: number): { x: Tensor; labels: Int32Array } {
  const labels = new Int32Array(n);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < n; i++) {
    const c = g.int(0, CLASSES);
    labels[i] = c;
    for (let j = 0; j < 784; j++) x[i * 784 + j] = prototypes[c * 784 + j]! + 1.5 * g.normal();
  }
  return { x: new Tensor(x, [n, 1, 28, 28]), labels };
}

let trained: Module;
let state: Map<string, Tensor>;
const calibration: Tensor[] = [];
const test: Array<{ x: Tensor; labels: Int32Array }> = [];
const results = new Map<string, { report: PTQReport; cmp: ModelComparison; model: Module }>();

/** A fresh copy of the trained model (createModel + its state dict). */
function twin(): Module {
  const m = createModel(config);
  m.loadStateDict(state);
  return m;
}

const RUNS: Array<[string, PTQOptions]> = [
  ['absmean, per tensor', { method: 'absmean' }],
  ['absmean, per channel', { method: 'absmean', granularity: 'channel' }],
  ['absmean-refit, per channel', { method: 'absmean-refit', granularity: 'channel' }],
  ['twn, per tensor', { method: 'twn' }],
  ['twn-refit, per channel', { method: 'twn-refit', granularity: 'channel' }],
  ['twn-refit, per channel, asym', { method: 'twn-refit', granularity: 'channel', symmetric: false }],
  ['twn-refit, per channel, static act', { method: 'twn-refit', granularity: 'channel', activations: 'static' }],
  ['twn-refit, per channel, float act', { method: 'twn-refit', granularity: 'channel', activations: 'none' }],
  ['gptq, per channel, no scale refit', { method: 'gptq', granularity: 'channel', gptq: { refitScales: false } }],
  ['gptq, per channel', { method: 'gptq', granularity: 'channel' }],
  ['gptq, per channel, actOrder', { method: 'gptq', granularity: 'channel', gptq: { actOrder: true } }],
  ['two-plane, per channel', { method: 'two-plane', granularity: 'channel' }],
];

beforeAll(() => {
  trained = createModel(config, { generator: g });
  const opt = new Adam(trained.parameters(), { lr: 2e-3 });
  for (let step = 0; step < 30; step++) {
    const { x, labels } = batch(32);
    const loss = crossEntropy((trained as unknown as { forward(x: Tensor): Tensor }).forward(x), labels);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  }
  state = new Map([...trained.stateDict()].map(([k, t]) => [k, new Tensor(Float32Array.from(t.data), t.shape)]));
  calibration.push(batch(32).x, batch(32).x);
  test.push(batch(128), batch(128), batch(128), batch(128));
  const rows: string[] = ['| method | weight rel. error | mean KL | top-1 agreement | accuracy (float) | logit MSE | bits/weight | time |', '|---|---|---|---|---|---|---|---|'];
  for (const [label, opts] of RUNS) {
    const model = twin();
    const t0 = performance.now();
    const report = quantizePTQ(model, { ...opts, calibration });
    const ms = performance.now() - t0;
    const cmp = compareModels(trained, model, test);
    results.set(label, { report, cmp, model });
    const mean = (f: (l: PTQReport['layers'][number]) => number): number => report.layers.reduce((a, l) => a + f(l), 0) / report.layers.length;
    rows.push(`| ${label} | ${mean((l) => l.weightRelError).toFixed(3)} | ${cmp.meanKL.toFixed(4)} | ${cmp.top1Agreement.toFixed(3)} | ${cmp.quantAccuracy!.toFixed(3)} (${cmp.floatAccuracy!.toFixed(3)}) | ${cmp.logitMSE.toFixed(4)} | ${mean((l) => l.bits).toFixed(2)} | ${(ms / 1000).toFixed(1)} s |`);
  }
  console.log(`PTQ of vit-mnist (2 layers, 30 training steps), ${test.length * 128} test images, 64 calibration images:\n${rows.join('\n')}`);
}, 240_000);

describe('PTQ of a trained ViT', () => {
  it('the float model learned the task (so its outputs are worth keeping)', () => {
    expect(results.get('absmean, per tensor')!.cmp.floatAccuracy).toBeGreaterThan(0.8);
  });

  it('plain absmean per tensor loses much; TWN with per-channel scales and GPTQ lose measurably less', () => {
    const absmean = results.get('absmean, per tensor')!;
    const twn = results.get('twn-refit, per channel')!;
    const gptq = results.get('gptq, per channel')!;
    expect(absmean.report.layers.every((l) => l.weightRelError > 0.3)).toBe(true);
    expect(twn.cmp.meanKL).toBeLessThan(0.7 * absmean.cmp.meanKL);
    expect(gptq.cmp.meanKL).toBeLessThan(0.7 * twn.cmp.meanKL);
    expect(gptq.cmp.meanKL).toBeLessThan(0.25 * absmean.cmp.meanKL);
    expect(gptq.cmp.top1Agreement).toBeGreaterThan(absmean.cmp.top1Agreement);
    expect(gptq.cmp.logitMSE).toBeLessThan(absmean.cmp.logitMSE);
  });

  it('GPTQ trades weight error for output error; its scale refit lowers the output error further', () => {
    const twn = results.get('twn-refit, per channel')!;
    const gptq = results.get('gptq, per channel')!;
    const plain = results.get('gptq, per channel, no scale refit')!;
    const mean = (r: PTQReport): number => r.layers.reduce((a, l) => a + l.weightRelError, 0) / r.layers.length;
    expect(mean(gptq.report)).toBeGreaterThan(mean(twn.report)); // same grid, codes chosen for outputs not weights
    expect(plain.cmp.meanKL).toBeLessThan(twn.cmp.meanKL);
    expect(gptq.cmp.meanKL).toBeLessThan(plain.cmp.meanKL);
  });

  it('two planes (about 3.2 bits) beat every one-plane method', () => {
    const two = results.get('two-plane, per channel')!;
    for (const [label, r] of results) {
      if (label === 'two-plane, per channel') continue;
      expect(two.cmp.meanKL).toBeLessThan(r.cmp.meanKL);
    }
    expect(two.report.layers[0]!.bits).toBeGreaterThan(3.1);
  });

  it('keeps the patch embedding, norms and embeddings bit-identical and prints the quantized layers', () => {
    const { model } = results.get('gptq, per channel')!;
    const after = model.stateDict();
    for (const [k, t] of state) {
      if (/(query|key|value|dense|classifier)\.weight$/.test(k)) expect(after.has(k)).toBe(false);
      else expect(after.get(k)!.data).toEqual(t.data);
    }
    expect(model.toString()).toContain('(query): QuantizedLinear(64 -> 64, gptq, per-channel, sym, a8-dynamic)');
    expect(model.toString()).toContain('(classifier): QuantizedLinear(64 -> 10, gptq, per-channel, sym, a8-dynamic)');
    expect(model.toString()).toContain('(projection): Conv2d');
  });

  it('per-layer errors come in forward order and grow along the network', () => {
    const { model } = results.get('absmean, per tensor')!;
    const errs = layerOutputErrors(trained, model, test[0]!.x);
    const block = (i: number): string[] => ['attention.attention.query', 'attention.attention.key', 'attention.attention.value', 'attention.output.dense', 'intermediate.dense', 'output.dense'].map((n) => `vit.encoder.layer.${i}.${n}`);
    expect(errs.map((e) => e.name)).toEqual([...block(0), ...block(1), 'classifier']);
    for (const e of errs) {
      expect(e.relMSE).toBeGreaterThan(0);
      expect(e.cosine).toBeGreaterThan(0.5);
    }
    // The first layer sees the float model's own input, so its error is the weights' alone.
    expect(errs[0]!.relMSE).toBeLessThan(errs[errs.length - 2]!.relMSE);
  });

  it('layerSensitivity ranks the layers one at a time', () => {
    const names = ['vit.encoder.layer.0.attention.attention.query', 'vit.encoder.layer.1.output.dense', 'classifier'];
    const ranked = layerSensitivity(trained, (only) => {
      const m = twin();
      quantizePTQ(m, { method: 'absmean', include: only });
      return m;
    }, test[0]!.x, names);
    expect(ranked.map((r) => r.name).sort()).toEqual([...names].sort());
    for (let i = 1; i < ranked.length; i++) expect(ranked[i - 1]!.meanKL).toBeGreaterThanOrEqual(ranked[i]!.meanKL);
    expect(ranked[0]!.meanKL).toBeGreaterThan(0);
  });
});
