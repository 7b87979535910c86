import { describe, expect, it } from 'vitest';
import { packBase3, packI2 } from '../src/packing.js';
import { quantizeActivationsInt8, roundHalfEven } from '../src/kernels/quantize-activations.js';
import { ternaryMatmulBase3, ternaryMatmulI2 } from '../src/kernels/ternary-matmul.js';

// mulberry32: a small seeded generator, so a failing case repeats.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  tokens: number;
  inFeatures: number;
  outFeatures: number;
  x: Int8Array;
  codes: Int8Array;
  weightScale: Float32Array;
  actScale: Float32Array;
  bias: Float32Array | null;
}

function makeCase(tokens: number, inFeatures: number, outFeatures: number, perChannel: boolean, withBias: boolean, seed: number): Case {
  const next = rng(seed);
  const x = Int8Array.from({ length: tokens * inFeatures }, () => Math.floor(next() * 256) - 128);
  const codes = Int8Array.from({ length: outFeatures * inFeatures }, () => Math.floor(next() * 3) - 1);
  const weightScale = Float32Array.from({ length: perChannel ? outFeatures : 1 }, () => 0.01 + next());
  const actScale = Float32Array.from({ length: tokens }, () => 1 + 200 * next());
  const bias = withBias ? Float32Array.from({ length: outFeatures }, () => next() - 0.5) : null;
  return { tokens, inFeatures, outFeatures, x, codes, weightScale, actScale, bias };
}

// The straightforward reference: (xInt8 @ Wt^T) * (gamma / s) + b, the sum in float64 (exact for
// these sizes), scales as float32 like PyTorch would hold them.
function reference(c: Case): Float64Array {
  const y = new Float64Array(c.tokens * c.outFeatures);
  for (let t = 0; t < c.tokens; t++) {
    for (let o = 0; o < c.outFeatures; o++) {
      let dot = 0;
      for (let i = 0; i < c.inFeatures; i++) dot += c.x[t * c.inFeatures + i]! * c.codes[o * c.inFeatures + i]!;
      const gamma = c.weightScale.length === 1 ? c.weightScale[0]! : c.weightScale[o]!;
      y[t * c.outFeatures + o] = dot * Math.fround(gamma / c.actScale[t]!) + (c.bias ? c.bias[o]! : 0);
    }
  }
  return y;
}

// Equal up to float32 rounding of the final rescale (a few ulps of the largest term).
function expectClose(got: Float32Array, want: Float64Array, c: Case): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const t = Math.floor(i / Math.max(c.outFeatures, 1));
    const bound = 128 * c.inFeatures * 1.1 / c.actScale[t]! + 1; // |acc| * gamma / s + |b| upper bound
    if (Math.abs(got[i]! - want[i]!) > 4e-7 * bound) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (${c.tokens}x${c.inFeatures} -> ${c.outFeatures})`);
    }
  }
}

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1], [1, 2, 3], [1, 3, 1], [2, 5, 4], [3, 7, 5], [1, 13, 17], [4, 64, 8],
  [1, 192, 192], [5, 255, 33], [2, 770, 19], [17, 64, 128],
];

describe('roundHalfEven', () => {
  it('rounds ties to the even neighbour, like torch.round', () => {
    const cases: Array<[number, number]> = [[0.5, 0], [-0.5, -0], [1.5, 2], [-1.5, -2], [2.5, 2], [-2.5, -2], [3.5, 4], [-3.5, -4], [2.4, 2], [-2.6, -3], [126.5, 126], [127.5, 128]];
    for (const [v, want] of cases) expect(roundHalfEven(v)).toBe(want);
    expect(Math.round(-2.5)).toBe(-2); // the trap: Math.round would pass -2.5 but fail 2.5 and -1.5
  });
});

describe('quantizeActivationsInt8', () => {
  it('matches hand-worked codes and scales, ties to even', () => {
    const x = Float32Array.from([
      0.5, -1, 0.25, 2, // absmax 2: s = 63.5, x*s = 31.75, -63.5, 15.875, 127
      127, 0.5, 1.5, -2.5, // absmax 127: s = 1, the ties stay ties
      0, 0, 0, 0, // all zero: s = 127 / 1e-5, codes 0
    ]);
    const codes = new Int8Array(12);
    const scale = new Float32Array(3);
    quantizeActivationsInt8(x, 3, 4, codes, scale);
    expect(Array.from(scale)).toEqual([63.5, 1, Math.fround(127 / Math.fround(1e-5))]);
    expect(Array.from(codes)).toEqual([32, -64, 16, 127, 127, 0, 2, -2, 0, 0, 0, 0]);
  });

  it('keeps codes within [-127, 127] and x ~ code / s within half a step', () => {
    const next = rng(7);
    const tokens = 9, features = 37;
    const x = Float32Array.from({ length: tokens * features }, () => (next() - 0.5) * 10 ** (4 * next() - 2));
    const codes = new Int8Array(x.length);
    const scale = new Float32Array(tokens);
    quantizeActivationsInt8(x, tokens, features, codes, scale);
    for (let t = 0; t < tokens; t++) {
      let maxCode = 0;
      for (let i = 0; i < features; i++) {
        const k = t * features + i;
        expect(Math.abs(codes[k]! / scale[t]! - x[k]!)).toBeLessThanOrEqual((0.5 + 1e-4) / scale[t]!);
        maxCode = Math.max(maxCode, Math.abs(codes[k]!));
      }
      expect(maxCode).toBe(127); // the absmax element lands on +-127
    }
  });

  it('rejects bad lengths and non-finite input', () => {
    expect(() => quantizeActivationsInt8(new Float32Array(5), 2, 3, new Int8Array(6), new Float32Array(2))).toThrow(
      'quantizeActivationsInt8: x has 5 values, expected 2 x 3 = 6',
    );
    expect(() => quantizeActivationsInt8(new Float32Array(6), 2, 3, new Int8Array(6), new Float32Array(1))).toThrow('outScale has 1 slots, expected 2');
    expect(() => quantizeActivationsInt8(Float32Array.from([1, NaN]), 1, 2, new Int8Array(2), new Float32Array(1))).toThrow(
      'quantizeActivationsInt8: x[1] (token 0, feature 1) is NaN',
    );
  });
});

describe('ternaryMatmulI2 (TypeScript)', () => {
  it('equals (xInt8 @ Wt^T) * (gamma / s) + b on random and odd shapes', () => {
    let seed = 1;
    for (const [tokens, inF, outF] of SHAPES) {
      for (const perChannel of [false, true]) {
        const c = makeCase(tokens, inF, outF, perChannel, perChannel, seed++);
        const out = new Float32Array(tokens * outF);
        ternaryMatmulI2(c.x, tokens, inF, packI2(c.codes, outF, inF), outF, c.weightScale, c.actScale, c.bias, out);
        expectClose(out, reference(c), c);
      }
    }
  });

  it('accumulates exactly at the int8 extremes (-128 * -1 over 1000 inputs)', () => {
    const inF = 1001;
    const x = new Int8Array(inF).fill(-128);
    const codes = new Int8Array(2 * inF).fill(-1);
    codes.fill(1, inF); // row 1: all +1
    const out = new Float32Array(2);
    ternaryMatmulI2(x, 1, inF, packI2(codes, 2, inF), 2, Float32Array.of(1), Float32Array.of(1), null, out);
    expect(Array.from(out)).toEqual([128 * inF, -128 * inF]);
  });

  it('computes a hand-worked example', () => {
    // x = [3, -2, 5], W = [[1, -1, 0], [-1, 0, 1]]: dots 5 and 2; gamma = [0.5, 2], s = 4, b = [1, -1]
    const out = new Float32Array(2);
    const packed = packI2(Int8Array.from([1, -1, 0, -1, 0, 1]), 2, 3);
    ternaryMatmulI2(Int8Array.from([3, -2, 5]), 1, 3, packed, 2, Float32Array.of(0.5, 2), Float32Array.of(4), Float32Array.of(1, -1), out);
    expect(Array.from(out)).toEqual([5 * 0.125 + 1, 2 * 0.5 - 1]);
  });

  it('handles zero tokens and zero outputs', () => {
    const empty = new Float32Array(0);
    ternaryMatmulI2(new Int8Array(0), 0, 4, packI2(new Int8Array(8), 2, 4), 2, Float32Array.of(1), new Float32Array(0), null, empty);
    ternaryMatmulI2(new Int8Array(4), 1, 4, new Uint8Array(0), 0, Float32Array.of(1), Float32Array.of(1), null, empty);
    expect(empty.length).toBe(0);
  });

  it('agrees with the fake-quant float forward xq @ (Wt * gamma)^T + b', () => {
    const next = rng(99);
    const tokens = 3, inF = 50, outF = 7;
    const xf = Float32Array.from({ length: tokens * inF }, () => next() * 4 - 2);
    const codes = Int8Array.from({ length: outF * inF }, () => Math.floor(next() * 3) - 1);
    const gamma = Float32Array.of(0.037);
    const bias = Float32Array.from({ length: outF }, () => next());
    const xq = new Int8Array(xf.length);
    const s = new Float32Array(tokens);
    quantizeActivationsInt8(xf, tokens, inF, xq, s);
    const out = new Float32Array(tokens * outF);
    ternaryMatmulI2(xq, tokens, inF, packI2(codes, outF, inF), outF, gamma, s, bias, out);
    for (let t = 0; t < tokens; t++) {
      for (let o = 0; o < outF; o++) {
        let y = bias[o]!;
        for (let i = 0; i < inF; i++) y += Math.fround(xq[t * inF + i]! / s[t]!) * Math.fround(codes[o * inF + i]! * gamma[0]!);
        expect(out[t * outF + o]).toBeCloseTo(y, 5);
      }
    }
  });

  it('names the function and the wrong length', () => {
    const packed = packI2(new Int8Array(6), 2, 3);
    const call = (x: Int8Array, ws: Float32Array, out: Float32Array, bias: Float32Array | null = null): void =>
      ternaryMatmulI2(x, 1, 3, packed, 2, ws, Float32Array.of(1), bias, out);
    expect(() => call(new Int8Array(4), Float32Array.of(1), new Float32Array(2))).toThrow(
      'ternaryMatmulI2: x has length 4, expected 3 (tokens 1 x inFeatures 3)',
    );
    expect(() => call(new Int8Array(3), Float32Array.of(1, 2, 3), new Float32Array(2))).toThrow(
      'ternaryMatmulI2: weightScale has length 3, expected 1 (per tensor) or 2 (per output channel)',
    );
    expect(() => call(new Int8Array(3), Float32Array.of(1), new Float32Array(3))).toThrow('ternaryMatmulI2: out has length 3, expected 2');
    expect(() => call(new Int8Array(3), Float32Array.of(1), new Float32Array(2), new Float32Array(1))).toThrow('ternaryMatmulI2: bias has length 1, expected 2');
    expect(() => ternaryMatmulI2(new Int8Array(3), 1, 3, new Uint8Array(3), 2, Float32Array.of(1), Float32Array.of(1), null, new Float32Array(2))).toThrow(
      'ternaryMatmulI2: packed has length 3, expected 2 (outFeatures 2 rows of 1 bytes)',
    );
  });
});

describe('ternaryMatmulBase3 (TypeScript)', () => {
  it('gives bit-identical results to the i2 kernel (same integer sums, same rescale)', () => {
    let seed = 500;
    for (const [tokens, inF, outF] of SHAPES) {
      const c = makeCase(tokens, inF, outF, seed % 2 === 0, true, seed++);
      const a = new Float32Array(tokens * outF);
      const b = new Float32Array(tokens * outF);
      ternaryMatmulI2(c.x, tokens, inF, packI2(c.codes, outF, inF), outF, c.weightScale, c.actScale, c.bias, a);
      ternaryMatmulBase3(c.x, tokens, inF, packBase3(c.codes, outF, inF), outF, c.weightScale, c.actScale, c.bias, b);
      expect(b).toEqual(a);
      expectClose(b, reference(c), c);
    }
  });
});
