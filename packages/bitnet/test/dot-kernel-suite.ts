// The dot kernel's tests (kernels/ternary-dot.ts), run for each variant: ternary-dot.test.ts for
// the relaxed one (relaxed SIMD: the relaxed-simd project), ternary-dot-i16.test.ts for the i16 one
// (plain SIMD: the default project). Each checks the kernel against the table kernel, bit for bit.
import { describe, expect, it } from 'vitest';
import { packI2 } from '../src/packing.js';
import { quantizeActivationsInt8 } from '../src/kernels/quantize-activations.js';
import { ternaryMatmulI2 } from '../src/kernels/ternary-matmul.js';
import { TernaryMatmulI2Wasm } from '../src/kernels/ternary-wasm.js';
import { TernaryMatmulDot, dotWorkerUnits, type DotVariant } from '../src/kernels/ternary-dot.js';
import { setTernaryThreads, ternaryThreads } from '../src/kernels/ternary-runtime.js';
import { inHeap, ternaryProblem, type TernaryProblem } from './helpers.js';

export function tableKernel(p: TernaryProblem): { y: Float32Array; s: Float32Array } {
  const y = new Float32Array(p.tokens * p.outFeatures), s = new Float32Array(p.tokens);
  new TernaryMatmulI2Wasm(p.packed, p.outFeatures, p.inFeatures).linear(p.x, p.tokens, p.weightScale, p.bias, y, s);
  return { y, s };
}

export function dotKernelSuite(variant: DotVariant): void {
  function dot(p: TernaryProblem): TernaryMatmulDot {
    const k = TernaryMatmulDot.fromPacked(p.packed, p.outFeatures, p.inFeatures, variant);
    if (!k) throw new Error(`no ${variant} dot product here`);
    return k;
  }

  describe(`TernaryMatmulDot, ${variant} variant`, () => {
    // odd token counts (tiles of 4), inputs not a multiple of 16 (rows copied and padded), rows past
    // one int16 chunk of 126 inputs (widened to int32), outputs not a multiple of 16 or of 4, one output
    const shapes: [number, number, number][] = [
      [1, 1, 1], [1, 16, 3], [7, 5, 9], [5, 64, 64], [17, 64, 10], [13, 7, 5], [65, 192, 192], [40, 300, 17], [9, 768, 33], [1030, 32, 6],
    ];
    for (const [tokens, inFeatures, outFeatures] of shapes) {
      it(`gives the table kernel's floats and scales bit for bit: ${tokens} tokens, ${inFeatures} -> ${outFeatures}`, () => {
        for (const [perChannel, withBias] of [[true, true], [false, false], [false, true]] as const) {
          const p = ternaryProblem(tokens, inFeatures, outFeatures, tokens * 1000 + inFeatures + outFeatures, perChannel, withBias);
          const want = tableKernel(p);
          const y = new Float32Array(tokens * outFeatures), s = new Float32Array(tokens);
          dot(p).linear(p.x, tokens, p.weightScale, p.bias, y, s);
          expect(s).toEqual(want.s);
          expect(y).toEqual(want.y);
        }
      });
    }

    it('agrees with the TypeScript kernel on the integer sums (up to the rescale rounding)', () => {
      const p = ternaryProblem(33, 100, 20, 7);
      const codes = new Int8Array(p.tokens * p.inFeatures), s = new Float32Array(p.tokens);
      quantizeActivationsInt8(p.x, p.tokens, p.inFeatures, codes, s);
      const want = new Float32Array(p.tokens * p.outFeatures);
      ternaryMatmulI2(codes, p.tokens, p.inFeatures, p.packed, p.outFeatures, p.weightScale, s, p.bias, want);
      const y = new Float32Array(p.tokens * p.outFeatures);
      dot(p).linear(p.x, p.tokens, p.weightScale, p.bias, y);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-30);
      for (let i = 0; i < want.length; i++) expect(Math.abs(y[i]! - want[i]!)).toBeLessThanOrEqual(2e-7 * scale);
    });

    it('sums exactly at the int8 extremes (and across the relaxed variant\'s int16 chunks)', () => {
      // x = 1 everywhere gives codes 127; x = -1 with one +1 gives codes -127 (and -128 never: the
      // quantizer clips at -128 but 127 / absmax * -absmax rounds to -127); all +1 or all -1 weights:
      // 600 * 127 = 76,200 needs the int32 widening of the 63-pair chunks
      for (const inFeatures of [126, 127, 128, 600]) {
        for (const sign of [1, -1]) {
          const tokens = 6, outFeatures = 18;
          const codes = new Int8Array(outFeatures * inFeatures).fill(sign);
          const k = TernaryMatmulDot.fromPacked(packI2(codes, outFeatures, inFeatures), outFeatures, inFeatures, variant)!;
          const y = new Float32Array(tokens * outFeatures);
          k.linear(new Float32Array(tokens * inFeatures).fill(1), tokens, new Float32Array([1]), null, y);
          const want = Math.fround(sign * 127 * inFeatures * Math.fround(1 / 127));
          expect(Array.from(y)).toEqual(new Array<number>(tokens * outFeatures).fill(want));
        }
      }
    });

    it('shares a big call with worker threads and gives the same floats', async () => {
      const before = ternaryThreads();
      setTernaryThreads(2);
      try {
        const p = ternaryProblem(600, 192, 96, 21, false, true); // 11 M multiply-adds: past the parallel threshold
        const want = tableKernel(p);
        const k = dot(p);
        const y = new Float32Array(600 * 96);
        const started = dotWorkerUnits();
        // the workers start with the first parallel call and join when up: call until one took a unit
        for (let i = 0; i < 200 && dotWorkerUnits() === started; i++) {
          k.linear(p.x, 600, p.weightScale, p.bias, y);
          expect(y).toEqual(want.y);
          await new Promise((r) => setTimeout(r, 5));
        }
        expect(dotWorkerUnits()).toBeGreaterThan(started);
      } finally {
        setTernaryThreads(before);
      }
    });

    it('reads and writes tensors in the heap in place, with the same result', () => {
      const p = ternaryProblem(70, 64, 24, 11);
      const want = tableKernel(p);
      const x = inHeap(p.x), y = inHeap(new Float32Array(70 * 24));
      dot(p).linear(x, 70, p.weightScale, p.bias, y);
      expect(y).toEqual(want.y);
    });

    it('refuses non-finite inputs and wrong lengths, naming them', () => {
      const p = ternaryProblem(10, 16, 4, 2);
      const k = dot(p);
      const x = p.x.slice();
      x[3 * 16 + 2] = NaN;
      expect(() => k.linear(x, 10, p.weightScale, p.bias, new Float32Array(40))).toThrow(/token 3 holds a non-finite value/);
      x[3 * 16 + 2] = -Infinity;
      expect(() => k.linear(x, 10, p.weightScale, p.bias, new Float32Array(40))).toThrow(/token 3 holds a non-finite value/);
      expect(() => k.linear(p.x, 10, p.weightScale, p.bias, new Float32Array(39))).toThrow(/out has length 39, expected 40/);
      expect(() => TernaryMatmulDot.fromPacked(p.packed.subarray(1), 4, 16, variant)).toThrow(/packed has length 15, expected 16/);
    });
  });

  describe(`several layers on one input, ${variant} variant (linearGroup)`, () => {
    it('gives each layer the floats of its own call, on one and two threads, and the per-token scales', () => {
      const before = ternaryThreads();
      try {
        for (const [tokens, threads] of [[70, 1], [600, 2], [5, 2]] as const) {
          setTernaryThreads(threads);
          // one input of 80, three layers of other widths and scale forms; 600 x 80 x 136: past the parallel threshold
          const problems = [ternaryProblem(tokens, 80, 40, 31), ternaryProblem(tokens, 80, 16, 32, false, false), ternaryProblem(tokens, 80, 80, 33)];
          const x = problems[0]!.x;
          const want = problems.map((p) => {
            const y = new Float32Array(tokens * p.outFeatures), s = new Float32Array(tokens);
            dot(p).linear(x, tokens, p.weightScale, p.bias, y, s);
            return { y, s };
          });
          const outs = problems.map((p) => new Float32Array(tokens * p.outFeatures));
          const scales = new Float32Array(tokens);
          TernaryMatmulDot.linearGroup(problems.map((p, i) => ({ kernel: dot(p), weightScale: p.weightScale, bias: p.bias, out: outs[i]! })), x, tokens, scales);
          outs.forEach((y, i) => expect(y, `layer ${i}, ${tokens} tokens`).toEqual(want[i]!.y));
          expect(scales).toEqual(want[0]!.s);
        }
      } finally {
        setTernaryThreads(before);
      }
    });

    it('refuses layers of different input widths', () => {
      const a = ternaryProblem(4, 32, 8, 1), b = ternaryProblem(4, 48, 8, 2);
      expect(() => TernaryMatmulDot.linearGroup([
        { kernel: dot(a), weightScale: a.weightScale, bias: null, out: new Float32Array(32) },
        { kernel: dot(b), weightScale: b.weightScale, bias: null, out: new Float32Array(32) },
      ], a.x, 4)).toThrow(/layers take 32 and 48 inputs; a group shares one input/);
    });
  });
}
