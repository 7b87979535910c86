// Scaled dot-product attention for one head in one kernel: softmax(scale * Q K^T) V, reading
// Q, K, V where they lie in [B, T, heads * d] tensors (a head's row is d floats every heads * d)
// and writing the output the same way, so the heads are never split into copies of their own
// and merged back (four permutes per layer on the unfused path).
//
// The arithmetic is the unfused path's, step for step, so the results are the same floats:
//   S = Q K^T     each S[i][j] summed over the head dim in order, one multiply-add per step (the
//                 GEMM's micro-kernel does the same: mulAdd, fused where relaxed SIMD allows)
//   S *= scale    one f32 multiply (the unfused path's mul by a scalar)
//   P = softmax   the softmax kernel itself (called per row)
//   O = P V       summed over the keys in order, one multiply-add per step
// Tiles of 4 query rows by 8 outputs (two vectors) keep 8 accumulators in registers, the shape of
// the GEMM's micro-kernel; K is first transposed into scratch so that a step reads 8 consecutive
// keys' values of one head dim.
import type { FunctionBody, ModuleBuilder } from './builder.js';
import { repeat, whileBelow } from './loops.js';
import { DEFAULT_TILING } from '../gemm/wasm-gemm.js';

/** Query rows per tile. */
const ROWS = 4;
/** Steps summed in registers before they are added to memory: the GEMM's K block (DEFAULT_TILING.kc). */
const KC = DEFAULT_TILING.kc;

/**
 * Floats of scratch one unit of `rows` query rows against `tk` keys of head dim `d` needs:
 * K^T (d x tkPad), S (rows rounded up to 4, x tkPad), and P's rows when they are not kept.
 */
export function attentionScratchFloats(rows: number, tk: number, d: number): number {
  const tkPad = Math.ceil(tk / 8) * 8;
  const rowsPad = Math.ceil(rows / ROWS) * ROWS;
  return d * tkPad + rowsPad * tkPad + rowsPad * tk;
}

/**
 * attention(q, k, v, out, probs, rows, tk, ldq, ldk, ldv, ldo, d, dv, scale, scratch): one unit,
 * `rows` query rows of one head. q, k, v, out point at the head's first element of the unit's
 * first row (byte addresses); ld* are floats from one row to the next; probs receives the unit's
 * rows of P (rows x tk, contiguous), or 0 to keep them in scratch only. d and dv must be
 * multiples of 4.
 */
export function emitAttention(mod: ModuleBuilder, softmax: FunctionBody): void {
  const f = mod.addFunction('attention', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [q, k, v, out, probs, rows, tk, ldq, ldk, ldv, ldo, d, dv, scale, scratch] = Array.from({ length: 15 }, (_, i) => i) as [
    number, number, number, number, number, number, number, number, number, number, number, number, number, number, number,
  ];
  const i32 = (): number => f.local('i32');
  const tkPad = i32(), kt = i32(), s = i32(), i = i32(), j = i32(), p = i32(), end = i32(), ptr = i32(), step = i32();
  const left = i32(), chunk = i32(), first = i32();
  const row = Array.from({ length: ROWS }, i32);
  const acc = Array.from({ length: 2 * ROWS }, () => f.local('v128'));
  const b0 = f.local('v128'), b1 = f.local('v128'), a = f.local('v128'), sc = f.local('v128');

  // ld* in bytes from here on
  for (const ld of [ldq, ldk, ldv, ldo]) f.get(ld).i32(2).op('i32.shl').set(ld);
  f.get(tk).i32(7).op('i32.add').i32(-8).op('i32.and').set(tkPad);
  f.get(scratch).set(kt);
  f.get(kt).get(d).get(tkPad).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(s);
  f.get(probs).op('i32.eqz').if();
  f.get(s).get(rows).i32(ROWS - 1).op('i32.add').i32(-ROWS).op('i32.and').get(tkPad).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(probs);
  f.end();
  f.get(scale).op('f32x4.splat').set(sc);

  // (1) K^T into scratch: kt[p][j] = k[j][p], zeros for the padding keys j in [tk, tkPad)
  repeat(f, p, d, () => {
    f.get(kt).get(p).get(tkPad).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(ptr);
    f.get(k).get(p).i32(2).op('i32.shl').op('i32.add').set(end); // k[0][p]
    repeat(f, j, tk, () => {
      f.get(ptr).get(j).i32(2).op('i32.shl').op('i32.add');
      f.get(end).get(j).get(ldk).op('i32.mul').op('i32.add').f32Load();
      f.f32Store();
    });
    whileBelow(f, j, tkPad, 1, () => {
      f.get(ptr).get(j).i32(2).op('i32.shl').op('i32.add').f32(0).f32Store();
    });
  });

  /** Sets row[r] = base + min(i + r, rows - 1) * ld (the last tile's missing rows repeat its last). */
  const tileRows = (base: number, ld: number): void => {
    for (let r = 0; r < ROWS; r++) {
      f.get(i).i32(r).op('i32.add').get(rows).i32(1).op('i32.sub');
      f.get(i).i32(r).op('i32.add').get(rows).i32(1).op('i32.sub').op('i32.lt_s');
      f.op('select').get(ld).op('i32.mul').get(base).op('i32.add').set(row[r]!);
    }
  };
  /**
   * The tile's sums over `count` steps into memory: row r's two vectors (h = 0, 1) at dst(r) +
   * 16h, for the rows `keep(r)` allows. A step adds splat(row[r] + 4 * step) times the two vectors
   * at ptr, ptr advancing `stride` bytes a step. As the GEMM, the steps go in blocks of KC, each
   * summed from zero in registers and then added to what the blocks before stored, so the sums
   * are the GEMM's to the bit also past KC steps.
   */
  const tile = (count: number, stride: number, halves: number, dst: (r: number) => void, keep: (r: number) => void): void => {
    f.get(count).set(left);
    f.i32(1).set(first);
    f.block().loop();
    f.get(left).i32(KC).get(left).i32(KC).op('i32.lt_s').op('select').set(chunk);
    for (const c of acc) f.f32x4(0).set(c);
    repeat(f, p, chunk, () => {
      f.get(ptr).v128Load(0).set(b0).get(ptr).v128Load(16).set(b1);
      for (let r = 0; r < ROWS; r++) {
        f.get(row[r]!).get(p).i32(2).op('i32.shl').op('i32.add').v128Load32Splat().set(a);
        f.mulAdd(() => f.get(a), () => f.get(b0), () => f.get(acc[2 * r]!)).set(acc[2 * r]!);
        f.mulAdd(() => f.get(a), () => f.get(b1), () => f.get(acc[2 * r + 1]!)).set(acc[2 * r + 1]!);
      }
      f.get(ptr).get(stride).op('i32.add').set(ptr);
    });
    for (let r = 0; r < ROWS; r++) {
      keep(r);
      f.if();
      for (let h = 0; h < halves; h++) {
        f.get(first).if();
        dst(r);
        f.get(acc[2 * r + h]!).v128Store(16 * h);
        f.else();
        dst(r);
        dst(r);
        f.v128Load(16 * h).get(acc[2 * r + h]!).op('f32x4.add').v128Store(16 * h);
        f.end();
      }
      f.end();
    }
    // the rows' pointers move on by the block
    for (let r = 0; r < ROWS; r++) f.get(row[r]!).get(chunk).i32(2).op('i32.shl').op('i32.add').set(row[r]!);
    f.i32(0).set(first);
    f.get(left).get(chunk).op('i32.sub').tee(left).i32(0).op('i32.gt_s').brIf(0);
    f.end().end();
  };

  // (2) S = Q K^T in tiles of 4 rows x 8 keys (scratch rows of tkPad; all 4 rows, the scratch has them)
  f.i32(0).set(i);
  whileBelow(f, i, rows, ROWS, () => {
    f.get(tkPad).i32(2).op('i32.shl').set(step);
    f.i32(0).set(j);
    whileBelow(f, j, tkPad, 8, () => {
      tileRows(q, ldq);
      f.get(kt).get(j).i32(2).op('i32.shl').op('i32.add').set(ptr);
      tile(d, step, 2, (r) => {
        f.get(s).get(i).i32(r).op('i32.add').get(tkPad).op('i32.mul').get(j).op('i32.add').i32(2).op('i32.shl').op('i32.add');
      }, () => void f.i32(1));
    });
  });

  // (3) P = softmax(scale * S) of each row: the scale (a multiply of its own, as the unfused
  // path's), then the softmax kernel
  repeat(f, i, rows, () => {
    f.get(s).get(i).get(tkPad).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(ptr);
    f.i32(0).set(j);
    whileBelow(f, j, tkPad, 4, () => {
      f.get(ptr).get(j).i32(2).op('i32.shl').op('i32.add');
      f.get(ptr).get(j).i32(2).op('i32.shl').op('i32.add').v128Load().get(sc).op('f32x4.mul').v128Store();
    });
    f.get(ptr);
    f.get(probs).get(i).get(tk).op('i32.mul').i32(2).op('i32.shl').op('i32.add');
    f.i32(1).get(tk).call(softmax);
  });

  // (4) O = P V in tiles of 4 rows x 8 outputs, then 4 rows x 4 for a last half block (that tile
  // reads 8 values of V, the 4 past the head's slice dropped: every heap block has padding)
  const outRow = (r: number): void => {
    f.get(out).get(i).i32(r).op('i32.add').get(ldo).op('i32.mul').op('i32.add').get(j).i32(2).op('i32.shl').op('i32.add');
  };
  const exists = (r: number): void => void f.get(i).i32(r).op('i32.add').get(rows).op('i32.lt_s');
  f.i32(0).set(i);
  whileBelow(f, i, rows, ROWS, () => {
    f.get(tk).i32(2).op('i32.shl').set(step);
    f.i32(0).set(j);
    f.get(dv).i32(-8).op('i32.and').set(end);
    whileBelow(f, j, end, 8, () => {
      tileRows(probs, step);
      f.get(v).get(j).i32(2).op('i32.shl').op('i32.add').set(ptr);
      tile(tk, ldv, 2, outRow, exists);
    });
    f.get(j).get(dv).op('i32.lt_s').if();
    tileRows(probs, step);
    f.get(v).get(j).i32(2).op('i32.shl').op('i32.add').set(ptr);
    tile(tk, ldv, 1, outRow, exists);
    f.end();
  });
}
