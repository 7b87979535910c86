// The weight-only PTQ methods on hand-worked matrices, and against PyTorch reference values
// (test/ref/make_ptq_reference.py, plain torch, least squares by torch.linalg.lstsq).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { absmeanTernary } from '../src/ptq/absmean.js';
import { channelMeans, centerRows } from '../src/ptq/asymmetric.js';
import { fitTernary, type GridMethod } from '../src/ptq/fit.js';
import { refitScales, solveRidge } from '../src/ptq/refit.js';
import { twnTernary } from '../src/ptq/twn.js';
import { twoPlaneTernary } from '../src/ptq/two-plane.js';
import { bitsPerWeight, dequantize, relativeError, zeroShare, type Granularity } from '../src/ptq/ternary-weights.js';

const f32 = (v: number[]): Float32Array => Float32Array.from(v);
const codes = (c: Int8Array): number[] => Array.from(c);

// A 2x4 matrix worked by hand below. Per tensor: mean|W| = 6.7/8 = 0.8375.
const W = f32([1.0, -0.2, 0.5, -2.2, 0.6, -0.1, 0.3, 1.8]);

describe('absmean', () => {
  it('per tensor: gamma = mean|W|, codes round W/gamma half to even and clip', () => {
    const p = absmeanTernary(W, 2, 4, 'tensor');
    // W/gamma = 1.19, -0.24, 0.597, -2.63 | 0.716, -0.119, 0.358, 2.15
    expect(codes(p.codes)).toEqual([1, 0, 1, -1, 1, 0, 0, 1]);
    expect(p.alpha[0]).toBeCloseTo(0.8375, 6);
  });

  it('per channel: one gamma per row', () => {
    const p = absmeanTernary(W, 2, 4, 'channel');
    // row 0: gamma = 3.9/4 = 0.975, W/gamma = 1.03, -0.21, 0.51, -2.26; row 1: gamma = 0.7
    expect(Array.from(p.alpha)).toEqual([Math.fround(0.975), Math.fround(0.7)]);
    expect(codes(p.codes)).toEqual([1, 0, 1, -1, 1, 0, 0, 1]);
  });

  it('rounds exact halves to even: +-0.5 -> 0, +-1.5 -> +-2 -> clipped to +-1', () => {
    const p = absmeanTernary(f32([0.5, -0.5, 1.5, -1.5]), 1, 4, 'tensor'); // gamma = 1
    expect(p.alpha[0]).toBe(1);
    expect(codes(p.codes)).toEqual([0, 0, 1, -1]);
  });
});

describe('TWN', () => {
  it('per tensor: delta = 0.7 mean|W|, alpha = mean of the kept magnitudes', () => {
    const p = twnTernary(W, 2, 4, 'tensor');
    // delta = 0.58625: 0.5 is dropped (absmean kept it), 0.6 is kept.
    expect(codes(p.codes)).toEqual([1, 0, 0, -1, 1, 0, 0, 1]);
    expect(p.alpha[0]).toBeCloseTo((1.0 + 2.2 + 0.6 + 1.8) / 4, 6); // 1.4
  });

  it('per channel', () => {
    const p = twnTernary(W, 2, 4, 'channel');
    // row 0: delta = 0.7 * 0.975 = 0.6825 keeps 1.0, 2.2; row 1: delta = 0.49 keeps 0.6, 1.8
    expect(codes(p.codes)).toEqual([1, 0, 0, -1, 1, 0, 0, 1]);
    expect(p.alpha[0]).toBeCloseTo(1.6, 6);
    expect(p.alpha[1]).toBeCloseTo(1.2, 6);
  });

  it('an all-zero row keeps no weight and a positive scale', () => {
    const p = twnTernary(f32([0, 0, 0, 0, 1, -1, 0.1, 0]), 2, 4, 'channel');
    expect(codes(p.codes)).toEqual([0, 0, 0, 0, 1, -1, 0, 0]);
    expect(p.alpha[0]).toBeGreaterThan(0);
    expect(dequantize({ rows: 2, cols: 4, granularity: 'channel', planes: [p], beta: null }).slice(0, 4)).toEqual(f32([0, 0, 0, 0]));
  });
});

describe('least-squares refit', () => {
  it('alpha = <W,T>/<T,T> for the absmean codes, and the weight error drops', () => {
    const p = absmeanTernary(W, 2, 4, 'tensor');
    const { alphas, beta } = refitScales(W, 2, 4, [p], 'tensor', false);
    expect(beta).toBeNull();
    expect(alphas[0]![0]).toBeCloseTo((1.0 + 0.5 + 2.2 + 0.6 + 1.8) / 5, 6); // 1.22
    const before = relativeError(W, dequantize({ rows: 2, cols: 4, granularity: 'tensor', planes: [p], beta: null }));
    const after = relativeError(W, dequantize({ rows: 2, cols: 4, granularity: 'tensor', planes: [{ codes: p.codes, alpha: alphas[0]! }], beta: null }));
    expect(after).toBeLessThan(before);
  });

  it("leaves TWN's scale as it is: TWN's alpha already is <W,T>/<T,T> for its codes", () => {
    const twn = fitTernary(W, 2, 4, 'twn', 'channel', true);
    const refit = fitTernary(W, 2, 4, 'twn-refit', 'channel', true);
    expect(codes(refit.planes[0]!.codes)).toEqual(codes(twn.planes[0]!.codes));
    for (let r = 0; r < 2; r++) expect(refit.planes[0]!.alpha[r]).toBeCloseTo(twn.planes[0]!.alpha[r]!, 6);
  });

  it('keeps the previous scale for an all-zero plane (the ridge of solveRidge)', () => {
    const zero = { codes: new Int8Array(4), alpha: f32([0.3]) };
    expect(refitScales(f32([1, 2, 3, 4]), 1, 4, [zero], 'tensor', false).alphas[0]![0]).toBeCloseTo(0.3, 7);
    const a = solveRidge([Float64Array.of(4, 2), Float64Array.of(2, 3)], Float64Array.of(8, 7), [0, 0]);
    expect(a[0]).toBeCloseTo(1.25, 8); // 4a + 2b = 8, 2a + 3b = 7
    expect(a[1]).toBeCloseTo(1.5, 8);
  });
});

describe('asymmetric (per-row zero point)', () => {
  // Row 0 sits on the levels 0, 1, 2: exact with a zero point of 1, not without.
  // Row 1 has unbalanced codes, so the joint fit moves beta off the row mean.
  const A = f32([2, 1, 0, 1, 3, 1, 0, 0]);

  it('beta = channel mean; codes from the centered rows; levels beta-alpha, beta, beta+alpha', () => {
    expect(Array.from(channelMeans(A, 2, 4))).toEqual([1, 1]);
    expect(Array.from(centerRows(A, 2, 4, f32([1, 1])))).toEqual([1, 0, -1, 0, 2, 0, -1, -1]);
    const q = fitTernary(A, 2, 4, 'twn', 'channel', false);
    expect(Array.from(q.beta!)).toEqual([1, 1]);
    expect(codes(q.planes[0]!.codes)).toEqual([1, 0, -1, 0, 1, 0, -1, -1]);
    expect(q.planes[0]!.alpha[0]).toBeCloseTo(1, 6);
    expect(q.planes[0]!.alpha[1]).toBeCloseTo(4 / 3, 6); // (2 + 1 + 1) / 3
    const dq = dequantize(q);
    for (let i = 0; i < 4; i++) expect(dq[i]).toBeCloseTo(A[i]!, 6); // row 0 exact
    const sym = fitTernary(A, 2, 4, 'twn', 'channel', true);
    expect(relativeError(A.subarray(0, 4), dequantize(sym).subarray(0, 4))).toBeGreaterThan(0.1);
  });

  it('refit fits alpha and beta jointly: row [3, 1, 0, 0], codes [1, 0, -1, -1] -> alpha 16/11, beta 15/11', () => {
    const q = fitTernary(A, 2, 4, 'twn-refit', 'channel', false);
    // centered codes tc = t - mean(t) = t + 1/4, wc = w - 1: alpha = <wc,tc>/<tc,tc> = 4 / 2.75
    expect(q.planes[0]!.alpha[1]).toBeCloseTo(16 / 11, 6);
    expect(q.beta![1]).toBeCloseTo(1 + (16 / 11) * 0.25, 6); // mean(w) - alpha mean(t)
    const plain = fitTernary(A, 2, 4, 'twn', 'channel', false);
    expect(relativeError(A, dequantize(q))).toBeLessThan(relativeError(A, dequantize(plain)));
  });
});

describe('two planes', () => {
  it('represents a row on the nine levels -4..4 exactly: T1 with alpha 3, the residual with alpha 1', () => {
    const w = f32([4, 3, 2, 1, 0, -1, -2, -3, -4]);
    const q = twoPlaneTernary(w, 1, 9, 'tensor', true);
    expect(codes(q.planes[0]!.codes)).toEqual([1, 1, 1, 0, 0, 0, -1, -1, -1]);
    expect(codes(q.planes[1]!.codes)).toEqual([1, 0, -1, 1, 0, -1, 1, 0, -1]);
    expect(q.planes[0]!.alpha[0]).toBeCloseTo(3, 6);
    expect(q.planes[1]!.alpha[0]).toBeCloseTo(1, 6);
    expect(relativeError(w, dequantize(q))).toBeLessThan(1e-6);
    expect(bitsPerWeight(q)).toBeCloseTo(2 * Math.log2(3) + (32 * 2) / 9, 9);
  });

  it('has a lower weight error than one plane on every random matrix tried', () => {
    let seed = 7;
    const next = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    for (const [rows, cols, gran, sym] of [[8, 32, 'tensor', true], [8, 32, 'channel', true], [5, 17, 'channel', false]] as const) {
      const w = Float32Array.from({ length: rows * cols }, () => next() * next() * 4); // heavy-ish tails
      const one = relativeError(w, dequantize(fitTernary(w, rows, cols, 'twn-refit', gran, sym)));
      const two = relativeError(w, dequantize(twoPlaneTernary(w, rows, cols, gran, sym)));
      expect(two).toBeLessThan(0.7 * one);
    }
  });
});

describe('report helpers', () => {
  it('zero share, relative error and bits per weight', () => {
    expect(zeroShare(Int8Array.of(0, 1, 0, -1))).toBe(0.5);
    expect(relativeError([3, 4], [3, 4])).toBe(0);
    expect(relativeError([3, 4], [0, 0])).toBe(1);
    const q = fitTernary(W, 2, 4, 'absmean', 'channel', false);
    expect(bitsPerWeight(q)).toBeCloseTo(Math.log2(3) + (32 * 4) / 8, 9); // 2 scales + 2 zero points over 8 weights
  });
});

interface RefResult { codes: number[][]; alpha: number[][]; beta: number[] | null; dequantized: number[] }
interface RefCase { name: string; rows: number; cols: number; w: number[]; results: Record<string, RefResult> }
const ref = JSON.parse(readFileSync(new URL('./ref/ptq_reference.json', import.meta.url), 'utf8')) as { cases: RefCase[] };

describe('against PyTorch (make_ptq_reference.py)', () => {
  for (const c of ref.cases) {
    for (const [key, want] of Object.entries(c.results)) {
      it(`${c.name} ${key}`, () => {
        const [method, gran, sym] = key.split('/') as [GridMethod | 'two-plane', Granularity, string];
        const w = f32(c.w);
        const q = fitTernary(w, c.rows, c.cols, method, gran, sym === 'sym');
        expect(q.planes.length).toBe(want.codes.length);
        q.planes.forEach((p, k) => {
          expect(codes(p.codes)).toEqual(want.codes[k]);
          p.alpha.forEach((a, g) => expect(a).toBeCloseTo(want.alpha[k]![g]!, 5));
        });
        if (want.beta === null) expect(q.beta).toBeNull();
        else q.beta!.forEach((b, r) => expect(b).toBeCloseTo(want.beta![r]!, 5));
        dequantize(q).forEach((v, i) => expect(v).toBeCloseTo(want.dequantized[i]!, 5));
      });
    }
  }
});
