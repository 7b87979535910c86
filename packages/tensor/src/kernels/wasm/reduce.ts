// Reductions in WebAssembly SIMD over the two shapes broadcasting's backward and the norms need:
// along each row (the last dim reduced) and down the columns (leading dims reduced, a bias
// gradient). Sums accumulate in f64 as cpu/reduce.ts does, so long sums do not drift; down the
// columns they add in the reference's order, so those results are bit-identical to it.
import type { FunctionBody, ModuleBuilder } from './builder.js';
import { at, repeat, rowBounds, walkRow, whileBelow } from './loops.js';
import { horizontalExtreme } from './vmath.js';

/** Adds the four f32 lanes of local x to two f64x2 accumulators (lanes 0-1 to lo, 2-3 to hi). */
function addPromoted(f: FunctionBody, x: number, lo: number, hi: number): void {
  f.get(lo).get(x).op('f64x2.promote_low_f32x4').op('f64x2.add').set(lo);
  f.get(hi).get(x).get(x).shuffleLanes([2, 3, 0, 1]).op('f64x2.promote_low_f32x4').op('f64x2.add').set(hi);
}

/** sumRows(src, dst, rows, cols): dst[r] = sum of row r, in f64, stored as f32. */
function emitSumRows(mod: ModuleBuilder): void {
  const f = mod.addFunction('sumRows', ['i32', 'i32', 'i32', 'i32']);
  const [src, dst, rows, cols] = [0, 1, 2, 3];
  const r = f.local('i32'), j = f.local('i32'), vecEnd = f.local('i32'), rowEnd = f.local('i32');
  const x = f.local('v128'), lo = f.local('v128'), hi = f.local('v128'), tail = f.local('f64');
  rowBounds(f, cols, vecEnd, rowEnd);
  repeat(f, r, rows, () => {
    f.f64(0).op('f64x2.splat').tee(lo).set(hi).f64(0).set(tail);
    walkRow(f, j, vecEnd, rowEnd, () => {
      at(f, src, j).v128Load().set(x);
      addPromoted(f, x, lo, hi);
    }, () => {
      f.get(tail).get(src).get(j).op('i32.add').f32Load().op('f64.promote_f32').op('f64.add').set(tail);
    });
    f.get(lo).get(hi).op('f64x2.add').set(lo);
    f.get(dst);
    f.get(lo).f64x2ExtractLane(0).get(lo).f64x2ExtractLane(1).op('f64.add').get(tail).op('f64.add').op('f32.demote_f64');
    f.f32Store();
    f.get(src).get(rowEnd).op('i32.add').set(src);
    f.get(dst).i32(4).op('i32.add').set(dst);
  });
}

/** maxRows / minRows(src, dst, rows, cols): the largest (smallest) of each row; NaN wins. */
function emitExtremeRows(mod: ModuleBuilder, kind: 'max' | 'min'): void {
  const f = mod.addFunction(`${kind}Rows`, ['i32', 'i32', 'i32', 'i32']);
  const [src, dst, rows, cols] = [0, 1, 2, 3];
  const r = f.local('i32'), j = f.local('i32'), vecEnd = f.local('i32'), rowEnd = f.local('i32');
  const acc = f.local('v128'), tail = f.local('f32');
  const vop = kind === 'max' ? 'f32x4.max' : 'f32x4.min';
  const sop = kind === 'max' ? 'f32.max' : 'f32.min';
  const start = kind === 'max' ? -Infinity : Infinity;
  rowBounds(f, cols, vecEnd, rowEnd);
  repeat(f, r, rows, () => {
    f.f32x4(start).set(acc).f32(start).set(tail);
    walkRow(f, j, vecEnd, rowEnd, () => {
      f.get(acc);
      at(f, src, j).v128Load().op(vop).set(acc);
    }, () => {
      f.get(tail);
      at(f, src, j).f32Load().op(sop).set(tail);
    });
    f.get(dst);
    horizontalExtreme(f, acc, vop);
    f.get(tail).op(sop).f32Store();
    f.get(src).get(rowEnd).op('i32.add').set(src);
    f.get(dst).i32(4).op('i32.add').set(dst);
  });
}

/**
 * sumCols(src, dst, acc, rows, cols): dst[c] = sum over rows of src[r][c], accumulated in f64
 * at acc (8*cols bytes of scratch, 16-byte aligned) row after row, as the reference adds them.
 */
function emitSumCols(mod: ModuleBuilder): void {
  const f = mod.addFunction('sumCols', ['i32', 'i32', 'i32', 'i32', 'i32']);
  const [src, dst, acc, rows, cols] = [0, 1, 2, 3, 4];
  const r = f.local('i32'), j = f.local('i32'), vecEnd = f.local('i32'), rowEnd = f.local('i32');
  const x = f.local('v128'), lo = f.local('v128'), hi = f.local('v128');
  const accAt = (): FunctionBody => f.get(acc).get(j).i32(1).op('i32.shl').op('i32.add'); // f64 j/4 <-> byte 2j
  rowBounds(f, cols, vecEnd, rowEnd);
  // zero the accumulators
  f.i32(0).set(j);
  whileBelow(f, j, rowEnd, 4, () => void accAt().f64(0).f64Store());
  repeat(f, r, rows, () => {
    walkRow(f, j, vecEnd, rowEnd, () => {
      at(f, src, j).v128Load().set(x);
      accAt().v128Load().set(lo);
      accAt().v128Load(16).set(hi);
      addPromoted(f, x, lo, hi);
      accAt().get(lo).v128Store();
      accAt().get(hi).v128Store(16);
    }, () => {
      accAt();
      accAt().f64Load();
      at(f, src, j).f32Load().op('f64.promote_f32').op('f64.add').f64Store();
    });
    f.get(src).get(rowEnd).op('i32.add').set(src);
  });
  // round the sums to f32
  walkRow(f, j, vecEnd, rowEnd, () => {
    at(f, dst, j);
    accAt().v128Load().op('f32x4.demote_f64x2_zero');
    accAt().v128Load(16).op('f32x4.demote_f64x2_zero');
    f.shuffleLanes([0, 1, 4, 5]).v128Store();
  }, () => {
    at(f, dst, j);
    accAt().f64Load().op('f32.demote_f64').f32Store();
  });
}

/** maxCols / minCols(src, dst, rows, cols): dst[c] = the largest (smallest) of column c; NaN wins. */
function emitExtremeCols(mod: ModuleBuilder, kind: 'max' | 'min'): void {
  const f = mod.addFunction(`${kind}Cols`, ['i32', 'i32', 'i32', 'i32']);
  const [src, dst, rows, cols] = [0, 1, 2, 3];
  const r = f.local('i32'), j = f.local('i32'), vecEnd = f.local('i32'), rowEnd = f.local('i32');
  const vop = kind === 'max' ? 'f32x4.max' : 'f32x4.min';
  const sop = kind === 'max' ? 'f32.max' : 'f32.min';
  rowBounds(f, cols, vecEnd, rowEnd);
  const fill = kind === 'max' ? -Infinity : Infinity;
  f.i32(0).set(j);
  whileBelow(f, j, rowEnd, 4, () => void at(f, dst, j).f32(fill).f32Store());
  repeat(f, r, rows, () => {
    walkRow(f, j, vecEnd, rowEnd, () => {
      at(f, dst, j);
      at(f, dst, j).v128Load();
      at(f, src, j).v128Load().op(vop).v128Store();
    }, () => {
      at(f, dst, j);
      at(f, dst, j).f32Load();
      at(f, src, j).f32Load().op(sop).f32Store();
    });
    f.get(src).get(rowEnd).op('i32.add').set(src);
  });
}

export function emitReduce(mod: ModuleBuilder): void {
  emitSumRows(mod);
  emitExtremeRows(mod, 'max');
  emitExtremeRows(mod, 'min');
  emitSumCols(mod);
  emitExtremeCols(mod, 'max');
  emitExtremeCols(mod, 'min');
}
