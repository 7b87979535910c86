// The int8 dot-product ternary kernel (kernels/ternary-dot.ts), relaxed variant. It needs relaxed
// SIMD, so vitest.config.ts runs this file in the relaxed-simd project only (Node 20 with
// --experimental-wasm-relaxed-simd; on by default from Node 22). The kernel's cases are in
// dot-kernel-suite.ts, shared with the i16 variant (ternary-dot-i16.test.ts).
import { describe, expect, it } from 'vitest';
import { TernaryMatmulDot, engineHasRelaxedDot } from '../src/kernels/ternary-dot.js';
import { setTernaryThreads, ternaryThreads } from '../src/kernels/ternary-runtime.js';
import { ternaryProblem } from './helpers.js';
import { dotKernelSuite } from './dot-kernel-suite.js';

describe('the relaxed dot product', () => {
  it('is available here (relaxed SIMD validates in this project)', () => {
    expect(engineHasRelaxedDot()).toBe(true);
  });
});

dotKernelSuite('relaxed');

describe('the two variants', () => {
  it('give the same floats (i16 on plain SIMD, relaxed on the byte dot product), on one and two threads', () => {
    const before = ternaryThreads();
    try {
      for (const [tokens, inF, outF, threads] of [[7, 5, 9, 1], [65, 192, 192, 2], [40, 300, 17, 2], [600, 64, 100, 2]] as const) {
        setTernaryThreads(threads);
        const p = ternaryProblem(tokens, inF, outF, tokens + inF + outF, true, true);
        const y = [new Float32Array(tokens * outF), new Float32Array(tokens * outF)];
        (['relaxed', 'i16'] as const).forEach((v, i) => TernaryMatmulDot.fromPacked(p.packed, outF, inF, v)!.linear(p.x, tokens, p.weightScale, p.bias, y[i]!));
        expect(y[1]).toEqual(y[0]);
      }
    } finally {
      setTernaryThreads(before);
    }
  });

  it('refuses a group that mixes them', () => {
    const p = ternaryProblem(4, 32, 8, 1);
    expect(() => TernaryMatmulDot.linearGroup([
      { kernel: TernaryMatmulDot.fromPacked(p.packed, 8, 32, 'relaxed')!, weightScale: p.weightScale, bias: null, out: new Float32Array(32) },
      { kernel: TernaryMatmulDot.fromPacked(p.packed, 8, 32, 'i16')!, weightScale: p.weightScale, bias: null, out: new Float32Array(32) },
    ], p.x, 4)).toThrow(/layers of the relaxed and i16 variants in one group/);
  });
});

describe('TernaryLinear on the dot kernel', () => {
  it('runs it by default here and gives the floats of the table kernel', async () => {
    const { TernaryLinear } = await import('../src/ternary-linear.js');
    const { Tensor } = await import('@bitvit/tensor');
    const p = ternaryProblem(70, 48, 20, 3, false, true);
    const layer = new TernaryLinear({ inFeatures: 48, outFeatures: 20, packed: p.packed, weightScale: p.weightScale, bias: p.bias, activationBits: 8 });
    expect(layer.kernelFor(70).kernel).toBe('dot');
    expect(layer.kernelFor(70).bytes).toBe(2 * 24 * 32 + 4); // 2 strips of 16 outputs, 24 input pairs, 32 bytes each; the scale
    const x = new Tensor(p.x, [70, 48]);
    const y = layer.forward(x).data.slice();
    const before = TernaryLinear.dotMinTokens;
    TernaryLinear.dotMinTokens = Infinity;
    try {
      expect(layer.kernelFor(70).kernel).toBe('table');
      expect(Array.from(layer.forward(x).data)).toEqual(Array.from(y));
    } finally {
      TernaryLinear.dotMinTokens = before;
    }
  });
});

describe('several TernaryLinears on one input', () => {
  it('runs attention-style q, k, v TernaryLinears as one group through forwardShared, same floats as three forwards', async () => {
    const { TernaryLinear } = await import('../src/ternary-linear.js');
    const { Tensor, noGrad } = await import('@bitvit/tensor');
    const { forwardShared } = await import('@bitvit/nn');
    const layers = [41, 42, 43].map((seed) => {
      const p = ternaryProblem(1, 64, 64, seed);
      return new TernaryLinear({ inFeatures: 64, outFeatures: 64, packed: p.packed, weightScale: p.weightScale, bias: p.bias, activationBits: 8 });
    });
    const x = new Tensor(ternaryProblem(2 * 200, 64, 1, 44).x, [2, 200, 64]);
    // 400 tokens on 64-wide layers: the dot kernel runs ahead of the unrolled one
    expect(layers[0]!.kernelFor(400).kernel).toBe('dot');
    const separate = noGrad(() => layers.map((l) => l.forward(x)));
    const calls: number[] = [];
    const original = TernaryMatmulDot.linearGroup;
    TernaryMatmulDot.linearGroup = (group, ...rest) => {
      calls.push(group.length);
      original(group, ...rest);
    };
    try {
      const grouped = noGrad(() => forwardShared(layers, x));
      expect(calls).toEqual([3]);
      grouped.forEach((y, i) => {
        expect(y.shape).toEqual([2, 200, 64]);
        expect(Array.from(y.data)).toEqual(Array.from(separate[i]!.data));
      });
    } finally {
      TernaryMatmulDot.linearGroup = original;
    }
    const before = TernaryLinear.dotMinTokens;
    TernaryLinear.dotMinTokens = Infinity;
    try {
      // without the dot kernel: the unrolled kernel at 400 tokens, one call per layer, the same floats
      expect(layers[0]!.kernelFor(400).kernel).toBe('unrolled');
      noGrad(() => forwardShared(layers, x)).forEach((y, i) => expect(Array.from(y.data)).toEqual(Array.from(separate[i]!.data)));
    } finally {
      TernaryLinear.dotMinTokens = before;
    }
  });
});
