// The SIMD ternary kernel module, emitted from TypeScript with @bitvit/tensor's WebAssembly module
// builder (`wasm`): `matmul` (the packed ternary matmul) and `quantize` (per-token int8
// activations). How it works: see the notes in ternary-wasm.ts; where it runs: ternary-runtime.ts.

import { wasm } from '@bitvit/tensor';

/** Output rows per SIMD block (one i8x16 lane per row). */
export const ROWS_PER_BLOCK = 16;
/** Byte columns summed in int8 lanes before widening to int16: 2 * 2 pairs * 16 = 64 < 127. */
const COLUMNS_PER_STEP = 2;
/** Columns pad to a multiple of 4, so a token's row (4 inputs a column) is whole 16-byte vectors
 *  for the quantizer and the input split; 4 is also a multiple of COLUMNS_PER_STEP. */
export const COLUMN_MULTIPLE = 4;
/** Byte columns summed in int16 lanes before widening to int32: 62 * 512 = 31744 < 32767. */
const COLUMNS_PER_WIDEN = 62;

// Lane masks for the 16 entries n = c0 + 4*c1 of a pair table, pair sum = (c0-1)*x0 + (c1-1)*x1:
// PLUS_0 where c0 = 2 (w0 = +1), MINUS_0 where c0 = 0 (w0 = -1), the same for c1. Entries with a
// code 3 (never written by packI2) match no mask and hold 0, so corrupt data adds 0, not garbage.
const laneMask = (test: (c0: number, c1: number) => boolean): number[] =>
  Array.from({ length: 16 }, (_, n) => ((n & 3) < 3 && n >> 2 < 3 && test(n & 3, n >> 2) ? 0xff : 0));
const PLUS_0 = laneMask((c0) => c0 === 2);
const MINUS_0 = laneMask((c0) => c0 === 0);
const PLUS_1 = laneMask((_, c1) => c1 === 2);
const MINUS_1 = laneMask((_, c1) => c1 === 0);

export interface TernaryModuleOptions {
  /** Use i8x16.relaxed_swizzle (relaxed SIMD): same result for our indices (all < 16), one
   *  instruction less per lookup on x86, where plain swizzle must zero lanes for indices >= 16. */
  relaxedSwizzle: boolean;
}

/**
 * Emits `matmul(tokens, cols, blockFirst, blockCount, xPtr, tablePtr, wPtr, outPtr, outStride,
 * scalePtr, biasPtr, actPtr, yPtr, splitPtr)`: for each token, split its inputs and build its
 * tables, then for the blocks [blockFirst, blockFirst + blockCount) write
 * out[t, o] = acc * (scale[o] / act[t]) + bias[o].
 */
export function buildTernaryModule(
  options: TernaryModuleOptions,
  memory: { shared: boolean; maximumPages?: number } = { shared: false },
): Uint8Array<ArrayBuffer> {
  // one page to start; only a shared memory declares its maximum (it must)
  const m = new wasm.ModuleBuilder().importMemory(1, memory.shared ? memory.maximumPages : undefined, memory.shared);
  const P = new Array<'i32'>(14).fill('i32');
  const f = m.addFunction('matmul', P);
  const [tokens, cols, blockFirst, blockCount, xPtr, tablePtr, wPtr, outPtr, outStride, scalePtr, biasPtr, actPtr, yPtr, splitPtr] =
    P.map((_, i) => i) as [number, number, number, number, number, number, number, number, number, number, number, number, number, number];
  const i32 = (): number => f.local('i32');
  const v128 = (): number => f.local('v128');
  const t = i32(), k = i32(), kEnd = i32(), b = i32(), blockEnd = i32(), i = i32(), rowEnd = i32(), hOffset = i32();
  const xp = i32(), lp = i32(), tp = i32(), wp = i32(), op = i32();
  const a8 = v128(), b8 = v128(), w = v128(), nlo = v128(), nhi = v128(), low4 = v128();
  const acc0 = v128(), acc1 = v128();
  const xv = v128(), hv = v128(), v0 = v128(), v1 = v128(), s = v128();
  const plus0 = v128(), minus0 = v128(), plus1 = v128(), minus1 = v128();
  const zeros = new Array<number>(16).fill(0);
  const swizzle = options.relaxedSwizzle ? 'i8x16.relaxed_swizzle' : 'i8x16.swizzle';

  // while (i < limit) { body }  as  block { loop { br_if (i >= limit) out; body; br loop } }
  const whileLess = (index: number, limit: number, body: () => void): void => {
    f.block().loop();
    f.get(index).get(limit).op('i32.ge_u').brIf(1);
    body();
    f.br(0).end().end();
  };

  f.v128Bytes(new Array(16).fill(0x0f)).set(low4);
  f.v128Bytes(PLUS_0).set(plus0).v128Bytes(MINUS_0).set(minus0).v128Bytes(PLUS_1).set(plus1).v128Bytes(MINUS_1).set(minus1);
  f.i32(0).set(t);
  whileLess(t, tokens, () => {
    // ---- split this token's inputs, 16 at a time: x = 16*h + l, h = (x + 8) >> 4 in [-8, 8],
    // l in [-8, 7]. The row of l goes to splitPtr, the row of h to splitPtr + hOffset, the row
    // length rounded up to 16. h = (x >> 4) + bit 3 of x; l = x - 16*h, exact in wrapping int8
    // arithmetic because the true l fits. Lanes past the row end are never looked at.
    f.get(xPtr).get(t).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(xp);
    f.i32(0).set(i);
    f.get(cols).i32(2).op('i32.shl').set(rowEnd);
    f.get(rowEnd).i32(15).op('i32.add').i32(-16).op('i32.and').set(hOffset);
    whileLess(i, rowEnd, () => {
      f.get(xp).get(i).op('i32.add').v128Load().set(xv);
      f.get(xv).i32(4).op('i8x16.shr_s').get(xv).i32(3).op('i8x16.shr_u').i32(1).op('i8x16.splat').op('v128.and').op('i8x16.add').set(hv);
      f.get(splitPtr).get(i).op('i32.add').get(xv).get(hv).i32(4).op('i8x16.shl').op('i8x16.sub').v128Store();
      f.get(splitPtr).get(i).op('i32.add').get(hOffset).op('i32.add').get(hv).v128Store();
      f.inc(i, 16);
    });
    // ---- this token's tables: per byte column, for the pair in its low and its high nibble,
    // the a-table from the l's and the b-table from the h's: pair sum = a + 16 * b exactly, and
    // a, b in [-16, 16]. Each entry is +-l0 +- l1 by lane masks: no multiplies.
    f.get(splitPtr).set(lp);
    f.get(tablePtr).set(tp);
    f.i32(0).set(k);
    whileLess(k, cols, () => {
      for (let pair = 0; pair < 2; pair++) {
        for (const part of [0, 1]) { // 0: a from the l row, 1: b from the h row
          const at = 2 * pair;
          const rowOffset = (extra: number): void => {
            f.get(lp);
            if (part === 1) f.get(hOffset).op('i32.add');
            f.v128Load8Splat(at + extra);
          };
          rowOffset(0); f.set(v0);
          rowOffset(1); f.set(v1);
          f.get(tp);
          f.get(v0).get(plus0).op('v128.and').get(v1).get(plus1).op('v128.and').op('i8x16.add');
          f.get(v0).get(minus0).op('v128.and').get(v1).get(minus1).op('v128.and').op('i8x16.add');
          f.op('i8x16.sub').v128Store(32 * pair + 16 * part);
        }
      }
      f.inc(lp, 4).inc(tp, 64).inc(k, 1);
    });
    f.get(actPtr).get(t).i32(2).op('i32.shl').op('i32.add').v128Load32Splat().set(s);
    f.get(outPtr).get(t).get(outStride).op('i32.mul').op('i32.add').set(op);

    // ---- each block of 16 output rows ----
    f.get(blockFirst).set(b);
    f.get(blockFirst).get(blockCount).op('i32.add').set(blockEnd);
    whileLess(b, blockEnd, () => {
      // wp = wPtr + b * 16 * cols
      f.get(wPtr).get(b).get(cols).op('i32.mul').i32(4).op('i32.shl').op('i32.add').set(wp);
      f.get(tablePtr).set(tp);
      for (let q = 0; q < 4; q++) f.get(yPtr).v128Bytes(zeros).v128Store(16 * q);
      f.i32(0).set(k);
      whileLess(k, cols, () => {
        // kEnd = min(k + COLUMNS_PER_WIDEN, cols)
        f.get(k).i32(COLUMNS_PER_WIDEN).op('i32.add').set(kEnd);
        f.block().get(kEnd).get(cols).op('i32.lt_u').brIf(0).get(cols).set(kEnd).end();
        f.v128Bytes(zeros).set(acc0).v128Bytes(zeros).set(acc1);
        whileLess(k, kEnd, () => {
          for (let j = 0; j < COLUMNS_PER_STEP; j++) {
            // nibbles: the low one directly, the high one by a 16-bit shift and the same mask
            // (i8x16.shr_u has no x86 instruction; V8 would rebuild a mask for it every time)
            f.get(wp).v128Load(16 * j).tee(w).get(low4).op('v128.and').set(nlo);
            f.get(w).i32(4).op('i16x8.shr_u').get(low4).op('v128.and').set(nhi);
            const lookup = (acc: number, tableOffset: number, nibbles: number, first: boolean): void => {
              if (!first) f.get(acc);
              f.get(tp).v128Load(64 * j + tableOffset).get(nibbles).op(swizzle);
              if (!first) f.op('i8x16.add');
              f.set(acc);
            };
            lookup(a8, 0, nlo, j === 0);
            lookup(b8, 16, nlo, j === 0);
            lookup(a8, 32, nhi, false);
            lookup(b8, 48, nhi, false);
          }
          // acc += a + 16 * b in int16: rows 0-7 from the low halves, rows 8-15 from the high
          for (const [acc, ext] of [[acc0, 'i16x8.extend_low_i8x16_s'], [acc1, 'i16x8.extend_high_i8x16_s']] as const) {
            f.get(acc).get(a8).op(ext).op('i16x8.add').get(b8).op(ext).i32(4).op('i16x8.shl').op('i16x8.add').set(acc);
          }
          f.inc(wp, 16 * COLUMNS_PER_STEP).inc(tp, 64 * COLUMNS_PER_STEP).inc(k, COLUMNS_PER_STEP);
        });
        // y[q] += acc in int32, q = rows 4q..4q+3 of the block
        for (let q = 0; q < 4; q++) {
          const ext = q % 2 === 0 ? 'i32x4.extend_low_i16x8_s' : 'i32x4.extend_high_i16x8_s';
          f.get(yPtr);
          f.get(yPtr).v128Load(16 * q);
          f.get(q < 2 ? acc0 : acc1).op(ext).op('i32x4.add');
          f.v128Store(16 * q);
        }
      });
      // out = float(y) * (scale / s) + bias, 4 rows at a time; o = 16b + 4q
      for (let q = 0; q < 4; q++) {
        const blockRow = (ptr: number): void => void f.get(ptr).get(b).i32(6).op('i32.shl').op('i32.add');
        blockRow(op);
        f.get(yPtr).v128Load(16 * q).op('f32x4.convert_i32x4_s');
        blockRow(scalePtr);
        f.v128Load(16 * q).get(s).op('f32x4.div').op('f32x4.mul');
        blockRow(biasPtr);
        f.v128Load(16 * q).op('f32x4.add');
        f.v128Store(16 * q);
      }
      f.inc(b, 1);
    });
    f.inc(t, 1);
  });
  emitQuantize(m);
  return m.build();
}

/**
 * Emits `quantize(tokens, rowFloats, xfPtr, xPtr, actPtr)`: quantizeActivationsInt8 for rows of
 * `rowFloats` float32 (a multiple of 16, zero padded) at xfPtr, int8 codes to xPtr (same row
 * length), s per token to actPtr. The float32 steps are those of the TypeScript version
 * (f32 division and product, f32x4.nearest = round half to even), so the codes are identical.
 * A non-finite input makes s NaN or 0, which the caller checks.
 */
function emitQuantize(m: wasm.ModuleBuilder): void {
  const f = m.addFunction('quantize', ['i32', 'i32', 'i32', 'i32', 'i32']);
  const [tokens, rowFloats, xfPtr, xPtr, actPtr] = [0, 1, 2, 3, 4];
  const t = f.local('i32'), i = f.local('i32'), rp = f.local('i32'), qp = f.local('i32');
  const mx = f.local('v128'), sv = f.local('v128'), absmax = f.local('f32');
  const loop = (index: number, limit: number, step: number, body: () => void): void => {
    f.i32(0).set(index).block().loop();
    f.get(index).get(limit).op('i32.ge_u').brIf(1);
    body();
    f.inc(index, step).br(0).end().end();
  };
  loop(t, tokens, 1, () => {
    f.get(xfPtr).get(t).get(rowFloats).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(rp);
    f.get(xPtr).get(t).get(rowFloats).op('i32.mul').op('i32.add').set(qp);
    // absmax: four running lane maxima, then the max of the lanes (f32 max propagates NaN)
    f.v128Bytes(new Array<number>(16).fill(0)).set(mx);
    loop(i, rowFloats, 4, () => {
      f.get(mx).get(rp).get(i).i32(2).op('i32.shl').op('i32.add').v128Load().op('f32x4.abs').op('f32x4.max').set(mx);
    });
    f.get(mx).f32x4ExtractLane(0).get(mx).f32x4ExtractLane(1).op('f32.max');
    f.get(mx).f32x4ExtractLane(2).get(mx).f32x4ExtractLane(3).op('f32.max').op('f32.max').set(absmax);
    // s = 127 / max(absmax, 1e-5)
    f.get(actPtr).get(t).i32(2).op('i32.shl').op('i32.add');
    f.f32(127).get(absmax).f32(1e-5).op('f32.max').op('f32.div').f32Store();
    f.get(actPtr).get(t).i32(2).op('i32.shl').op('i32.add').v128Load32Splat().set(sv);
    // 16 codes at a time: round(x * s) to int32, then saturating narrows to int16 and int8
    loop(i, rowFloats, 16, () => {
      f.get(qp).get(i).op('i32.add');
      for (let half = 0; half < 2; half++) {
        for (let quarter = 0; quarter < 2; quarter++) {
          f.get(rp).get(i).i32(2).op('i32.shl').op('i32.add').v128Load(32 * half + 16 * quarter);
          f.get(sv).op('f32x4.mul').op('f32x4.nearest').op('i32x4.trunc_sat_f32x4_s');
        }
        f.op('i16x8.narrow_i32x4_s');
      }
      f.op('i8x16.narrow_i16x8_s').v128Store();
    });
  });
}

let hasSimd: boolean | undefined;
let hasRelaxedSwizzle: boolean | undefined;

/** Whether this engine validates WebAssembly SIMD: a function making one v128 and dropping it. */
export function engineHasSimd(): boolean {
  if (hasSimd === undefined) {
    const probe = new wasm.ModuleBuilder().importMemory(1);
    probe.addFunction('probe', []).i32(0).op('i8x16.splat').op('drop');
    hasSimd = typeof WebAssembly === 'object' && WebAssembly.validate(probe.build());
  }
  return hasSimd;
}

/** Whether relaxed SIMD's i8x16.relaxed_swizzle validates (Node 22+, Chrome 114+; Node 20 only
 *  with --experimental-wasm-relaxed-simd). */
export function engineHasRelaxedSwizzle(): boolean {
  if (hasRelaxedSwizzle === undefined) {
    const probe = new wasm.ModuleBuilder().importMemory(1);
    probe.addFunction('probe', []).i32(0).op('i8x16.splat').i32(0).op('i8x16.splat').op('i8x16.relaxed_swizzle').op('drop');
    hasRelaxedSwizzle = engineHasSimd() && WebAssembly.validate(probe.build());
  }
  return hasRelaxedSwizzle;
}

