// Loop shapes the kernels are built from, emitted as WebAssembly. Addresses and offsets are in
// bytes (a float is 4, a vector of four 16). Every loop tests before its first pass, so a count
// of zero runs nothing.
import type { FunctionBody } from './builder.js';

/** while (i < end) { body(); i += step }, for i32 locals; i must be set before. */
export function whileBelow(f: FunctionBody, i: number, end: number, step: number, body: () => void): void {
  f.block().loop();
  f.get(i).get(end).op('i32.ge_s').brIf(1);
  body();
  f.get(i).i32(step).op('i32.add').set(i).br(0);
  f.end().end();
}

/** for (i = 0; i < count; i++) body(), for i32 locals. */
export function repeat(f: FunctionBody, i: number, count: number, body: () => void): void {
  f.i32(0).set(i);
  whileBelow(f, i, count, 1, body);
}

/**
 * The byte bounds for walking one row of `cols` floats (a local) four at a time: sets `vecEnd`
 * to the bytes the whole vectors cover and `rowEnd` to the row's bytes. Call once per kernel.
 */
export function rowBounds(f: FunctionBody, cols: number, vecEnd: number, rowEnd: number): void {
  f.get(cols).i32(-4).op('i32.and').i32(2).op('i32.shl').set(vecEnd);
  f.get(cols).i32(2).op('i32.shl').set(rowEnd);
}

/**
 * One row, four floats at a time and then one at a time: vector() runs for each whole vector at
 * byte offset j, tail() for each float left over (at most three). Rows need not start on a
 * vector boundary: the kernels load and store unaligned, which WebAssembly allows.
 */
export function walkRow(
  f: FunctionBody, j: number, vecEnd: number, rowEnd: number, vector: () => void, tail: () => void,
): void {
  f.i32(0).set(j);
  whileBelow(f, j, vecEnd, 16, vector);
  whileBelow(f, j, rowEnd, 4, tail);
}

/** Pushes base + j (two i32 locals): the address of a row's element at byte offset j. */
export function at(f: FunctionBody, base: number, j: number): FunctionBody {
  return f.get(base).get(j).op('i32.add');
}
