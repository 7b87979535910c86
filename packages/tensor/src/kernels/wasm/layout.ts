// Strided copies in WebAssembly SIMD: the permutes that split and merge attention heads, and the
// expands that broadcast a gradient back. Once dims contiguous on both sides are merged
// (cpu/loops.ts collapseDims), such a copy is runs of n contiguous floats at up to three
// levels of strides: four floats a step beats TypeScript's one, even with the copies in and out.
import type { ModuleBuilder } from './builder.js';
import { at, repeat, rowBounds, walkRow } from './loops.js';

/**
 * copyRuns(src, dst, n, m0, s0, d0, m1, s1, d1, m2, s2, d2): for i0 < m0, i1 < m1, i2 < m2, copy
 * n contiguous floats from src + i0*s0 + i1*s1 + i2*s2 to dst + i0*d0 + i1*d1 + i2*d2 (strides in
 * bytes; a source stride of 0 repeats, as expand does). Leftover floats copy one at a time, so
 * a run never writes past its end.
 */
function emitCopyRuns(mod: ModuleBuilder): void {
  const f = mod.addFunction('copyRuns', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [src, dst, n, m0, s0, d0, m1, s1, d1, m2, s2, d2] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const i0 = f.local('i32'), i1 = f.local('i32'), i2 = f.local('i32'), j = f.local('i32');
  const vecEnd = f.local('i32'), runEnd = f.local('i32'), from = f.local('i32'), to = f.local('i32');
  rowBounds(f, n, vecEnd, runEnd);
  const step = (p: number, stride: number): void => void f.get(p).get(stride).op('i32.add').set(p);
  const back = (p: number, stride: number, count: number): void =>
    void f.get(p).get(stride).get(count).op('i32.mul').op('i32.sub').set(p);
  repeat(f, i0, m0, () => {
    repeat(f, i1, m1, () => {
      f.get(src).set(from).get(dst).set(to);
      repeat(f, i2, m2, () => {
        walkRow(f, j, vecEnd, runEnd, () => {
          at(f, to, j);
          at(f, from, j).v128Load().v128Store();
        }, () => {
          at(f, to, j);
          at(f, from, j).f32Load().f32Store();
        });
        step(from, s2);
        step(to, d2);
      });
      step(src, s1);
      step(dst, d1);
    });
    back(src, s1, m1);
    back(dst, d1, m1);
    step(src, s0);
    step(dst, d0);
  });
}

export function emitLayout(mod: ModuleBuilder): void {
  emitCopyRuns(mod);
}
