// Reductions on the device: along the last dim (one thread per row, a loop
// over the row), over all leading dims (one thread per column, a loop
// down the column, as bias and LayerNorm weight gradients need), over any set
// of dims (reduce), and the index of the max/min along one dim (argReduce).
import { type GpuArray, sizeOf } from './device.js';
import { unary } from './elementwise.js';
import { contiguousStrides, stridedKernel } from './strided.js';

interface RowConstants {
  D: number;
}
interface ColumnConstants {
  rows: number;
  D: number;
}
type RowThis = { thread: { x: number }; constants: RowConstants };

function rowSumKernel(this: RowThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += x[base + i]!;
  }
  return sum;
}

function rowMaxKernel(this: RowThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let best = x[base]!;
  for (let i = 1; i < this.constants.D; i++) {
    best = Math.max(best, x[base + i]!);
  }
  return best;
}

function rowMinKernel(this: RowThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let best = x[base]!;
  for (let i = 1; i < this.constants.D; i++) {
    best = Math.min(best, x[base + i]!);
  }
  return best;
}

function columnSumKernel(this: { thread: { x: number }; constants: ColumnConstants }, x: Float32Array): number {
  let sum = 0;
  for (let row = 0; row < this.constants.rows; row++) {
    sum += x[row * this.constants.D + this.thread.x]!;
  }
  return sum;
}

/** [..., D] -> [..., 1]: sum over the last dim. */
export function sumLastDim(x: GpuArray): GpuArray {
  return rowReduce('sumLastDim', rowSumKernel, x);
}

/** [..., D] -> [..., 1]: max over the last dim. */
export function maxLastDim(x: GpuArray): GpuArray {
  return rowReduce('maxLastDim', rowMaxKernel, x);
}

/** [..., D] -> [..., 1]: min over the last dim. */
export function minLastDim(x: GpuArray): GpuArray {
  return rowReduce('minLastDim', rowMinKernel, x);
}

/** [..., D] -> [D]: sum over every leading dim (the gradient of a broadcast bias). */
export function sumLeadingDims(x: GpuArray): GpuArray {
  const D = lastDim(x, 'sumLeadingDims');
  const rows = x.size / D;
  const key = `sumLeadingDims:${rows}x${D}`;
  const kernel = x.device.kernel(key, { source: columnSumKernel, output: [D], constants: { rows, D }, loopMaxIterations: rows });
  return x.device.run(key, kernel, [D], [x]);
}

function rowReduce(name: string, source: (this: RowThis, x: Float32Array) => number, x: GpuArray): GpuArray {
  const D = lastDim(x, name);
  const rows = x.size / D;
  const key = `${name}:${rows}x${D}`;
  const kernel = x.device.kernel(key, { source, output: [rows], constants: { D }, loopMaxIterations: D });
  return x.device.run(key, kernel, [...x.shape.slice(0, -1), 1], [x]);
}

/** Mean over the last dim: [..., D] -> [..., 1]. */
export function meanLastDim(x: GpuArray): GpuArray {
  const sum = sumLastDim(x);
  const mean = unary('mulScalar', sum, 1 / lastDim(x, 'meanLastDim'));
  sum.dispose();
  return mean;
}

function lastDim(x: GpuArray, op: string): number {
  const D = x.shape[x.shape.length - 1];
  if (D === undefined) throw new Error(`${op}: needs at least one dim, got a scalar`);
  return D;
}

export type ReduceOp = 'sum' | 'max' | 'min';

// How each reduction folds one more value into its accumulator.
const fold: Record<ReduceOp, string> = {
  sum: 'acc + v',
  max: 'Math.max(acc, v)',
  min: 'Math.min(acc, v)',
};

// Reduces the middle dim of x seen as [A, R, B], in chunks of `chunk` values: out[a, c, b] folds
// x[a, r, b] for r in [c*chunk, (c+1)*chunk) within R. One chunk (chunk = R) is a plain reduction;
// several give long reductions with few outputs (a sum over everything) more threads.
function middleReduce(op: ReduceOp, x: GpuArray, A: number, R: number, B: number, chunk: number, outShape: readonly number[]): GpuArray {
  const chunks = Math.ceil(R / chunk);
  // every chunk holds at least its first value, so the accumulator starts from it
  const source = `function (x) {
    const base = this.thread.z * this.constants.R * this.constants.B + this.thread.x;
    const first = this.thread.y * this.constants.chunk;
    let acc = x[base + first * this.constants.B];
    for (let i = 1; i < this.constants.chunk; i++) {
      const r = first + i;
      if (r < this.constants.R) {
        const v = x[base + r * this.constants.B];
        acc = ${fold[op]};
      }
    }
    return acc;
  }`;
  const key = `reduce.${op}:${A}x${R}x${B}:${chunk}`;
  const kernel = x.device.kernel(key, { source, output: [B, chunks, A], constants: { R, B, chunk }, loopMaxIterations: chunk });
  return x.device.run(key, kernel, outShape, [x]);
}

/**
 * sum/max/min over `dims` (sorted, distinct), keepdim as in PyTorch. Adjacent dims of the same
 * kind (kept or reduced) are merged and size-1 dims dropped, so x is a list of groups; the last
 * reduced group is folded away ([A, R, B] -> [A, B]), then the next, until none is left. A long
 * reduction with few outputs goes in two passes (chunks of about sqrt(R), then the chunks).
 */
export function reduce(op: ReduceOp, x: GpuArray, dims: readonly number[], keepdim: boolean): GpuArray {
  if (!(op in fold)) throw new Error(`reduce: unknown op "${String(op)}"`);
  for (const d of dims) if (!Number.isInteger(d) || d < 0 || d >= x.shape.length) throw new Error(`reduce: dim ${d} is out of range for [${x.shape.join(',')}]`);
  const outShape = keepdim ? x.shape.map((d, i) => (dims.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !dims.includes(i));
  const groups: { size: number; reduced: boolean }[] = [];
  x.shape.forEach((size, i) => {
    if (size === 1) return;
    const reduced = dims.includes(i);
    const last = groups[groups.length - 1];
    if (last && last.reduced === reduced) last.size *= size;
    else groups.push({ size, reduced });
  });
  // nothing to fold (only size-1 dims reduced): a copy in the new shape
  if (!groups.some((g) => g.reduced)) return stridedKernel('reduce.copy', outShape, [{ array: x, strides: contiguousStrides(outShape) }], (at) => `return in0[${at(0)}];`);
  let current = x;
  while (true) {
    const at = groups.map((g) => g.reduced).lastIndexOf(true);
    const A = groups.slice(0, at).reduce((p, g) => p * g.size, 1);
    const R = groups[at]!.size;
    const B = groups.slice(at + 1).reduce((p, g) => p * g.size, 1);
    groups.splice(at, 1);
    const last = !groups.some((g) => g.reduced);
    let next: GpuArray;
    if (A * B < 1024 && R > 4096) {
      // few outputs, long rows: a first pass over chunks of about sqrt(R) values, then the chunks
      const chunk = Math.ceil(Math.sqrt(R));
      const chunks = Math.ceil(R / chunk);
      const partial = middleReduce(op, current, A, R, B, chunk, [A, chunks, B]);
      next = middleReduce(op, partial, A, chunks, B, chunks, last ? outShape : [A, B]);
      partial.dispose();
    } else {
      next = middleReduce(op, current, A, R, B, R, last ? outShape : [A, B]);
    }
    if (current !== x) current.dispose();
    current = next;
    if (last) return current;
    // the folded group's neighbours are now adjacent: merge them if they are of one kind
    if (at > 0 && at < groups.length && groups[at - 1]!.reduced === groups[at]!.reduced) {
      groups[at - 1]!.size *= groups[at]!.size;
      groups.splice(at, 1);
    }
  }
}

/** Index of the max (or min) along dim, the first one on ties (as PyTorch), as floats. */
export function argReduce(op: 'max' | 'min', x: GpuArray, dim: number, keepdim: boolean): GpuArray {
  const n = x.shape[dim];
  if (n === undefined) throw new Error(`argReduce: dim ${dim} is out of range for [${x.shape.join(',')}]`);
  const inner = sizeOf(x.shape.slice(dim + 1));
  const outer = sizeOf(x.shape.slice(0, dim));
  // strictly better only: a later equal value does not move the answer
  const better = op === 'max' ? 'v > best' : 'v < best';
  const source = `function (x) {
    const base = this.thread.y * this.constants.n * this.constants.inner + this.thread.x;
    let best = x[base];
    let at = 0;
    for (let i = 1; i < this.constants.n; i++) {
      const v = x[base + i * this.constants.inner];
      if (${better}) {
        best = v;
        at = i;
      }
    }
    return at;
  }`;
  const key = `argReduce.${op}:${outer}x${n}x${inner}`;
  const kernel = x.device.kernel(key, { source, output: [inner, outer], constants: { n, inner }, loopMaxIterations: n });
  const outShape = keepdim ? x.shape.map((d, i) => (i === dim ? 1 : d)) : x.shape.filter((_, i) => i !== dim);
  return x.device.run(key, kernel, outShape, [x]);
}
