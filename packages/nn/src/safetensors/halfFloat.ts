// 16-bit floats <-> float32, bit for bit the way PyTorch converts them.
//
// float16 (IEEE binary16): 1 sign, 5 exponent (bias 15), 10 mantissa bits.
// bfloat16: the top 16 bits of a float32: 1 sign, 8 exponent, 7 mantissa bits.
//
// Float32 -> 16 bits rounds to nearest, ties to even, as torch's `.half()` and
// `.bfloat16()` do (c10's fp16_ieee_from_fp32_value and round_to_nearest_even).
// Overflow goes to +-inf, values too small for a float16 subnormal go to +-0.
// NaN keeps its sign and the top bits of its payload (as numpy does), so the
// everyday NaN (float32 0x7fc00000) becomes 0x7e00 / 0x7fc0 exactly as torch's
// scalar path gives, and reading a 16-bit tensor then writing it back
// reproduces every bit pattern, NaNs included.
// 16 bits -> float32 is exact (every float16 and bfloat16 is a float32).

// One scratch word shared by the scalar helpers, so they allocate nothing.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

// The float16 bits of one float32, given as its raw 32 bits.
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00; // inf
    // NaN: keep the payload's top 10 bits, and set the quiet bit should they
    // all be zero, which would otherwise spell inf.
    const payload = mant >>> 13;
    return sign | 0x7c00 | (payload !== 0 ? payload : 0x200);
  }
  const e = exp - 127 + 15; // the exponent rebiased for float16
  if (e >= 0x1f) return sign | 0x7c00; // too big even before rounding: inf
  if (e <= 0) {
    // The result is a float16 subnormal (or zero): its 10 bits count units of
    // 2^-24. The float32 value is (mant | implicit 1) * 2^(e - 38), so the
    // count is that significand shifted right by 14 - e, rounded to even.
    if (e < -10) return sign; // below half the smallest subnormal: 0
    const significand = mant | 0x800000;
    const shift = 14 - e; // 14..24
    const kept = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const roundUp = rest > half || (rest === half && (kept & 1) === 1);
    // A carry out of 0x3ff lands on 0x400, the smallest normal: still right.
    return sign | (kept + (roundUp ? 1 : 0));
  }
  // Normal: drop 13 mantissa bits, round to even. A carry out of the mantissa
  // bumps the exponent, and out of the largest exponent makes 0x7c00 (inf):
  // the bit layout makes both come out right with a plain add.
  const kept = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  const roundUp = rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1);
  return sign | (kept + (roundUp ? 1 : 0));
}

// The float32 bits of one float16.
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // +-0
  // Subnormal m * 2^-24: shift the mantissa up until its leading 1 becomes the
  // implicit bit, lowering the exponent once per shift.
  let m = mant;
  let e = -14 + 127;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e -= 1;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

// The bfloat16 bits of one float32: keep the top half, rounding the bottom to even.
function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) {
    // NaN: truncate, keeping the payload's top bits (0x7fc00000 -> 0x7fc0 as in
    // torch); if the kept mantissa is all zero, set the quiet bit to stay NaN.
    const top = x >>> 16;
    return (top & 0x7f) !== 0 ? top : top | 0x40;
  }
  // Adding 0x7fff (+1 when the kept half is odd) carries into the top half
  // exactly when the dropped half is over one half (or a tie on an odd value).
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** The float16 bit pattern (0..0xffff) of `value`, first rounded to float32 as a Float32Array would store it. */
export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  return f32BitsToF16Bits(scratchU32[0]!);
}

/** The value of a float16 bit pattern (only its low 16 bits are read). */
export function float16BitsToFloat32(bits: number): number {
  scratchU32[0] = f16BitsToF32Bits(bits & 0xffff);
  return scratchF32[0]!;
}

/** The bfloat16 bit pattern of `value`, first rounded to float32. */
export function float32ToBFloat16Bits(value: number): number {
  scratchF32[0] = value;
  return f32BitsToBf16Bits(scratchU32[0]!);
}

/** The value of a bfloat16 bit pattern (only its low 16 bits are read). */
export function bfloat16BitsToFloat32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

// Whole arrays at once. These read and write the float32 bits through a
// Uint32Array view, so NaN payloads survive and nothing is allocated per element.

export function encodeFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

export function decodeFloat16(halfs: Uint16Array): Float32Array {
  const out = new Float32Array(halfs.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < halfs.length; i++) bits[i] = f16BitsToF32Bits(halfs[i]!);
  return out;
}

export function encodeBFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBf16Bits(bits[i]!);
  return out;
}

export function decodeBFloat16(halfs: Uint16Array): Float32Array {
  const out = new Float32Array(halfs.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < halfs.length; i++) bits[i] = halfs[i]! << 16;
  return out;
}
