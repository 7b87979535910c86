import { describe, expect, it } from 'vitest';
import { packBase3, packI2 } from '../src/packing.js';
import { quantizeActivationsInt8, roundHalfEven } from '../src/kernels/quantize-activations.js';
import { ternaryMatmulBase3, ternaryMatmulI2 } from '../src/kernels/ternary-matmul.js';
import { engineHasRelaxedSwizzle, TernaryMatmulI2Wasm, toRowBlocks, wasmTernaryAvailable } from '../src/kernels/ternary-wasm.js';
import { setTernaryThreads, ternaryRuntime, ternaryThreads } from '../src/kernels/ternary-runtime.js';
import { wasm } from '@bitvit/tensor';
import { rng } from './helpers.js';

const { u32leb: uleb, s32leb: sleb } = wasm;

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

describe('wasm module builder (LEB128)', () => {
  it('encodes LEB128 like the spec examples', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });
});

describe('toRowBlocks', () => {
  it('interleaves byte columns of 16 rows and pads with zero weights (0x55)', () => {
    // 17 rows x 13 inputs: 4 bytes per row -> 4 columns (already a multiple of 4), 2 blocks
    const packed = Uint8Array.from({ length: 17 * 4 }, (_, i) => i);
    const { blocks, columns } = toRowBlocks(packed, 17, 13);
    expect(columns).toBe(4);
    expect(blocks.length).toBe(2 * 16 * 4);
    // block 0, column c: byte c of rows 0..15
    for (let c = 0; c < 4; c++) {
      expect(Array.from(blocks.subarray(16 * c, 16 * c + 16))).toEqual(Array.from({ length: 16 }, (_, r) => 4 * r + c));
    }
    // block 1 holds row 16, then 15 padding rows
    expect([blocks[64], blocks[80], blocks[96], blocks[112]]).toEqual([64, 65, 66, 67]);
    expect(Array.from(blocks.subarray(65, 80))).toEqual(new Array(15).fill(0x55));
    // 5 inputs: 2 bytes per row, padded to 4 columns
    const short = toRowBlocks(Uint8Array.of(0x56, 0x57), 1, 5);
    expect(short.columns).toBe(4);
    expect([short.blocks[0], short.blocks[16], short.blocks[32], short.blocks[48]]).toEqual([0x56, 0x57, 0x55, 0x55]);
  });
});

describe('TernaryMatmulI2Wasm', () => {
  it('runs here (Node 20 has WebAssembly SIMD)', () => {
    expect(wasmTernaryAvailable()).toBe(true);
  });

  // The integer sums, exactly: with gamma = s = 1 and no bias the output is the int32 sum itself.
  const exactShapes: Array<[number, number, number]> = [
    ...SHAPES,
    [1, 8, 16], [2, 9, 15], [3, 249, 31], // 249 inputs: 63 columns, one past the int16 widening span
    [65, 40, 20], // 65 tokens: two chunks
    [130, 24, 7],
    [2, 4000, 200], // 16 KB of weights per block: two passes over the weights
  ];
  const variants = engineHasRelaxedSwizzle() ? [false, true] : [false];

  for (const relaxedSwizzle of variants) {
    it(`gives the exact integer sums of the TypeScript kernel (relaxedSwizzle: ${relaxedSwizzle})`, () => {
      let seed = 2000;
      for (const [tokens, inF, outF] of exactShapes) {
        const c = makeCase(tokens, inF, outF, false, false, seed++);
        const packed = packI2(c.codes, outF, inF);
        const one = Float32Array.of(1);
        const ones = new Float32Array(tokens).fill(1);
        const want = new Float32Array(tokens * outF);
        const got = new Float32Array(tokens * outF).fill(NaN);
        ternaryMatmulI2(c.x, tokens, inF, packed, outF, one, ones, null, want);
        new TernaryMatmulI2Wasm(packed, outF, inF, { relaxedSwizzle }).matmul(c.x, tokens, one, ones, null, got);
        expect(got, `${tokens}x${inF} -> ${outF}`).toEqual(want);
      }
    });
  }

  it('equals the reference with per-tensor and per-channel scales and bias', () => {
    let seed = 3000;
    for (const [tokens, inF, outF] of SHAPES) {
      for (const perChannel of [false, true]) {
        const c = makeCase(tokens, inF, outF, perChannel, !perChannel, seed++);
        const kernel = new TernaryMatmulI2Wasm(packI2(c.codes, outF, inF), outF, inF);
        const out = new Float32Array(tokens * outF);
        kernel.matmul(c.x, tokens, c.weightScale, c.actScale, c.bias, out);
        expectClose(out, reference(c), c);
        // a second call on the same kernel reuses its memory and gives the same result
        const again = new Float32Array(tokens * outF);
        kernel.matmul(c.x, tokens, c.weightScale, c.actScale, c.bias, again);
        expect(again).toEqual(out);
      }
    }
  });

  it('accumulates exactly at the int8 extremes over many columns', () => {
    const inF = 1001;
    const x = new Int8Array(2 * inF).fill(-128);
    x.fill(127, inF); // token 1: all +127
    const codes = new Int8Array(2 * inF).fill(-1);
    codes.fill(1, inF);
    const out = new Float32Array(4);
    new TernaryMatmulI2Wasm(packI2(codes, 2, inF), 2, inF).matmul(x, 2, Float32Array.of(1), Float32Array.of(1, 1), null, out);
    expect(Array.from(out)).toEqual([128 * inF, -128 * inF, -127 * inF, 127 * inF]);
  });

  it('handles zero inputs (y = bias) and zero outputs', () => {
    const bias = Float32Array.of(1, 2, 3);
    const kernel = new TernaryMatmulI2Wasm(new Uint8Array(0), 3, 0);
    const y = new Float32Array(6);
    kernel.matmul(new Int8Array(0), 2, Float32Array.of(1), Float32Array.of(1, 1), bias, y);
    expect(Array.from(y)).toEqual([1, 2, 3, 1, 2, 3]);
    const z = new Float32Array(6);
    kernel.linear(new Float32Array(0), 2, Float32Array.of(1), bias, z);
    expect(Array.from(z)).toEqual([1, 2, 3, 1, 2, 3]);
    const none = new Float32Array(0);
    new TernaryMatmulI2Wasm(new Uint8Array(0), 0, 8).matmul(new Int8Array(16), 2, Float32Array.of(1), Float32Array.of(1, 1), null, none);
    expect(none.length).toBe(0);
  });

  it('treats corrupt code 3 as a zero weight instead of reading garbage', () => {
    // one row, 4 inputs: byte 0xFF = four codes 3
    const out = new Float32Array(1);
    new TernaryMatmulI2Wasm(Uint8Array.of(0xff), 1, 4).matmul(Int8Array.of(5, 6, 7, 8), 1, Float32Array.of(1), Float32Array.of(1), null, out);
    expect(out[0]).toBe(0);
  });

  it('linear() quantizes exactly like quantizeActivationsInt8, then multiplies', () => {
    const next = rng(4000);
    for (const [tokens, inF, outF] of [[1, 1, 1], [3, 13, 17], [70, 50, 9], [2, 333, 40]] as const) {
      const x = Float32Array.from({ length: tokens * inF }, () => (next() - 0.5) * 10 ** (3 * next() - 1));
      if (tokens > 1) x.fill(0, 0, inF); // an all-zero token: s = 127 / 1e-5
      const codes = Int8Array.from({ length: outF * inF }, () => Math.floor(next() * 3) - 1);
      const gamma = Float32Array.from({ length: outF }, () => next());
      const bias = Float32Array.from({ length: outF }, () => next() - 0.5);
      const kernel = new TernaryMatmulI2Wasm(packI2(codes, outF, inF), outF, inF);
      // reference: the TypeScript quantizer, then the same kernel on int8 codes
      const xq = new Int8Array(x.length);
      const s = new Float32Array(tokens);
      quantizeActivationsInt8(x, tokens, inF, xq, s);
      const want = new Float32Array(tokens * outF);
      kernel.matmul(xq, tokens, gamma, s, bias, want);
      const got = new Float32Array(tokens * outF);
      const gotScale = new Float32Array(tokens);
      kernel.linear(x, tokens, gamma, bias, got, gotScale);
      expect(gotScale).toEqual(s);
      expect(got).toEqual(want);
    }
  });

  it('linear() rounds ties to even, like the hand-worked quantizer example', () => {
    // W = identity (4 x 4), gamma = 1: y = code / s, so y * s gives the codes back
    const identity = Int8Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const kernel = new TernaryMatmulI2Wasm(packI2(identity, 4, 4), 4, 4);
    const x = Float32Array.from([0.5, -1, 0.25, 2, 127, 0.5, 1.5, -2.5, 0, 0, 0, 0]);
    const y = new Float32Array(12);
    const s = new Float32Array(3);
    kernel.linear(x, 3, Float32Array.of(1), null, y, s);
    expect(Array.from(s)).toEqual([63.5, 1, Math.fround(127 / Math.fround(1e-5))]);
    expect(Array.from(y, (v, i) => Math.round(v * s[Math.floor(i / 4)]!))).toEqual([32, -64, 16, 127, 127, 0, 2, -2, 0, 0, 0, 0]);
  });

  it('linear() rejects non-finite activations, naming the token', () => {
    const kernel = new TernaryMatmulI2Wasm(new Uint8Array(2).fill(0x55), 1, 5);
    const x = new Float32Array(10);
    x[7] = Infinity;
    expect(() => kernel.linear(x, 2, Float32Array.of(1), null, new Float32Array(2))).toThrow(
      'TernaryMatmulI2Wasm.linear: token 1 holds a non-finite value',
    );
    x[7] = NaN;
    expect(() => kernel.linear(x, 2, Float32Array.of(1), null, new Float32Array(2))).toThrow('token 1 holds a non-finite value');
  });

  it('checks its arguments and names the wrong one', () => {
    expect(() => new TernaryMatmulI2Wasm(new Uint8Array(5), 2, 8)).toThrow(
      'TernaryMatmulI2Wasm: packed has length 5, expected 4 (outFeatures 2 rows of 2 bytes)',
    );
    const kernel = new TernaryMatmulI2Wasm(new Uint8Array(4).fill(0x55), 2, 8);
    expect(() => kernel.matmul(new Int8Array(7), 1, Float32Array.of(1), Float32Array.of(1), null, new Float32Array(2))).toThrow(
      'TernaryMatmulI2Wasm.matmul: x has length 7, expected 8 (tokens 1 x inFeatures 8)',
    );
    expect(() => kernel.matmul(new Int8Array(8), 1, Float32Array.of(1), Float32Array.of(1, 2), null, new Float32Array(2))).toThrow(
      'TernaryMatmulI2Wasm.matmul: actScale has length 2, expected 1 (one scale per token)',
    );
    if (!engineHasRelaxedSwizzle()) {
      expect(() => new TernaryMatmulI2Wasm(new Uint8Array(4), 2, 8, { relaxedSwizzle: true })).toThrow('this engine has no relaxed SIMD');
    }
  });
});

describe('ternary runtime threads', () => {
  it('shares a big job with a worker thread and gives the same exact sums', () => {
    const before = ternaryThreads();
    try {
      setTernaryThreads(2);
      const runtime = ternaryRuntime({ relaxedSwizzle: engineHasRelaxedSwizzle() });
      expect(runtime.waitForWorkers()).toBe(1);
      const [tokens, inF, outF] = [1000, 384, 192]; // 74M multiply-adds: milliseconds, time for the worker to join
      const c = makeCase(tokens, inF, outF, false, false, 77);
      const packed = packI2(c.codes, outF, inF);
      const one = Float32Array.of(1);
      const ones = new Float32Array(tokens).fill(1);
      const want = new Float32Array(tokens * outF);
      ternaryMatmulI2(c.x, tokens, inF, packed, outF, one, ones, null, want);
      const kernel = new TernaryMatmulI2Wasm(packed, outF, inF);
      const unitsBefore = runtime.workerUnits;
      const two = new Float32Array(tokens * outF);
      // the worker may be slow to wake on a busy machine; over a few calls it takes units
      for (let i = 0; i < 20 && runtime.workerUnits === unitsBefore; i++) kernel.matmul(c.x, tokens, one, ones, null, two);
      expect(runtime.workerUnits).toBeGreaterThan(unitsBefore);
      expect(two).toEqual(want);
      // and float activations through linear(), against the single-threaded run
      const xf = Float32Array.from(c.x, (v) => v / 7);
      const y2 = new Float32Array(tokens * outF);
      kernel.linear(xf, tokens, c.weightScale, null, y2);
      setTernaryThreads(1);
      const one1 = new Float32Array(tokens * outF);
      kernel.matmul(c.x, tokens, one, ones, null, one1);
      expect(one1).toEqual(want);
      const y1 = new Float32Array(tokens * outF);
      kernel.linear(xf, tokens, c.weightScale, null, y1);
      expect(y1).toEqual(y2);
    } finally {
      setTernaryThreads(before);
    }
  });

  it('rejects a bad thread count', () => {
    expect(() => setTernaryThreads(0)).toThrow('setTernaryThreads: expected an integer from 1 to 9, got 0');
  });
});
