// The dot kernel's i16 variant (kernels/ternary-dot.ts): plain SIMD's int16 dot product, for
// engines without relaxed SIMD (here: the default project, Node 20 without the flag). The kernel's
// cases are in dot-kernel-suite.ts, shared with the relaxed variant (ternary-dot.test.ts).
import { describe, expect, it } from 'vitest';
import { Tensor } from '@bitvit/tensor';
import { engineHasRelaxedDot } from '../src/kernels/ternary-dot.js';
import { TernaryLinear } from '../src/ternary-linear.js';
import { ternaryProblem } from './helpers.js';
import { dotKernelSuite, tableKernel } from './dot-kernel-suite.js';

dotKernelSuite('i16');

describe('TernaryLinear without relaxed SIMD', () => {
  it('runs the i16 variant by default (the relaxed one where the engine has it), with the table kernel\'s floats', () => {
    const p = ternaryProblem(70, 48, 20, 3, false, true);
    const layer = new TernaryLinear({ inFeatures: 48, outFeatures: 20, packed: p.packed, weightScale: p.weightScale, bias: p.bias, activationBits: 8 });
    const relaxed = engineHasRelaxedDot();
    expect(layer.kernelFor(70).kernel).toBe('dot');
    // i16: 3 strips of 8 outputs, 24 input pairs, 32 bytes each (relaxed: 2 strips of 16); the scale
    expect(layer.kernelFor(70).bytes).toBe((relaxed ? 2 * 24 * 32 : 3 * 24 * 32) + 4);
    expect(Array.from(layer.forward(new Tensor(p.x, [70, 48])).data)).toEqual(Array.from(tableKernel(p).y));
  });

  it('leaves the choice to dotVariants', () => {
    const p = ternaryProblem(70, 48, 20, 4);
    const before = TernaryLinear.dotVariants;
    TernaryLinear.dotVariants = [];
    try {
      const layer = new TernaryLinear({ inFeatures: 48, outFeatures: 20, packed: p.packed, weightScale: p.weightScale, bias: p.bias, activationBits: 8 });
      expect(layer.kernelFor(70).kernel).toBe('table');
      expect(Array.from(layer.forward(new Tensor(p.x, [70, 48])).data)).toEqual(Array.from(tableKernel(p).y));
    } finally {
      TernaryLinear.dotVariants = before;
    }
  });
});
