// BitNet b1.58's quantizers (BITNET.md section 1) on hand-worked examples and against PyTorch
// reference values (test/ref/make_bitlinear_reference.py, plain torch; torch.round is half to even).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, randn, Generator } from '@bitvit/tensor';
import { ACT_EPS, WEIGHT_EPS, absmeanScale, activationQuant, ternaryCodes, weightQuant } from '../src/quantizers.js';

interface QuantRef {
  W: { shape: number[]; data: number[] };
  weight_tensor: { gamma: number[]; wq: number[]; codes: number[] };
  weight_channel: { gamma: number[]; wq: number[]; codes: number[] };
  weight_halves_1: { W: number[]; gamma: number[]; wq: number[] };
  weight_halves_quarter: { W: number[]; gamma: number[]; wq: number[] };
  weight_zero: { gamma: number[]; wq: number[] };
  act: { X: { shape: number[]; data: number[] }; s: number[]; xq: number[]; codes: number[]; s_idiom: number[] };
  act_halves: { X: number[]; s: number[]; xq: number[]; codes: number[] };
  act_tiny: { X: number[]; s: number[]; xq: number[] };
}
const ref = JSON.parse(readFileSync(join(import.meta.dirname, 'ref', 'bitlinear_reference.json'), 'utf8')).quantizers as QuantRef;

const t = (data: number[], shape: number[]): Tensor => new Tensor(Float32Array.from(data), shape);
// +0 for -0: torch.round(-0.5) is -0; the sign of a zero code carries no meaning here.
const plain = (a: ArrayLike<number>): number[] => Array.from(a, (v) => v + 0);

/** Elementwise |a - b| <= rtol * |b| + atol, failing with the worst index. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (rtol * Math.abs(expected[i]!) + atol);
    if (excess > worstExcess || Number.isNaN(actual[i]!)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) expect.fail(`${what}[${worst}] = ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
}

describe('weight quantizer (absmean ternary), hand-worked', () => {
  // Powers of two, so every W / gamma below is exact.
  //   row 0: [0.25, -0.75, 0, 2]      mean|.| = 0.75
  //   row 1: [0.5, 0.5, -0.5, 2.5]    mean|.| = 1
  //   whole: mean|W| = 7/8 = 0.875
  const W = t([0.25, -0.75, 0, 2, 0.5, 0.5, -0.5, 2.5], [2, 4]);

  it('per tensor: gamma = mean|W|, codes = clip(round(W / gamma), -1, 1), Wq = codes * gamma', () => {
    const { wq, scale } = weightQuant(W);
    expect(Array.from(scale.data)).toEqual([0.875]);
    expect(scale.shape).toEqual([1]);
    // W/gamma = 0.29, -0.86, 0, 2.29 | 0.57, 0.57, -0.57, 2.86
    expect(plain(ternaryCodes(W, scale))).toEqual([0, -1, 0, 1, 1, 1, -1, 1]);
    expect(plain(wq.data)).toEqual([0, -0.875, 0, 0.875, 0.875, 0.875, -0.875, 0.875]);
  });

  it('per channel: one gamma per output row, and the codes change with it', () => {
    const { wq, scale } = weightQuant(W, 'channel');
    expect(Array.from(scale.data)).toEqual([0.75, 1]);
    // row 0: 0.33, -1, 0, 2.67; row 1: 0.5, 0.5, -0.5, 2.5 - exact halves, which go to the even 0
    expect(plain(ternaryCodes(W, scale))).toEqual([0, -1, 0, 1, 0, 0, 0, 1]);
    expect(plain(wq.data)).toEqual([0, -0.75, 0, 0.75, 0, 0, 0, 1]);
  });

  it('rounds W exactly at 0.5 gamma to 0 and at 1.5 gamma to 2 (then clips to 1): half to even', () => {
    // mean|W| = (0.5 + 0.5 + 1.5 + 1.5 + 1 + 1 + 2 + 0) / 8 = 1
    for (const g of [1, 0.25, 4]) {
      const w = t([0.5, -0.5, 1.5, -1.5, 1, -1, 2, 0].map((v) => v * g), [1, 8]);
      const { wq, scale } = weightQuant(w);
      expect(scale.data[0]).toBe(g);
      expect(plain(ternaryCodes(w, scale))).toEqual([0, 0, 1, -1, 1, -1, 1, 0]);
      expect(plain(wq.data)).toEqual([0, 0, g, -g, g, -g, g, 0]);
    }
  });

  it('clamps gamma at 1e-5: all-zero weights give zero codes, not NaN', () => {
    const { wq, scale } = weightQuant(t([0, 0, 0, 0, 0, 0], [2, 3]));
    expect(scale.data[0]).toBe(Math.fround(WEIGHT_EPS));
    expect(plain(wq.data)).toEqual([0, 0, 0, 0, 0, 0]);
    // a row of zeros per channel, beside a live row
    const mixed = weightQuant(t([0, 0, 0, 3, -3, 1], [2, 3]), 'channel');
    expect(Array.from(mixed.scale.data)).toEqual([Math.fround(WEIGHT_EPS), Math.fround(7 / 3)]);
    expect(plain(ternaryCodes(t([0, 0, 0, 3, -3, 1], [2, 3]), mixed.scale))).toEqual([0, 0, 0, 1, -1, 0]);
  });

  it('rejects a weight that is not [out, in]', () => {
    expect(() => absmeanScale(t([1, 2, 3], [3]))).toThrow(/absmeanScale: weight \[3\] is not \[out, in\]/);
  });

  it('puts every value in {-gamma, 0, gamma} on random weights, and the codes match', () => {
    const w = randn([16, 24], { generator: new Generator(3) });
    for (const per of ['tensor', 'channel'] as const) {
      const { wq, scale } = weightQuant(w, per);
      const codes = ternaryCodes(w, scale);
      for (let i = 0; i < w.size; i++) {
        const g = scale.size === 1 ? scale.data[0]! : scale.data[Math.floor(i / 24)]!;
        expect(wq.data[i]! + 0).toBe(codes[i]! * g + 0);
      }
    }
  });
});

describe('activation quantizer (per-token absmax to 8 bits), hand-worked', () => {
  it('s = 127 / max|x| per token; x * s on .5 rounds to even', () => {
    // token [1, -2, 0.5, 4]: s = 127/4 = 31.75; x*s = 31.75, -63.5, 15.875, 127 -> 32, -64, 16, 127
    const { xq, scale } = activationQuant(t([1, -2, 0.5, 4], [1, 4]));
    expect(Array.from(scale.data)).toEqual([31.75]);
    expect(Array.from(xq.data)).toEqual([32 / 31.75, -64 / 31.75, 16 / 31.75, 4].map(Math.fround));
  });

  it('quantizes each token (row of the last dim) with its own scale, any leading shape', () => {
    const x = t([127, 1.5, -2.5, 0.5, 63.5, 0.75, -1.25, 0.25, 1, 2, 3, -4], [3, 1, 4]);
    const { xq, scale } = activationQuant(x);
    expect(Array.from(scale.data)).toEqual([1, 2, 31.75]);
    expect(xq.shape).toEqual([3, 1, 4]);
    // token 0: s = 1: 1.5 -> 2, -2.5 -> -2, 0.5 -> 0; token 1: s = 2, the same products
    expect(plain(xq.data.subarray(0, 8))).toEqual([127, 2, -2, 0, 63.5, 1, -1, 0]);
  });

  it('with fewer bits uses qmax = 2^(bits-1) - 1 (the ablation option)', () => {
    // 4 bits: s = 7/4 = 1.75; x*s = 1.75, -3.5, 0.875, 7 -> 2, -4, 1, 7
    const { xq, scale } = activationQuant(t([1, -2, 0.5, 4], [1, 4]), 4);
    expect(Array.from(scale.data)).toEqual([1.75]);
    expect(Array.from(xq.data)).toEqual([2 / 1.75, -4 / 1.75, 1 / 1.75, 4].map(Math.fround));
  });

  it('clamps max|x| at 1e-5: an all-zero token stays zero, not NaN', () => {
    const { xq, scale } = activationQuant(t([0, 0, 0, 1, -1, 0.5], [2, 3]));
    expect(scale.data[0]).toBe(Math.fround(127 / ACT_EPS));
    expect(plain(xq.data)).toEqual([0, 0, 0, 1, -1, Math.fround(64 / 127)]);
  });
});

describe('quantizers against PyTorch (torch.round, float32)', () => {
  const W = t(ref.W.data, ref.W.shape);

  for (const per of ['tensor', 'channel'] as const) {
    it(`weightQuant per ${per}: gamma, codes and Wq`, () => {
      const r = per === 'tensor' ? ref.weight_tensor : ref.weight_channel;
      const { wq, scale } = weightQuant(W, per);
      expectClose(scale.data, r.gamma, 1e-6, 0, 'gamma');
      expect(plain(ternaryCodes(W, scale))).toEqual(plain(r.codes));
      expectClose(wq.data, r.wq, 1e-6, 0, 'wq');
    });
  }

  it('weightQuant on exact halves of gamma (gamma 1 and 0.25)', () => {
    for (const r of [ref.weight_halves_1, ref.weight_halves_quarter]) {
      const { wq, scale } = weightQuant(t(r.W, [1, r.W.length]));
      expect(Array.from(scale.data)).toEqual(r.gamma);
      expect(plain(wq.data)).toEqual(plain(r.wq));
    }
  });

  it('weightQuant on all-zero weights (the eps clamp)', () => {
    const { wq, scale } = weightQuant(t([0, 0, 0, 0, 0, 0], [2, 3]));
    expect(Array.from(scale.data)).toEqual(ref.weight_zero.gamma.map(Math.fround));
    expect(plain(wq.data)).toEqual(plain(ref.weight_zero.wq));
  });

  it('activationQuant on random tokens: scales, codes and dequantized values', () => {
    const { xq, scale } = activationQuant(t(ref.act.X.data, ref.act.X.shape));
    expect(Array.from(scale.data)).toEqual(ref.act.s.map(Math.fround));
    expect(plain(xq.data)).toEqual(plain(ref.act.xq.map(Math.fround)));
    const codes = Array.from(xq.data, (v, i) => Math.round(v * scale.data[Math.floor(i / 8)]!));
    expect(plain(codes)).toEqual(plain(ref.act.codes));
  });

  it("PyTorch's `127.0 / t` idiom (t.reciprocal() * 127, two roundings) is within one float32 ulp of our s", () => {
    // The reference uses a true division, as the formula reads; public BitNet code writes the
    // idiom, whose s can differ in the last bit (it does for these tokens). Codes move only when
    // x * s lands within an ulp of a .5 boundary.
    const { scale } = activationQuant(t(ref.act.X.data, ref.act.X.shape));
    let differing = 0;
    for (let i = 0; i < scale.size; i++) {
      const ulp = 2 ** (Math.floor(Math.log2(scale.data[i]!)) - 23);
      expect(Math.abs(scale.data[i]! - Math.fround(ref.act.s_idiom[i]!))).toBeLessThanOrEqual(ulp);
      if (scale.data[i] !== Math.fround(ref.act.s_idiom[i]!)) differing++;
    }
    expect(differing).toBeGreaterThan(0);
  });

  it('activationQuant where x * s is exactly .5, 1.5, 2.5 (s = 1 and s = 2)', () => {
    const { xq, scale } = activationQuant(t(ref.act_halves.X, [2, 8]));
    expect(Array.from(scale.data)).toEqual(ref.act_halves.s);
    expect(plain(xq.data)).toEqual(plain(ref.act_halves.xq));
    // the codes themselves: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, and the negatives alike
    expect(plain(ref.act_halves.codes.slice(0, 8))).toEqual([127, 0, 2, 2, 0, -2, -2, -127]);
  });

  it('activationQuant on all-zero and tiny tokens (the eps clamp)', () => {
    const { xq, scale } = activationQuant(t(ref.act_tiny.X, [2, 4]));
    expect(Array.from(scale.data)).toEqual(ref.act_tiny.s.map(Math.fround));
    expect(plain(xq.data)).toEqual(plain(ref.act_tiny.xq.map(Math.fround)));
  });
});
