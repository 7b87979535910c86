// Per-token absmax activation quantization to int8 (BITNET.md section 1), as the packed kernels want it:
//
//   s  = 127 / max(max|x|, 1e-5)            one scale per token (row of `features` values)
//   xq = clip(roundHalfEven(x * s), -128, 127)
//
// so x ~ xq / s. The arithmetic is float32 like PyTorch's (Math.fround after each step), so the codes
// equal those of `torch.round(x * s).clamp(-128, 127)` on a float32 tensor, ties included.

// round half to even, as torch.round does (Math.round(-2.5) is -2 and Math.round(2.5) is 3, both
// biased up; torch gives -2 and 2): the tensor core's, re-exported for the kernel tests.
export { roundHalfEven } from '@bitvit/tensor';

const MIN_ABSMAX = Math.fround(1e-5);
// Adding and subtracting 1.5 * 2^52 rounds a double of magnitude < 2^51 to an integer in the FPU's
// default mode, round half to even: the same as roundHalfEven, without its branches (4x faster
// here). Our values are within [-127, 127].
const ROUND_MAGIC = 6755399441055744;

export function quantizeActivationsInt8(
  x: Float32Array,
  tokens: number,
  features: number,
  outCodes: Int8Array,
  outScale: Float32Array,
): void {
  if (!Number.isInteger(tokens) || tokens < 0 || !Number.isInteger(features) || features < 0) {
    throw new Error(`quantizeActivationsInt8: tokens and features must be non-negative integers, got ${tokens} and ${features}`);
  }
  const n = tokens * features;
  if (x.length !== n) throw new Error(`quantizeActivationsInt8: x has ${x.length} values, expected ${tokens} x ${features} = ${n}`);
  if (outCodes.length !== n) throw new Error(`quantizeActivationsInt8: outCodes has ${outCodes.length} slots, expected ${n}`);
  if (outScale.length !== tokens) throw new Error(`quantizeActivationsInt8: outScale has ${outScale.length} slots, expected ${tokens} (one per token)`);
  for (let t = 0; t < tokens; t++) {
    const row = t * features;
    let absmax = 0;
    for (let i = 0; i < features; i++) {
      const a = Math.abs(x[row + i]!);
      // `!(a <= absmax)` is also true for NaN, which `a > absmax` would silently skip.
      if (!(a <= absmax)) {
        if (!Number.isFinite(a)) throw new Error(`quantizeActivationsInt8: x[${row + i}] (token ${t}, feature ${i}) is ${x[row + i]}`);
        absmax = a;
      }
    }
    const s = Math.fround(127 / Math.max(absmax, MIN_ABSMAX));
    outScale[t] = s;
    // |x * s| <= 127 by construction (s = 127 / absmax, rounded), so the clip to [-128, 127] of
    // BITNET.md never bites: the float32 product of the absmax element is at most 127.
    for (let i = 0; i < features; i++) outCodes[row + i] = Math.fround(x[row + i]! * s) + ROUND_MAGIC - ROUND_MAGIC;
  }
}
