// The fake quantizers the BitNet package builds on (BITNET.md section 1), values worked by hand.
import { describe, expect, it } from 'vitest';
import { absmaxQuantize, tensor, ternaryQuantize } from '../src/index.js';
import { expectClose } from './helpers.js';

describe('absmaxQuantize', () => {
  it('8 bits per token: s = 127/max|x|, round half to even, divide back', () => {
    // row 0: max|x| = 1, s = 127: 0.5*127 = 63.5 -> 64 (even), 0.25*127 = 31.75 -> 32
    // row 1: max|x| = 2, s = 63.5: 1*63.5 = 63.5 -> 64, -0.5*63.5 = -31.75 -> -32
    const { q, scale } = absmaxQuantize(tensor([[0.5, -1, 0.25], [1, 2, -0.5]]));
    expectClose(scale, [127, 63.5]);
    expectClose(q, [64 / 127, -1, 32 / 127, 64 / 63.5, 2, -32 / 63.5]);
  });

  it('per tensor, other bit widths, and eps for an all-zero group', () => {
    const { q, scale } = absmaxQuantize(tensor([[0.5, -1], [0.3, 0.1]]), { bits: 4, per: 'tensor' });
    expectClose(scale, [7]); // qmax = 2^3 - 1
    expectClose(q, [4 / 7, -1, 2 / 7, 1 / 7]); // 3.5 -> 4, 2.1 -> 2, 0.7 -> 1
    const zero = absmaxQuantize(tensor([[0, 0]]));
    expectClose(zero.scale, [127 / 1e-5], { rtol: 1e-6 });
    expectClose(zero.q, [0, 0]);
  });

  it('carries no graph (the STE wraps it)', () => {
    const x = tensor([[0.5, 1]], undefined, { requiresGrad: true });
    expect(absmaxQuantize(x).q.requiresGrad).toBe(false);
  });
});

describe('ternaryQuantize', () => {
  it('clip(round(x / scale), -1, 1) * scale, per tensor', () => {
    const r = ternaryQuantize(tensor([0.4, -0.6, 1.5, -0.5, 0.5, -3]), tensor([1]));
    expect(Array.from(r.data)).toEqual([0, -1, 1, -0, 0, -1]); // 0.5 and -0.5 round to (-)0
  });

  it('one scale per row ([rows] or [rows, 1])', () => {
    const w = tensor([[0.1, 0.3, -0.2], [1, -3, 0.9]]);
    // row 0 / 0.2: 0.5 -> 0, 1.5 -> 2 -> clipped 1, -1; row 1 / 2: 0.5 -> 0, -1.5 -> -2 -> clipped -1, 0.45 -> 0
    expectClose(ternaryQuantize(w, tensor([0.2, 2])), [0, 0.2, -0.2, 0, -2, 0]);
    expectClose(ternaryQuantize(w, tensor([[0.2], [2]])), ternaryQuantize(w, tensor([0.2, 2])).data);
    expect(() => ternaryQuantize(w, tensor([1, 2, 3]))).toThrow('ternaryQuantize: scale [3] is neither per tensor nor per row of [2,3]');
  });
});
