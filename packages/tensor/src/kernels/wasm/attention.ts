// Scaled dot-product attention for one head in one kernel, forward and backward, reading Q, K,
// V (and the output's gradient) where they lie in [B, T, heads * d] tensors (a head's row is d
// floats every heads * d) and writing results the same way, so the heads are never split into
// copies of their own and merged back (seven permutes per layer on the unfused path).
//
// Forward, attention(): the arithmetic is the unfused path's, step for step, so the results are
// the same floats:
//   S = Q K^T     each S[i][j] summed over the head dim in order, one multiply-add per step (the
//                 GEMM's micro-kernel does the same: mulAdd, fused where relaxed SIMD allows)
//   S *= scale    one f32 multiply (the unfused path's mul by a scalar)
//   P = softmax   the softmax kernel itself (called per row)
//   O = P V       summed over the keys in order, one multiply-add per step
// Backward, attentionBackward(), with P kept by the forward and G the output's gradient:
//   dP = G V^T,  dS = scale * softmaxBackward(P, dP),  dQ = dS K,  dK = dS^T Q,  dV = P^T G
// (the unfused path scales dQ and dK after their products instead: the floats differ in the
// last bits).
//
// Every product is the same tile, 4 rows of A by 8 outputs (two vectors) in 8 accumulators, the
// GEMM micro-kernel's shape: A's rows are read a float at a time (splat), B's rows two vectors
// at a time, so B must run along the outputs; where it does not (K^T, V^T, P^T, dS^T), a
// transposed copy goes to the unit's scratch first.
import type { FunctionBody, ModuleBuilder } from './builder.js';
import { repeat, whileBelow } from './loops.js';
import { DEFAULT_TILING } from '../gemm/wasm-gemm.js';

/** Rows per tile. */
const ROWS = 4;
/** Steps summed in registers before they are added to memory: the GEMM's K block (DEFAULT_TILING.kc). */
const KC = DEFAULT_TILING.kc;

const pad8 = (n: number): number => Math.ceil(n / 8) * 8;
const pad4 = (n: number): number => Math.ceil(n / ROWS) * ROWS;

/**
 * Floats of scratch one forward unit of `rows` query rows against `tk` keys of head dim `d` needs:
 * K^T (d x tkPad), S (rows rounded up to 4, x tkPad), and P's rows when they are not kept.
 */
export function attentionScratchFloats(rows: number, tk: number, d: number): number {
  return d * pad8(tk) + pad4(rows) * pad8(tk) + pad4(rows) * tk;
}

/** Floats of scratch one backward unit (a whole head) needs: V^T, dS (in place of dP), dS^T, P^T. */
export function attentionBackwardScratchFloats(tq: number, tk: number, dv: number): number {
  return dv * pad8(tk) + pad4(tq) * pad8(tk) + 2 * pad4(tk) * pad4(tq);
}

/** The tile machinery of one emitted function: its locals and the loops built on them. */
function tiles(f: FunctionBody) {
  const i32 = (): number => f.local('i32');
  const i = i32(), j = i32(), p = i32(), ptr = i32(), end = i32(), left = i32(), chunk = i32(), first = i32(), limit = i32();
  const row = Array.from({ length: ROWS }, i32);
  const acc = Array.from({ length: 2 * ROWS }, () => f.local('v128'));
  const b0 = f.local('v128'), b1 = f.local('v128'), a = f.local('v128');
  const address = (base: number, index: number, ld: number): void => {
    f.get(base).get(index).get(ld).op('i32.mul').op('i32.add');
  };

  /** row[r] = base + min(i + r, limit - 1) * ld: the last tile's missing rows repeat its last. */
  const tileRows = (base: number, ld: number): void => {
    for (let r = 0; r < ROWS; r++) {
      f.get(i).i32(r).op('i32.add').get(limit).i32(1).op('i32.sub');
      f.get(i).i32(r).op('i32.add').get(limit).i32(1).op('i32.sub').op('i32.lt_s');
      f.op('select').get(ld).op('i32.mul').get(base).op('i32.add').set(row[r]!);
    }
  };

  /**
   * The tile's sums over `count` steps into memory: row r's `halves` vectors at dst(r) (+16),
   * for the rows keep(r) allows. A step adds splat(row[r] + 4 * step) times the two vectors at
   * ptr, ptr advancing `stride` bytes a step. As the GEMM, the steps go in blocks of KC, each
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

  return {
    i, j,
    /**
     * C = A B for `rows` rows (a local) of A (rows at aBase, aLd bytes apart, read along `count`
     * steps), B with rows bLd bytes apart and `cols` outputs (a multiple of 4; a last half block
     * reads 4 floats past them, which every heap block has room for), C's rows at cBase, cLd
     * bytes apart. `all`: store all 4 rows of the last tile (C is scratch with room for them).
     */
    product(rows: number, aBase: number, aLd: number, count: number, bBase: number, bLd: number, cols: number, cBase: number, cLd: number, all = false): void {
      const dst = (r: number): void => {
        f.get(i).i32(r).op('i32.add').get(cLd).op('i32.mul').get(cBase).op('i32.add').get(j).i32(2).op('i32.shl').op('i32.add');
      };
      const keep = (r: number): void => void (all ? f.i32(1) : f.get(i).i32(r).op('i32.add').get(limit).op('i32.lt_s'));
      f.get(rows).set(limit);
      f.i32(0).set(i);
      whileBelow(f, i, limit, ROWS, () => {
        f.i32(0).set(j);
        f.get(cols).i32(-8).op('i32.and').set(end);
        whileBelow(f, j, end, 8, () => {
          tileRows(aBase, aLd);
          f.get(bBase).get(j).i32(2).op('i32.shl').op('i32.add').set(ptr);
          tile(count, bLd, 2, dst, keep);
        });
        f.get(j).get(cols).op('i32.lt_s').if();
        tileRows(aBase, aLd);
        f.get(bBase).get(j).i32(2).op('i32.shl').op('i32.add').set(ptr);
        tile(count, bLd, 1, dst, keep);
        f.end();
      });
    },

    /** dst[c][r] = src[r][c] for r < rows, c < cols (locals; ld* in bytes), and zeros for the rows
     *  r in [rows, padTo) of each dst row. */
    transpose(src: number, srcLd: number, rows: number, cols: number, dst: number, dstLd: number, padTo: number): void {
      repeat(f, j, cols, () => {
        address(dst, j, dstLd);
        f.set(ptr);
        f.get(src).get(j).i32(2).op('i32.shl').op('i32.add').set(end); // src[0][c]
        repeat(f, i, rows, () => {
          f.get(ptr).get(i).i32(2).op('i32.shl').op('i32.add');
          address(end, i, srcLd);
          f.f32Load().f32Store();
        });
        whileBelow(f, i, padTo, 1, () => {
          f.get(ptr).get(i).i32(2).op('i32.shl').op('i32.add').f32(0).f32Store();
        });
      });
    },

    /** row r of `rows` (a local), ld bytes apart from base, times the splat `scale`, for `cols` floats rounded up to 4. */
    scaleRows(base: number, ld: number, rows: number, cols: number, scale: number): void {
      repeat(f, i, rows, () => {
        address(base, i, ld);
        f.set(ptr);
        f.i32(0).set(j);
        whileBelow(f, j, cols, 4, () => {
          f.get(ptr).get(j).i32(2).op('i32.shl').op('i32.add');
          f.get(ptr).get(j).i32(2).op('i32.shl').op('i32.add').v128Load().get(scale).op('f32x4.mul').v128Store();
        });
      });
    },
  };
}

/** Byte offset n * floats (locals) into `to`. */
function bumpBy(f: FunctionBody, from: number, n: number, floats: number, to: number): void {
  f.get(from).get(n).get(floats).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(to);
}

/**
 * attention(q, k, v, out, probs, rows, tk, ldq, ldk, ldv, ldo, d, dv, scale, scratch): one unit,
 * `rows` query rows of one head. q, k, v, out point at the head's first element of the unit's
 * first row (byte addresses); ld* are floats from one row to the next; probs receives the unit's
 * rows of P (rows x tk, contiguous), or 0 to keep them in scratch only. d and dv must be
 * multiples of 4.
 */
function emitForward(mod: ModuleBuilder, softmax: FunctionBody): void {
  const f = mod.addFunction('attention', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [q, k, v, out, probs, rows, tk, ldq, ldk, ldv, ldo, d, dv, scale, scratch] = Array.from({ length: 15 }, (_, n) => n) as [
    number, number, number, number, number, number, number, number, number, number, number, number, number, number, number,
  ];
  const tkPad = f.local('i32'), rowsPad = f.local('i32'), kt = f.local('i32'), s = f.local('i32'), ldS = f.local('i32'), ldP = f.local('i32');
  const sc = f.local('v128');
  const t = tiles(f);

  for (const ld of [ldq, ldk, ldv, ldo]) f.get(ld).i32(2).op('i32.shl').set(ld); // in bytes from here on
  f.get(tk).i32(7).op('i32.add').i32(-8).op('i32.and').set(tkPad);
  f.get(rows).i32(ROWS - 1).op('i32.add').i32(-ROWS).op('i32.and').set(rowsPad);
  f.get(tkPad).i32(2).op('i32.shl').set(ldS);
  f.get(tk).i32(2).op('i32.shl').set(ldP);
  f.get(scratch).set(kt);
  bumpBy(f, kt, d, tkPad, s);
  f.get(probs).op('i32.eqz').if();
  bumpBy(f, s, rowsPad, tkPad, probs);
  f.end();
  f.get(scale).op('f32x4.splat').set(sc);

  // (1) K^T into scratch (zeros for the padding keys), (2) S = Q K^T, rows of tkPad
  t.transpose(k, ldk, tk, d, kt, ldS, tkPad);
  t.product(rows, q, ldq, d, kt, ldS, tkPad, s, ldS, true);
  // (3) P = softmax(scale * S) of each row: the scale (a multiply of its own, as the unfused
  // path's), then the softmax kernel
  t.scaleRows(s, ldS, rows, tkPad, sc);
  repeat(f, t.i, rows, () => {
    f.get(s).get(t.i).get(ldS).op('i32.mul').op('i32.add');
    f.get(probs).get(t.i).get(ldP).op('i32.mul').op('i32.add');
    f.i32(1).get(tk).call(softmax);
  });
  // (4) O = P V
  t.product(rows, probs, ldP, tk, v, ldv, dv, out, ldo);
}

/**
 * attentionBackward(q, k, v, g, probs, dq, dk, dv, tq, tk, ldq, ldv, d, dvDim, scale, scratch): one
 * head of one item. q, k, dq, dk rows are ldq floats apart, v, g, dv rows ldv; probs is the head's
 * P (tq x tk, contiguous). d and dvDim must be multiples of 4.
 */
function emitBackward(mod: ModuleBuilder, softmaxBackward: FunctionBody): void {
  const f = mod.addFunction('attentionBackward', [
    'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32',
  ]);
  const [q, k, v, g, probs, dq, dk, dvOut, tq, tk, ldq, ldv, d, dv, scale, scratch] = Array.from({ length: 16 }, (_, n) => n) as [
    number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number,
  ];
  const tkPad = f.local('i32'), tqPad = f.local('i32'), vt = f.local('i32'), ds = f.local('i32'), dst = f.local('i32'), pt = f.local('i32');
  const ldS = f.local('i32'), ldP = f.local('i32'), ldT = f.local('i32');
  const sc = f.local('v128');
  const t = tiles(f);

  f.get(ldq).i32(2).op('i32.shl').set(ldq);
  f.get(ldv).i32(2).op('i32.shl').set(ldv);
  f.get(tk).i32(7).op('i32.add').i32(-8).op('i32.and').set(tkPad);
  f.get(tq).i32(ROWS - 1).op('i32.add').i32(-ROWS).op('i32.and').set(tqPad);
  f.get(tkPad).i32(2).op('i32.shl').set(ldS);
  f.get(tk).i32(2).op('i32.shl').set(ldP);
  f.get(tqPad).i32(2).op('i32.shl').set(ldT);
  // scratch: V^T (dv x tkPad) | dP, then dS in place (tqPad x tkPad) | dS^T (tk x tqPad) | P^T (tk x tqPad)
  f.get(scratch).set(vt);
  bumpBy(f, vt, dv, tkPad, ds);
  bumpBy(f, ds, tqPad, tkPad, dst);
  bumpBy(f, dst, tk, tqPad, pt);
  f.get(scale).op('f32x4.splat').set(sc);

  // dP = G V^T (V^T in scratch, zeros past the keys)
  t.transpose(v, ldv, tk, dv, vt, ldS, tkPad);
  t.product(tq, g, ldv, dv, vt, ldS, tkPad, ds, ldS, true);
  // dS = scale * P * (dP - rowsum(dP * P)), in place of dP
  repeat(f, t.i, tq, () => {
    f.get(probs).get(t.i).get(ldP).op('i32.mul').op('i32.add');
    f.get(ds).get(t.i).get(ldS).op('i32.mul').op('i32.add');
    f.get(ds).get(t.i).get(ldS).op('i32.mul').op('i32.add');
    f.i32(1).get(tk).call(softmaxBackward);
  });
  t.scaleRows(ds, ldS, tq, tk, sc);
  // dQ = dS K; dK = dS^T Q; dV = P^T G
  t.product(tq, ds, ldS, tk, k, ldq, d, dq, ldq);
  t.transpose(ds, ldS, tq, tk, dst, ldT, tq);
  t.product(tk, dst, ldT, tq, q, ldq, d, dk, ldq);
  t.transpose(probs, ldP, tq, tk, pt, ldT, tq);
  t.product(tk, pt, ldT, tq, g, ldv, dv, dvOut, ldv);
}

export function emitAttention(mod: ModuleBuilder, softmax: FunctionBody, softmaxBackward: FunctionBody): void {
  emitForward(mod, softmax);
  emitBackward(mod, softmaxBackward);
}
