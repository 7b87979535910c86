import { describe, expect, it } from 'vitest';
import { Tensor, theHeap } from '@bitvit/tensor';
import { packI2 } from '../src/packing.js';
import { quantizeActivationsInt8 } from '../src/kernels/quantize-activations.js';
import { ternaryMatmulI2 } from '../src/kernels/ternary-matmul.js';
import { TernaryMatmulI2Wasm } from '../src/kernels/ternary-wasm.js';
import { MAX_UNROLLED_NONZEROS, TernaryMatmulUnrolled, buildUnrolledModule, unrolledWorkerUnits } from '../src/kernels/ternary-unrolled.js';
import { setTernaryThreads, ternaryThreads } from '../src/kernels/ternary-runtime.js';
import { TernaryLinear } from '../src/ternary-linear.js';
import { inHeap, ternaryProblem, type TernaryProblem } from './helpers.js';

/** The TypeScript path: quantize, then the plain i2 matmul. */
function typescriptLinear(p: TernaryProblem): { y: Float32Array; s: Float32Array } {
  const codes = new Int8Array(p.tokens * p.inFeatures);
  const s = new Float32Array(p.tokens);
  quantizeActivationsInt8(p.x, p.tokens, p.inFeatures, codes, s);
  const y = new Float32Array(p.tokens * p.outFeatures);
  ternaryMatmulI2(codes, p.tokens, p.inFeatures, p.packed, p.outFeatures, p.weightScale, s, p.bias, y);
  return { y, s };
}

/** Equal up to float32 rounding of the final rescale: the TypeScript kernel rounds
 *  sum * (gamma / s) in another order; the integer sums themselves are exact in both. */
function expectClose(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-30);
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i]! - want[i]!) > 2e-7 * scale) throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (largest ${scale})`);
  }
}

function unrolled(p: TernaryProblem): TernaryMatmulUnrolled {
  const k = TernaryMatmulUnrolled.fromPacked(p.packed, p.outFeatures, p.inFeatures, { perTensorScale: p.weightScale.length === 1, maxNonzeros: Infinity });
  if (!k) throw new Error('no WebAssembly SIMD here');
  return k;
}

describe('TernaryMatmulUnrolled', () => {
  // odd token counts (groups of 8 padded), inputs not a multiple of 4, rows past one 256-input
  // slice (int16 sums widened to int32), a single output, per-tensor and per-channel scales
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 4, 3], [7, 5, 9], [8, 64, 64], [17, 64, 64], [13, 7, 5], [130, 64, 128], [40, 300, 17], [9, 600, 33], [1030, 12, 6],
  ];
  for (const [tokens, inFeatures, outFeatures] of shapes) {
    it(`gives the table kernel's floats exactly, the TypeScript kernel's up to the rescale's rounding: ${tokens} tokens, ${inFeatures} -> ${outFeatures}`, () => {
      for (const [perChannel, withBias] of [[true, true], [false, false]] as const) {
        const p = ternaryProblem(tokens, inFeatures, outFeatures, tokens * 1000 + inFeatures + outFeatures, perChannel, withBias);
        const want = typescriptLinear(p);
        const y = new Float32Array(tokens * outFeatures), s = new Float32Array(tokens);
        unrolled(p).linear(p.x, tokens, p.weightScale, p.bias, y, s);
        expect(s).toEqual(want.s); // the same int8 codes' scales, bit for bit
        expectClose(y, want.y);
        const yTable = new Float32Array(tokens * outFeatures);
        new TernaryMatmulI2Wasm(p.packed, outFeatures, inFeatures).linear(p.x, tokens, p.weightScale, p.bias, yTable);
        expect(y).toEqual(yTable);
      }
    });
  }

  it('sums exactly at the int8 extremes, across int16 slices', () => {
    // every code 127 (x = 1 everywhere gives s = 127) against all +1 (or all -1) weights:
    // 600 * 127 = 76,200 needs the int32 widening; 256 * 127 = 32,512 is the most one slice holds
    for (const inFeatures of [256, 257, 600]) {
      for (const sign of [1, -1]) {
        const tokens = 9, outFeatures = 2;
        const codes = new Int8Array(outFeatures * inFeatures).fill(sign);
        const k = TernaryMatmulUnrolled.fromPacked(packI2(codes, outFeatures, inFeatures), outFeatures, inFeatures, { maxNonzeros: Infinity })!;
        const y = new Float32Array(tokens * outFeatures);
        k.linear(new Float32Array(tokens * inFeatures).fill(1), tokens, new Float32Array([1]), null, y);
        // float(sum) * (1 / 127), in float32 as the kernel does it
        const want = Math.fround(sign * 127 * inFeatures * Math.fround(1 / 127));
        expect(Array.from(y)).toEqual(new Array<number>(tokens * outFeatures).fill(want));
      }
    }
  });

  it('skips zero weights in the code and refuses layers over the nonzero cap', () => {
    const dense = ternaryProblem(1, 64, 16, 1);
    const sparse = { ...dense, codes: dense.codes.map((c, i) => (i % 4 === 0 ? c : 0)) };
    const bytes = (codes: Int8Array): number => buildUnrolledModule(codes, 16, 64, 64).length;
    const empty = bytes(new Int8Array(16 * 64));
    // a quarter of the nonzero weights: about a quarter of the code past the fixed part
    expect(bytes(sparse.codes) - empty).toBeLessThan((bytes(dense.codes) - empty) / 3);
    const big = new Int8Array(MAX_UNROLLED_NONZEROS + 1).fill(1);
    expect(TernaryMatmulUnrolled.fromPacked(packI2(big, 1, big.length), 1, big.length)).toBeNull();
    expect(TernaryMatmulUnrolled.fromPacked(packI2(big.subarray(1), 1, big.length - 1), 1, big.length - 1)).not.toBeNull();
  });

  it('refuses a per-channel scale when built for one scale', () => {
    const p = ternaryProblem(3, 8, 4, 5, false);
    expect(() => unrolled(p).linear(p.x, 3, new Float32Array(4).fill(1), null, new Float32Array(12))).toThrow(/built for one weight scale, got 4/);
  });

  it('refuses non-finite inputs and wrong lengths, naming them', () => {
    const p = ternaryProblem(10, 8, 4, 2);
    const k = unrolled(p);
    const x = p.x.slice();
    x[3 * 8 + 2] = NaN;
    expect(() => k.linear(x, 10, p.weightScale, p.bias, new Float32Array(40))).toThrow(/token 3 holds a non-finite value/);
    x[3 * 8 + 2] = Infinity;
    expect(() => k.linear(x, 10, p.weightScale, p.bias, new Float32Array(40))).toThrow(/token 3 holds a non-finite value/);
    expect(() => k.linear(p.x, 10, p.weightScale, p.bias, new Float32Array(39))).toThrow(/out has length 39, expected 40/);
    expect(() => TernaryMatmulUnrolled.fromPacked(p.packed.subarray(1), 4, 8)).toThrow(/packed has length 7, expected 8/);
  });

  it('reads and writes tensors in the heap in place, with the same result', () => {
    // whole groups of 8 (out in place) and not (out through scratch), inputs a multiple of 4
    // (x in place: the spare lanes read past the tokens) and not (x copied), jobs past 1024 tokens
    for (const [tokens, inFeatures, outFeatures] of [[16, 64, 24], [13, 64, 24], [1040, 32, 16], [24, 7, 5]] as const) {
      const p = ternaryProblem(tokens, inFeatures, outFeatures, 7 + tokens);
      const heap = theHeap();
      const k = unrolled(p);
      const want = new Float32Array(tokens * outFeatures);
      k.linear(p.x, tokens, p.weightScale, p.bias, want);
      const x = inHeap(p.x);
      const out = inHeap(new Float32Array(tokens * outFeatures).fill(NaN));
      // a sentinel right after out: nothing may be written past its end
      const after = heap.floats(out.byteOffset + out.byteLength, 16).fill(12345);
      k.linear(x, tokens, p.weightScale, p.bias, out);
      expect(Array.from(out)).toEqual(Array.from(want));
      expect(Array.from(after)).toEqual(new Array<number>(16).fill(12345));
      expect(Array.from(x)).toEqual(Array.from(p.x));
    }
  });

  it('gives the same floats on worker threads, and the workers take part', () => {
    // big enough to be shared (groups x nonzero weights >= 2^19), in the heap as tensors are
    const p = ternaryProblem(1024, 128, 64, 11);
    const k = unrolled(p);
    const x = inHeap(p.x);
    const one = inHeap(new Float32Array(1024 * 64)), two = inHeap(new Float32Array(1024 * 64));
    const threads = ternaryThreads();
    try {
      setTernaryThreads(1);
      k.linear(x, 1024, p.weightScale, p.bias, one);
      setTernaryThreads(2);
      const before = unrolledWorkerUnits();
      // a worker takes ~50 ms to start; it joins the calls made once it is up
      const until = performance.now() + 5000;
      do k.linear(x, 1024, p.weightScale, p.bias, two);
      while (unrolledWorkerUnits() === before && performance.now() < until);
      expect(unrolledWorkerUnits()).toBeGreaterThan(before);
      expect(Array.from(two)).toEqual(Array.from(one));
      expectClose(two, typescriptLinear(p).y);
    } finally {
      setTernaryThreads(threads);
    }
  });

  it('runs jobs of more than 1024 tokens in pieces with the same result', () => {
    const p = ternaryProblem(2100, 16, 8, 3);
    const y = new Float32Array(2100 * 8);
    unrolled(p).linear(p.x, 2100, p.weightScale, p.bias, y);
    expectClose(y, typescriptLinear(p).y);
    const yTable = new Float32Array(2100 * 8);
    new TernaryMatmulI2Wasm(p.packed, 8, 16).linear(p.x, 2100, p.weightScale, p.bias, yTable);
    expect(y).toEqual(yTable);
  });
});

describe('TernaryLinear kernel choice', () => {
  it('gives the same output on the unrolled and the table kernel', () => {
    const p = ternaryProblem(200, 64, 48, 4);
    const layer = new TernaryLinear({
      inFeatures: 64, outFeatures: 48, packed: p.packed, weightScale: p.weightScale, bias: p.bias, activationBits: 8,
    });
    const x = new Tensor(p.x, [2, 100, 64]);
    const saved = TernaryLinear.unrolledMinTokens;
    try {
      TernaryLinear.unrolledMinTokens = 0;
      const a = layer.forward(x);
      TernaryLinear.unrolledMinTokens = Infinity;
      const b = layer.forward(x);
      expect(a.shape).toEqual([2, 100, 48]);
      expect(a.data).toEqual(b.data);
      expectClose(a.data, typescriptLinear(p).y);
    } finally {
      TernaryLinear.unrolledMinTokens = saved;
    }
  });
});
