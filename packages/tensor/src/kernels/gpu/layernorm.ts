// LayerNorm over the last dim, forward and backward, on the device.
//
// Forward, per row of D values (two passes for the variance: stable where
// E[x^2] - E[x]^2 cancels):
//   mean = sum(x) / D,  rstd = 1 / sqrt(sum((x - mean)^2) / D + eps)
//   xhat = (x - mean) * rstd,  y = xhat * weight + bias
// Backward, with g = dL/dy and gw = g * weight:
//   dx      = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))
//   dweight = sum over rows of g * xhat,  dbias = sum over rows of g
import { type GpuArray } from './device.js';
import { sumLeadingDims } from './reduce.js';

interface RowConstants {
  D: number;
  /** only the rstd kernel reads it */
  eps: number;
}
interface ColumnConstants {
  rows: number;
  D: number;
}
type RowThis = { thread: { x: number }; constants: RowConstants };
type ElementThis = { thread: { x: number; y: number }; constants: RowConstants };

function rowMeanKernel(this: RowThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += x[base + i]!;
  }
  return sum / this.constants.D;
}

function rowRstdKernel(this: RowThis, x: Float32Array, mean: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  const m = mean[this.thread.x]!;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    const centered = x[base + i]! - m;
    sum += centered * centered;
  }
  return 1 / Math.sqrt(sum / this.constants.D + this.constants.eps);
}

function normalizeKernel(this: ElementThis, x: Float32Array, mean: Float32Array, rstd: Float32Array, weight: Float32Array, bias: Float32Array): number {
  const row = this.thread.y;
  const col = this.thread.x;
  const xhat = (x[row * this.constants.D + col]! - mean[row]!) * rstd[row]!;
  return xhat * weight[col]! + bias[col]!;
}

// mean(gw) and mean(gw * xhat) for one row: the two projections dx removes.
function rowMeanGwKernel(this: RowThis, g: Float32Array, weight: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += g[base + i]! * weight[i]!;
  }
  return sum / this.constants.D;
}

function rowMeanGwXhatKernel(this: RowThis, g: Float32Array, weight: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  const m = mean[this.thread.x]!;
  const r = rstd[this.thread.x]!;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += g[base + i]! * weight[i]! * (x[base + i]! - m) * r;
  }
  return sum / this.constants.D;
}

function inputGradKernel(this: ElementThis, g: Float32Array, weight: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, meanGw: Float32Array, meanGwXhat: Float32Array): number {
  const row = this.thread.y;
  const col = this.thread.x;
  const index = row * this.constants.D + col;
  const r = rstd[row]!;
  const xhat = (x[index]! - mean[row]!) * r;
  return r * (g[index]! * weight[col]! - meanGw[row]! - xhat * meanGwXhat[row]!);
}

function weightGradKernel(this: { thread: { x: number }; constants: ColumnConstants }, g: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array): number {
  const col = this.thread.x;
  let sum = 0;
  for (let row = 0; row < this.constants.rows; row++) {
    const index = row * this.constants.D + col;
    sum += g[index]! * (x[index]! - mean[row]!) * rstd[row]!;
  }
  return sum;
}

export interface LayerNormForward {
  /** the normalized, scaled and shifted output, shape of x */
  y: GpuArray;
  /** per-row mean, [..., 1]: keep for backward */
  mean: GpuArray;
  /** per-row 1 / sqrt(var + eps), [..., 1]: keep for backward */
  rstd: GpuArray;
}

/** LayerNorm over the last dim of x ([..., D]) with weight and bias of shape [D] (null: 1 and 0). */
export function layerNorm(x: GpuArray, weight: GpuArray | null, bias: GpuArray | null, eps: number): LayerNormForward {
  const device = x.device;
  const D = x.shape[x.shape.length - 1] ?? 1;
  // a missing weight or bias is a row of ones or zeros: D floats, not worth a second set of kernels
  const w = weight ?? device.upload(new Float32Array(D).fill(1), [D]);
  const b = bias ?? device.upload(new Float32Array(D), [D]);
  const { rows } = rowsOf(x, w, b, 'layerNorm');
  const statsShape = [...x.shape.slice(0, -1), 1];
  const rowSpec = { output: [rows], loopMaxIterations: D };
  const meanKey = `layerNorm.mean:${rows}x${D}`;
  const mean = device.run(meanKey, device.kernel(meanKey, { source: rowMeanKernel, ...rowSpec, constants: { D } }), statsShape, [x]);
  // eps is baked into the kernel: one compile per (shape, eps), and models use one eps
  const rstdKey = `layerNorm.rstd:${rows}x${D}:${eps}`;
  const rstd = device.run(rstdKey, device.kernel(rstdKey, { source: rowRstdKernel, ...rowSpec, constants: { D, eps } }), statsShape, [x, mean]);
  const yKey = `layerNorm.y:${rows}x${D}`;
  const y = device.run(yKey, device.kernel(yKey, { source: normalizeKernel, output: [D, rows], constants: { D } }), x.shape, [x, mean, rstd, w, b]);
  if (w !== weight) w.dispose();
  if (b !== bias) b.dispose();
  return { y, mean, rstd };
}

export interface LayerNormBackward {
  dx: GpuArray;
  /** null when the forward had no weight */
  dweight: GpuArray | null;
  dbias: GpuArray;
}

/** Gradients of layerNorm given dL/dy (`g`), the input, the weight (or null) and the mean/rstd its forward saved. */
export function layerNormBackward(g: GpuArray, x: GpuArray, weight: GpuArray | null, mean: GpuArray, rstd: GpuArray): LayerNormBackward {
  const D = x.shape[x.shape.length - 1] ?? 1;
  const w = weight ?? x.device.upload(new Float32Array(D).fill(1), [D]);
  const { rows } = rowsOf(x, w, w, 'layerNormBackward');
  if (g.shape.join(',') !== x.shape.join(',')) {
    throw new Error(`layerNormBackward: gradient [${g.shape.join(',')}] and input [${x.shape.join(',')}] differ`);
  }
  const device = x.device;
  const statsShape = [...x.shape.slice(0, -1), 1];
  const rowSpec = { output: [rows], constants: { D }, loopMaxIterations: D };
  const gwKey = `layerNorm.meanGw:${rows}x${D}`;
  const meanGw = device.run(gwKey, device.kernel(gwKey, { source: rowMeanGwKernel, ...rowSpec }), statsShape, [g, w]);
  const gwxKey = `layerNorm.meanGwXhat:${rows}x${D}`;
  const meanGwXhat = device.run(gwxKey, device.kernel(gwxKey, { source: rowMeanGwXhatKernel, ...rowSpec }), statsShape, [g, w, x, mean, rstd]);
  const dxKey = `layerNorm.dx:${rows}x${D}`;
  const dx = device.run(dxKey, device.kernel(dxKey, { source: inputGradKernel, output: [D, rows], constants: { D } }), x.shape, [g, w, x, mean, rstd, meanGw, meanGwXhat]);
  const dwKey = `layerNorm.dweight:${rows}x${D}`;
  const dweight = weight === null ? null : device.run(dwKey, device.kernel(dwKey, { source: weightGradKernel, output: [D], constants: { rows, D }, loopMaxIterations: rows }), [D], [g, x, mean, rstd]);
  const dbias = sumLeadingDims(g);
  meanGw.dispose();
  meanGwXhat.dispose();
  if (w !== weight) w.dispose();
  return { dx, dweight, dbias };
}

function rowsOf(x: GpuArray, weight: GpuArray, bias: GpuArray, op: string): { D: number; rows: number } {
  const D = x.shape[x.shape.length - 1];
  if (D === undefined) throw new Error(`${op}: input needs at least one dim`);
  if (weight.size !== D || bias.size !== D) {
    throw new Error(`${op}: input [${x.shape.join(',')}] needs weight and bias of [${D}], got [${weight.shape.join(',')}] and [${bias.shape.join(',')}]`);
  }
  return { D, rows: x.size / D };
}
