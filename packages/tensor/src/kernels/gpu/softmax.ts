// Softmax and log-softmax over the last dim, forward and backward.
//   softmax:     y = exp(x - m) / s,        m = max(x), s = sum(exp(x - m))  (m keeps exp in range)
//   logSoftmax:  y = x - m - log(s)
//   backward, with g = dL/dy:  softmax: dx = y * (g - sum(g * y));  logSoftmax: dx = g - exp(y) * sum(g)
// Per-row statistics are one kernel each (a thread loops over its row); the
// elementwise pass reads them back by row.
import { type GpuArray } from './device.js';
import { maxLastDim } from './reduce.js';

type RowThis = { thread: { x: number }; constants: { D: number } };
type ElementThis = { thread: { x: number; y: number }; constants: { D: number } };

function sumExpKernel(this: RowThis, x: Float32Array, rowMax: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  const m = rowMax[this.thread.x]!;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += Math.exp(x[base + i]! - m);
  }
  return sum;
}

function softmaxKernel(this: ElementThis, x: Float32Array, rowMax: Float32Array, rowSumExp: Float32Array): number {
  const row = this.thread.y;
  return Math.exp(x[row * this.constants.D + this.thread.x]! - rowMax[row]!) / rowSumExp[row]!;
}

function logSoftmaxKernel(this: ElementThis, x: Float32Array, rowMax: Float32Array, rowSumExp: Float32Array): number {
  const row = this.thread.y;
  return x[row * this.constants.D + this.thread.x]! - rowMax[row]! - Math.log(rowSumExp[row]!);
}

// sum(g * y) per row, for softmax's backward
function rowDotKernel(this: RowThis, g: Float32Array, y: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += g[base + i]! * y[base + i]!;
  }
  return sum;
}

// sum(g) per row, for logSoftmax's backward (y unused: same signature as rowDotKernel)
function rowSumKernel(this: RowThis, g: Float32Array, y: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += g[base + i]!;
  }
  return sum;
}

function softmaxBackwardKernel(this: ElementThis, y: Float32Array, g: Float32Array, rowDot: Float32Array): number {
  const index = this.thread.y * this.constants.D + this.thread.x;
  return y[index]! * (g[index]! - rowDot[this.thread.y]!);
}

function logSoftmaxBackwardKernel(this: ElementThis, y: Float32Array, g: Float32Array, rowSum: Float32Array): number {
  const index = this.thread.y * this.constants.D + this.thread.x;
  return g[index]! - Math.exp(y[index]!) * rowSum[this.thread.y]!;
}

/** Softmax over the last dim, same shape out. */
export function softmax(x: GpuArray): GpuArray {
  return normalize('softmax', softmaxKernel, x);
}

/** log(softmax(x)) over the last dim, computed without taking the log of a rounded probability. */
export function logSoftmax(x: GpuArray): GpuArray {
  return normalize('logSoftmax', logSoftmaxKernel, x);
}

/** dL/dx of softmax, given its output y and dL/dy. */
export function softmaxBackward(y: GpuArray, g: GpuArray): GpuArray {
  return backward('softmaxBackward', rowDotKernel, softmaxBackwardKernel, y, g);
}

/** dL/dx of logSoftmax, given its output y and dL/dy. */
export function logSoftmaxBackward(y: GpuArray, g: GpuArray): GpuArray {
  return backward('logSoftmaxBackward', rowSumKernel, logSoftmaxBackwardKernel, y, g);
}

function normalize(name: string, source: (this: ElementThis, x: Float32Array, rowMax: Float32Array, rowSumExp: Float32Array) => number, x: GpuArray): GpuArray {
  const { D, rows } = rowsOf(x, name);
  const device = x.device;
  const rowMax = maxLastDim(x);
  const sumKey = `${name}.sumExp:${rows}x${D}`;
  const sumExp = device.run(sumKey, device.kernel(sumKey, { source: sumExpKernel, output: [rows], constants: { D }, loopMaxIterations: D }), rowMax.shape, [x, rowMax]);
  const key = `${name}:${rows}x${D}`;
  const y = device.run(key, device.kernel(key, { source, output: [D, rows], constants: { D } }), x.shape, [x, rowMax, sumExp]);
  rowMax.dispose();
  sumExp.dispose();
  return y;
}

function backward(
  name: string,
  rowSource: (this: RowThis, g: Float32Array, y: Float32Array) => number,
  source: (this: ElementThis, y: Float32Array, g: Float32Array, rowStat: Float32Array) => number,
  y: GpuArray,
  g: GpuArray,
): GpuArray {
  if (y.shape.join(',') !== g.shape.join(',')) throw new Error(`${name}: output [${y.shape.join(',')}] and gradient [${g.shape.join(',')}] differ`);
  const { D, rows } = rowsOf(y, name);
  const device = y.device;
  const statKey = `${name}.row:${rows}x${D}`;
  const rowStat = device.run(statKey, device.kernel(statKey, { source: rowSource, output: [rows], constants: { D }, loopMaxIterations: D }), [...y.shape.slice(0, -1), 1], [g, y]);
  const key = `${name}:${rows}x${D}`;
  const dx = device.run(key, device.kernel(key, { source, output: [D, rows], constants: { D } }), y.shape, [y, g, rowStat]);
  rowStat.dispose();
  return dx;
}

function rowsOf(x: GpuArray, op: string): { D: number; rows: number } {
  const D = x.shape[x.shape.length - 1];
  if (D === undefined) throw new Error(`${op}: needs at least one dim, got a scalar`);
  return { D, rows: x.size / D };
}
