// Packed ternary matmul with int8 activations, in plain TypeScript: the reference the WebAssembly
// kernel is tested against, and the fallback where WebAssembly SIMD is missing.
//
//   y[t, o] = (sum_i x[t, i] * W[o, i]) * (weightScale[o or 0] / actScale[t]) + bias[o]
//
// x holds int8 codes (x = round(xFloat * actScale), see quantize-activations.ts), W ternary codes
// packed as i2 or t3 (packing.ts). The sum is exact integer arithmetic; the only float rounding is
// the rescale at the end, so the result is BitLinear's `(xInt8 @ Wt^T) * (gamma / s) + b`.
//
// No multiplies in the inner loop, T-MAC style (arXiv 2407.00088): per token, precompute for each
// group of activations the partial sum of every possible weight pattern once; then each packed
// weight group is a table index and the inner loop is loads and integer adds.
//
// Why these tables (measured in bench/ternary.bench.ts and while writing it):
// - i2: one 16-entry table per PAIR of activations, indexed by a nibble c0 + 4*c1 of the packed
//   byte (low nibble: weights 0,1; high nibble: weights 2,3). Building it costs 16 adds per 2
//   inputs, cheap next to the lookups even for 64 output rows. A 256-entry table per byte (one
//   lookup per 4 weights) was not faster: building 64 entries per input costs as much as the
//   lookups it saves for out = 192, and the tables (1 KiB per 4 inputs) fall out of L1.
//   The nibble table is also what the SIMD kernel holds in a register (kernels/ternary-wasm.ts).
// - Four output rows per pass share the table index arithmetic and keep four accumulators live.
// - t3: one 243-entry table per group of 5 activations, indexed by the whole byte.

import { checkTernaryMatmulArgs } from './check-args.js';
import { packedRowBytes } from '../packing.js';

// Fills table[16 * g + (c0 + 4 * c1)] = (c0 - 1) * x[2g] + (c1 - 1) * x[2g + 1] for every pair g of
// one token row; inputs past inFeatures count as 0, so padding codes add nothing whatever they are.
export function buildPairTables(x: Int8Array, offset: number, inFeatures: number, pairs: number, table: Int32Array): void {
  for (let g = 0; g < pairs; g++) {
    const i = 2 * g;
    const x0 = i < inFeatures ? x[offset + i]! : 0;
    const x1 = i + 1 < inFeatures ? x[offset + i + 1]! : 0;
    const at = 16 * g;
    // c = 0, 1, 2 means weight -1, 0, +1; nibbles with a code 3 are never produced by packI2.
    for (let c1 = 0; c1 < 3; c1++) {
      const part = c1 === 0 ? -x1 : c1 === 1 ? 0 : x1;
      table[at + 4 * c1] = part - x0;
      table[at + 4 * c1 + 1] = part;
      table[at + 4 * c1 + 2] = part + x0;
    }
  }
}

export function ternaryMatmulI2(
  x: Int8Array,
  tokens: number,
  inFeatures: number,
  packed: Uint8Array,
  outFeatures: number,
  weightScale: Float32Array,
  actScale: Float32Array,
  bias: Float32Array | null,
  out: Float32Array,
): void {
  const rowBytes = packedRowBytes('i2', inFeatures);
  checkTernaryMatmulArgs('ternaryMatmulI2', { x, tokens, inFeatures, packedLength: packed.length, outFeatures, weightScale, actScale, bias, out }, rowBytes);
  const table = new Int32Array(32 * rowBytes); // two pair tables per packed byte
  const acc = new Int32Array(outFeatures);
  for (let t = 0; t < tokens; t++) {
    buildPairTables(x, t * inFeatures, inFeatures, 2 * rowBytes, table);
    let o = 0;
    for (; o + 4 <= outFeatures; o += 4) {
      const p0 = o * rowBytes, p1 = p0 + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let k = 0; k < rowBytes; k++) {
        const lo = 32 * k, hi = lo + 16; // tables of the pairs in this byte's low and high nibble
        let b = packed[p0 + k]!;
        a0 += table[lo + (b & 15)]! + table[hi + (b >> 4)]!;
        b = packed[p1 + k]!;
        a1 += table[lo + (b & 15)]! + table[hi + (b >> 4)]!;
        b = packed[p2 + k]!;
        a2 += table[lo + (b & 15)]! + table[hi + (b >> 4)]!;
        b = packed[p3 + k]!;
        a3 += table[lo + (b & 15)]! + table[hi + (b >> 4)]!;
      }
      acc[o] = a0; acc[o + 1] = a1; acc[o + 2] = a2; acc[o + 3] = a3;
    }
    for (; o < outFeatures; o++) {
      const p = o * rowBytes;
      let a = 0;
      for (let k = 0; k < rowBytes; k++) {
        const b = packed[p + k]!;
        a += table[32 * k + (b & 15)]! + table[32 * k + 16 + (b >> 4)]!;
      }
      acc[o] = a;
    }
    rescale(acc, t, outFeatures, weightScale, actScale, bias, out);
  }
}

// The base-3 twin: one 243-entry table per group of 5 activations, indexed by the packed byte
// itself (byte = sum_j (w_j + 1) * 3^j), so one lookup per 5 weights.
export function ternaryMatmulBase3(
  x: Int8Array,
  tokens: number,
  inFeatures: number,
  packed: Uint8Array,
  outFeatures: number,
  weightScale: Float32Array,
  actScale: Float32Array,
  bias: Float32Array | null,
  out: Float32Array,
): void {
  const rowBytes = packedRowBytes('t3', inFeatures);
  checkTernaryMatmulArgs('ternaryMatmulBase3', { x, tokens, inFeatures, packedLength: packed.length, outFeatures, weightScale, actScale, bias, out }, rowBytes);
  const table = new Int32Array(256 * rowBytes); // 243 used, 256 so a group starts at k << 8
  const acc = new Int32Array(outFeatures);
  for (let t = 0; t < tokens; t++) {
    const xt = t * inFeatures;
    for (let k = 0; k < rowBytes; k++) {
      // Grow the table one trit at a time: after trit j it holds all 3^(j+1) sums of the first j+1
      // weights; trit j is the most significant so far, so entry v + 3^j * c = entry v + (c-1)*x_j.
      const at = k << 8;
      table[at] = 0;
      for (let j = 0, size = 1; j < 5; j++, size *= 3) {
        const i = 5 * k + j;
        const xj = i < inFeatures ? x[xt + i]! : 0;
        for (let v = 0; v < size; v++) {
          const base = table[at + v]!;
          table[at + v] = base - xj;
          table[at + v + size] = base;
          table[at + v + 2 * size] = base + xj;
        }
      }
    }
    for (let o = 0; o < outFeatures; o++) {
      const p = o * rowBytes;
      let a = 0;
      for (let k = 0; k < rowBytes; k++) a += table[(k << 8) + packed[p + k]!]!;
      acc[o] = a;
    }
    rescale(acc, t, outFeatures, weightScale, actScale, bias, out);
  }
}

// y = acc * (weightScale / actScale) + bias for one token: the single float step of the matmul.
export function rescale(
  acc: Int32Array,
  t: number,
  outFeatures: number,
  weightScale: Float32Array,
  actScale: Float32Array,
  bias: Float32Array | null,
  out: Float32Array,
): void {
  const s = actScale[t]!;
  const perChannel = weightScale.length !== 1;
  const row = t * outFeatures;
  for (let o = 0; o < outFeatures; o++) {
    const gamma = perChannel ? weightScale[o]! : weightScale[0]!;
    out[row + o] = acc[o]! * (gamma / s) + (bias === null ? 0 : bias[o]!);
  }
}
