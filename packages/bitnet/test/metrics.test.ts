// Quantization error metrics on hand-built logits and small models whose outputs we know.
import { describe, expect, it } from 'vitest';
import { Generator, Tensor, isGradEnabled, randn, tensor, type Tensor as T } from '@bitvit/tensor';
import { Linear, Module } from '@bitvit/nn';
import { compareLogits, compareModels, layerOutputErrors, layerSensitivity } from '../src/metrics.js';
import { quantizePTQ } from '../src/ptq/quantize.js';

/** Logits = x + shift: a "model" whose outputs we choose. Records the mode it ran in. */
class Shift extends Module {
  readonly shift: Tensor;
  seen: Array<{ training: boolean; grad: boolean }> = [];
  constructor(shift: number[]) {
    super();
    this.shift = tensor(shift);
  }
  forward(x: T): T {
    this.seen.push({ training: this.training, grad: isGradEnabled() });
    return x.add(this.shift);
  }
}

const LN3 = Math.log(3);

describe('compareLogits', () => {
  it('KL, agreement and squared error worked by hand', () => {
    // Sample 0: p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3); argmax 0 (first of a tie) vs 1.
    // Sample 1: identical rows: KL 0, agreement.
    const f = tensor([[0, 0], [1, 2]]);
    const q = tensor([[0, LN3], [1, 2]]);
    const s = compareLogits(f, q, Int32Array.of(1, 1));
    expect(s.klSum).toBeCloseTo(0.5 * Math.log(4 / 3), 6);
    expect(s.agree).toBe(1);
    expect(s.sqErr).toBeCloseTo(Math.fround(LN3) ** 2, 6);
    expect(s.floatCorrect).toBe(1);
    expect(s.quantCorrect).toBe(2);
    expect(s.samples).toBe(2);
  });

  it('identical logits: KL exactly 0, full agreement, no error; a certain prediction (p = 0 terms) is no problem', () => {
    const f = tensor([[3, -1, 0.5], [1000, 0, -1000]]);
    const s = compareLogits(f, f);
    expect(s.klSum).toBe(0);
    expect(s.agree).toBe(2);
    expect(s.sqErr).toBe(0);
  });

  it('names shape and label mistakes', () => {
    expect(() => compareLogits(tensor([[0, 1]]), tensor([[0, 1, 2]]))).toThrow(/two equal \[batch, classes\] shapes, got \[1,2\] and \[1,3\]/);
    expect(() => compareLogits(tensor([[0, 1]]), tensor([[0, 1]]), Int32Array.of(0, 1))).toThrow(/2 labels for a batch of 1/);
  });
});

describe('compareModels', () => {
  it('averages over samples; accuracy over the labelled batches only', () => {
    const floatModel = new Shift([0, 0]);
    const quantModel = new Shift([0, LN3]);
    const r = compareModels(floatModel, quantModel, [
      { x: tensor([[0, 0], [1, 2]]), labels: Int32Array.of(1, 1) },
      { x: tensor([[5, 0]]) }, // no labels: counts for KL and agreement, not for accuracy
    ]);
    expect(r.samples).toBe(3);
    expect(r.floatAccuracy).toBe(0.5);
    expect(r.quantAccuracy).toBe(1);
    expect(r.top1Agreement).toBeCloseTo(2 / 3, 12);
    // KL of p = softmax(a, b) against q = softmax(a, b + ln 3), by hand for each sample.
    const kl = (a: number, b: number): number => {
      const p = [Math.exp(a) / (Math.exp(a) + Math.exp(b)), Math.exp(b) / (Math.exp(a) + Math.exp(b))];
      const zq = Math.exp(a) + 3 * Math.exp(b);
      const q = [Math.exp(a) / zq, (3 * Math.exp(b)) / zq];
      return p[0]! * Math.log(p[0]! / q[0]!) + p[1]! * Math.log(p[1]! / q[1]!);
    };
    expect(kl(0, 0)).toBeCloseTo(0.5 * Math.log(4 / 3), 12);
    expect(r.meanKL).toBeCloseTo((kl(0, 0) + kl(1, 2) + kl(5, 0)) / 3, 6);
    expect(r.logitMSE).toBeCloseTo((3 * Math.fround(LN3) ** 2) / 6, 6);
  });

  it('runs both models in eval mode without gradients and gives each module its mode back', () => {
    const floatModel = new Shift([0, 0]).train();
    const quantModel = new Shift([0, 1]).train();
    const r = compareModels(floatModel, quantModel, [{ x: tensor([[0, 0]]) }]);
    expect(floatModel.seen).toEqual([{ training: false, grad: false }]);
    expect(quantModel.seen).toEqual([{ training: false, grad: false }]);
    expect(floatModel.training && quantModel.training).toBe(true);
    expect(r.floatAccuracy).toBeUndefined();
    expect(() => compareModels(floatModel, quantModel, [])).toThrow(/no batches/);
  });

  it('identical models agree fully with zero KL', () => {
    const m = new Shift([1, 2, 3]);
    const r = compareModels(m, m, [{ x: randn([8, 3], { generator: new Generator(1) }) }]);
    expect(r).toEqual({ top1Agreement: 1, meanKL: 0, logitMSE: 0, samples: 8 });
  });
});

/** Registered second-then-first, called first-then-second: the report must follow the calls. */
class TwoLayers extends Module {
  second: Linear;
  first: Linear;
  constructor(seed = 1) {
    super();
    const g = new Generator(seed);
    this.second = this.addModule('second', new Linear(6, 3, { generator: g }));
    this.first = this.addModule('first', new Linear(4, 6, { generator: g }));
  }
  forward(x: T): T {
    return this.second.forward(this.first.forward(x).relu());
  }
}

describe('layerOutputErrors', () => {
  it('reports the layers in forward order with exact errors for a known perturbation', () => {
    const f = new TwoLayers();
    const q = new TwoLayers();
    // q's first layer computes 1.1x what f's does (weight and bias scaled): relMSE 0.01, cosine 1.
    for (const p of [q.first.weight, q.first.bias!]) p.data.forEach((v, i, a) => (a[i] = v * 1.1));
    const x = randn([5, 4], { generator: new Generator(2) });
    const errs = layerOutputErrors(f, q, x);
    expect(errs.map((e) => e.name)).toEqual(['first', 'second']);
    expect(errs[0]!.relMSE).toBeCloseTo(0.01, 5);
    expect(errs[0]!.cosine).toBeCloseTo(1, 6);
    // second: y = W relu(1.1 h) + b = 1.1 W relu(h) + b, so the error is 0.1 W relu(h).
    const h = f.first.forward(x).relu();
    const yf = f.second.forward(h).data;
    const noBias = h.matmul(f.second.weight.transpose()).data;
    let dd = 0, ff = 0;
    for (let i = 0; i < yf.length; i++) {
      dd += (0.1 * noBias[i]!) ** 2;
      ff += yf[i]! ** 2;
    }
    expect(errs[1]!.relMSE).toBeCloseTo(dd / ff, 5);
    expect(errs[1]!.cosine).toBeLessThan(1);
  });

  it('matches a float model with its PTQ twin by module name; names can be chosen', () => {
    const f = new TwoLayers();
    const q = new TwoLayers();
    quantizePTQ(q, { method: 'twn', include: ['second'] });
    const errs = layerOutputErrors(f, q, randn([5, 4], { generator: new Generator(3) }));
    expect(errs.map((e) => e.name)).toEqual(['first', 'second']);
    expect(errs[0]!.relMSE).toBe(0); // still float, same weights
    expect(errs[1]!.relMSE).toBeGreaterThan(0);
    expect(layerOutputErrors(f, q, randn([2, 4]), { names: ['second'] }).map((e) => e.name)).toEqual(['second']);
  });

  it('a layer called twice is compared over both calls', () => {
    class Twice extends Module {
      lin = this.addModule('lin', new Linear(3, 3, { generator: new Generator(5) }));
      forward(x: T): T {
        return this.lin.forward(this.lin.forward(x));
      }
    }
    const f = new Twice();
    const q = new Twice();
    q.lin.bias!.data[0]! += 1;
    const x = randn([2, 3], { generator: new Generator(6) });
    const errs = layerOutputErrors(f, q, x);
    expect(errs.length).toBe(1);
    // By hand over both calls: (||yq1 - yf1||^2 + ||yq2 - yf2||^2) / (||yf1||^2 + ||yf2||^2).
    const yf1 = f.lin.forward(x);
    const yf2 = f.lin.forward(yf1);
    const yq1 = q.lin.forward(x);
    const yq2 = q.lin.forward(yq1);
    const sq = (a: Tensor, b?: Tensor): number => a.data.reduce((s, v, i) => s + (v - (b ? b.data[i]! : 0)) ** 2, 0);
    expect(errs[0]!.relMSE).toBeCloseTo((sq(yq1, yf1) + sq(yq2, yf2)) / (sq(yf1) + sq(yf2)), 6);
  });
});

describe('layerSensitivity', () => {
  it('quantizes one layer at a time and puts the most harmful first', () => {
    const f = new TwoLayers(7);
    const x = randn([16, 4], { generator: new Generator(8) });
    const asked: string[][] = [];
    const make = (names: string[]): Module => {
      asked.push(names);
      const m = new TwoLayers(7);
      // 'first' barely moves, 'second' is wrecked, 'none' is an exact copy.
      if (names[0] === 'first') m.first.weight.data[0]! += 1e-3;
      if (names[0] === 'second') m.second.weight.data.forEach((v, i, a) => (a[i] = -3 * v));
      return m;
    };
    const s = layerSensitivity(f, make, x, ['first', 'none', 'second']);
    expect(asked).toEqual([['first'], ['none'], ['second']]);
    expect(s.map((e) => e.name)).toEqual(['second', 'first', 'none']);
    expect(s[2]).toEqual({ name: 'none', meanKL: 0, top1Agreement: 1 });
    expect(s[0]!.top1Agreement).toBeLessThan(0.5);
    expect(s[1]!.meanKL).toBeGreaterThan(0);
  });
});
