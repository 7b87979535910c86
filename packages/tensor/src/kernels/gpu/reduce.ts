// Reductions on the device: along the last dim (one thread per row, a loop
// over the row) and over all leading dims (one thread per column, a loop
// down the column, as bias and LayerNorm weight gradients need).
import { type GpuArray } from './device.js';
import { unary } from './elementwise.js';

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
