// Ternary statistics: code shares per layer and for the model, the scale, and code flips between
// calls (weights moved across the rounding thresholds by hand and counted).
import { describe, expect, it } from 'vitest';
import { Generator, randn } from '@bitvit/tensor';
import { Module } from '@bitvit/nn';
import { createModel, presetConfig } from '@bitvit/vit';
import { BitLinear } from '../src/bitlinear.js';
import { convertToBitNet, bitLinears } from '../src/convert.js';
import { absmeanScale, ternaryCodes } from '../src/quantizers.js';
import { TernaryTracker, ternaryStats } from '../src/stats.js';

class Two extends Module {
  first: BitLinear;
  second: BitLinear;
  constructor(weightScale: 'tensor' | 'channel' = 'tensor') {
    super();
    this.first = this.addModule('first', new BitLinear(4, 2, { weightScale }));
    this.second = this.addModule('second', new BitLinear(2, 3, { weightScale }));
    // first: mean|W| = 7/8 = 0.875; W / gamma = 0.29, -0.86, 0, 2.29 | 0.57, 0.57, -0.57, 2.86
    //        codes 0, -1, 0, 1 | 1, 1, -1, 1: two -1, two 0, four +1
    this.first.weight.data.set([0.25, -0.75, 0, 2, 0.5, 0.5, -0.5, 2.5]);
    // second: mean|W| = 1; codes 0, 0 | 1, -1 | 0, 1 (0.5 and -0.5 round to the even 0)
    this.second.weight.data.set([0.5, -0.5, 1.5, -1, 0, 2.5]);
  }
}

describe('ternary shares and scale', () => {
  it('counts -1/0/+1 per layer and for the model (hand-worked codes)', () => {
    const s = new TernaryTracker().stats(new Two());
    expect(s.layers.map((l) => l.name)).toEqual(['first', 'second']);
    const [a, b] = s.layers;
    expect([a!.count, a!.minusShare, a!.zeroShare, a!.plusShare, a!.scale]).toEqual([8, 2 / 8, 2 / 8, 4 / 8, 0.875]);
    expect([b!.count, b!.minusShare, b!.zeroShare, b!.plusShare, b!.scale]).toEqual([6, 1 / 6, 3 / 6, 2 / 6, 1]);
    // model shares are over all 14 codes, not a mean of the layers' shares
    expect([s.minusShare, s.zeroShare, s.plusShare]).toEqual([3 / 14, 5 / 14, 6 / 14]);
    expect(s.flips).toBe(0);
  });

  it('reports the mean of the per-channel scales', () => {
    const s = new TernaryTracker().stats(new Two('channel'));
    // first: rows 0.75 and 1; second: rows 0.5, 1.25, 1.25
    expect(s.layers[0]!.scale).toBeCloseTo((0.75 + 1) / 2, 7);
    expect(s.layers[1]!.scale).toBeCloseTo((0.5 + 1.25 + 1.25) / 3, 6);
  });

  it('shares sum to 1 in every layer of a converted vit-mnist, and count every weight', () => {
    const model = createModel(presetConfig('vit-mnist'), { generator: new Generator(0) });
    convertToBitNet(model, { weightScale: 'channel' });
    const s = new TernaryTracker().stats(model);
    expect(s.layers.length).toBe(25);
    for (const l of s.layers) {
      expect(l.minusShare + l.zeroShare + l.plusShare).toBeCloseTo(1, 12);
      const m = model.getModule(l.name) as BitLinear;
      expect(l.count).toBe(m.weight.size);
      // a random (Kaiming uniform) layer: the zero band |W| <= gamma/2 holds about a third of the codes
      expect(l.zeroShare).toBeGreaterThan(0.2);
      expect(l.zeroShare).toBeLessThan(0.5);
    }
    expect(s.minusShare + s.zeroShare + s.plusShare).toBeCloseTo(1, 12);
  });

  it('is all zeros for a model without BitLinear layers', () => {
    const s = new TernaryTracker().stats(new (class extends Module {})());
    expect(s).toEqual({ layers: [], minusShare: 0, zeroShare: 0, plusShare: 0, flips: 0, flipRate: 0 });
  });
});

describe('code flips between calls', () => {
  it('counts the codes that changed since the previous call, per layer', () => {
    const model = new Two();
    const tracker = new TernaryTracker();
    expect(tracker.stats(model).flips).toBe(0); // first call: nothing to compare with
    expect(tracker.stats(model).flips).toBe(0); // nothing moved

    // Swap |0.25| and |0.75| between two weights: mean|W| (gamma) stays 0.875, so only these move:
    // w0 0.25 -> -0.75 (code 0 -> -1), w1 -0.75 -> 0.25 (code -1 -> 0).
    model.first.weight.data[0] = -0.75;
    model.first.weight.data[1] = 0.25;
    let s = tracker.stats(model);
    expect(s.layers.map((l) => l.flips)).toEqual([2, 0]);
    expect(s.flips).toBe(2);
    expect(s.flipRate).toBeCloseTo(2 / 14, 12);
    // shares are unchanged: one -1 became 0 and one 0 became -1
    expect([s.layers[0]!.minusShare, s.layers[0]!.zeroShare]).toEqual([2 / 8, 2 / 8]);

    // A sign change (|w| kept) is one flip, +1 -> -1; a move inside the zero band is none.
    model.first.weight.data[3] = -2;
    model.second.weight.data[0] = 0.25; // 0.5 -> 0.25: still code 0, but mean|W| drops to 0.9583...
    s = tracker.stats(model);
    // second: gamma = 5.75 / 6; W / gamma = 0.26, -0.52, 1.57, -1.04, 0, 2.6 -> 0, -1, 1, -1, 0, 1:
    // the -0.5 weight left the zero band because gamma shrank - the other way codes flip.
    expect(s.layers.map((l) => l.flips)).toEqual([1, 1]);
    expect(tracker.stats(model).flips).toBe(0); // counted since the last call, not since the first
  });

  it('matches a direct comparison of the codes after a random update of a converted ViT', () => {
    const model = createModel(presetConfig('vit-mnist'), { generator: new Generator(1) });
    convertToBitNet(model);
    const tracker = new TernaryTracker();
    tracker.stats(model);
    const codesOf = (b: BitLinear): Int8Array => ternaryCodes(b.weight, absmeanScale(b.weight, b.weightScale));
    const before = bitLinears(model).map(({ module }) => codesOf(module));
    const gen = new Generator(2);
    for (const { module } of bitLinears(model)) {
      const step = randn(module.weight.shape, { generator: gen, std: 0.01 });
      module.weight.data.set(module.weight.data.map((v, i) => v + step.data[i]!));
    }
    const s = tracker.stats(model);
    let expected = 0;
    bitLinears(model).forEach(({ module }, li) => {
      const after = codesOf(module);
      let f = 0;
      for (let i = 0; i < after.length; i++) if (after[i] !== before[li]![i]) f++;
      expect(s.layers[li]!.flips).toBe(f);
      expected += f;
    });
    expect(s.flips).toBe(expected);
    expect(expected).toBeGreaterThan(0);
  });

  it('keeps one history per tracker; ternaryStats shares a default one', () => {
    const model = new Two();
    const a = new TernaryTracker();
    a.stats(model);
    ternaryStats(model);
    model.first.weight.data[3] = -2; // +1 -> -1
    expect(a.stats(model).flips).toBe(1);
    expect(new TernaryTracker().stats(model).flips).toBe(0); // a new tracker has no history
    expect(ternaryStats(model).flips).toBe(1);
    expect(ternaryStats(model).flips).toBe(0);
  });
});
