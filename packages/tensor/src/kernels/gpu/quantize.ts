// The BitLinear quantizers on the device (BITNET.md section 1).
//
// Weights, per tensor (absmean):
//   gamma = max(mean(|W|), 1e-5),  Wt = clip(roundHalfEven(W / gamma), -1, 1),  Wq = Wt * gamma
// Activations, per token over the last dim (absmax to 8 bits):
//   s = 127 / max(max(|x|), 1e-5),  xq = clip(roundHalfEven(x * s), -128, 127) / s
import { type GpuArray } from './device.js';

// round half to even, as torch.round does: Math.round(-2.5) is -2 and Math.round(2.5) is 3,
// torch.round gives -2 and 2. Defined here, beside its kernels: gpu.js translates it from source.
function roundHalfEven(v: number): number {
  const below = Math.floor(v);
  const fraction = v - below;
  if (fraction > 0.5) return below + 1;
  if (fraction < 0.5) return below;
  // a tie: the even neighbour
  if (below - 2 * Math.floor(below / 2) === 0) return below;
  return below + 1;
}

interface RowConstants {
  D: number;
}
interface TotalConstants {
  rows: number;
  count: number;
}
type RowThis = { thread: { x: number }; constants: RowConstants };
type ElementThis = { thread: { x: number; y: number }; constants: RowConstants };

function rowAbsSumKernel(this: RowThis, w: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let sum = 0;
  for (let i = 0; i < this.constants.D; i++) {
    sum += Math.abs(w[base + i]!);
  }
  return sum;
}

// gamma from the per-row sums: one thread adds `rows` partial sums
function absmeanKernel(this: { thread: { x: number }; constants: TotalConstants }, rowAbsSums: Float32Array): number {
  let sum = 0;
  for (let row = 0; row < this.constants.rows; row++) {
    sum += rowAbsSums[row]!;
  }
  return Math.max(sum / this.constants.count, 0.00001);
}

function ternaryCodesKernel(this: { thread: { x: number } }, w: Float32Array, gamma: Float32Array): number {
  return Math.min(Math.max(roundHalfEven(w[this.thread.x]! / gamma[0]!), -1), 1);
}

function ternaryFakeQuantKernel(this: { thread: { x: number } }, w: Float32Array, gamma: Float32Array): number {
  const g = gamma[0]!;
  return Math.min(Math.max(roundHalfEven(w[this.thread.x]! / g), -1), 1) * g;
}

function actScaleKernel(this: RowThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let absmax = 0;
  for (let i = 0; i < this.constants.D; i++) {
    absmax = Math.max(absmax, Math.abs(x[base + i]!));
  }
  return 127 / Math.max(absmax, 0.00001);
}

function actFakeQuantKernel(this: ElementThis, x: Float32Array, scale: Float32Array): number {
  const s = scale[this.thread.y]!;
  const code = Math.min(Math.max(roundHalfEven(x[this.thread.y * this.constants.D + this.thread.x]! * s), -128), 127);
  return code / s;
}

/** gamma = max(mean(|W|), 1e-5) over the whole tensor, as a [1] array. */
export function absmeanScale(w: GpuArray): GpuArray {
  const D = w.shape[w.shape.length - 1] ?? 1;
  const rows = w.size / D;
  const device = w.device;
  const rowKey = `absmean.rows:${rows}x${D}`;
  const rowSums = device.run(rowKey, device.kernel(rowKey, { source: rowAbsSumKernel, output: [rows], constants: { D }, loopMaxIterations: D }), [rows], [w]);
  const key = `absmean:${rows}x${D}`;
  const gamma = device.run(key, device.kernel(key, { source: absmeanKernel, output: [1], constants: { rows, count: w.size }, loopMaxIterations: rows }), [1], [rowSums]);
  rowSums.dispose();
  return gamma;
}

/** Ternary codes Wt in {-1, 0, 1} for weights w and their absmean scale gamma ([1]). */
export function ternaryCodes(w: GpuArray, gamma: GpuArray): GpuArray {
  const key = `ternaryCodes:${w.size}`;
  const kernel = w.device.kernel(key, { source: ternaryCodesKernel, output: [w.size], functions: [roundHalfEven] });
  return w.device.run(key, kernel, w.shape, [w, gamma]);
}

/** The absmean-quantized weights Wq = Wt * gamma (what a BitLinear forward multiplies by), and gamma. */
export function absmeanTernary(w: GpuArray): { wq: GpuArray; gamma: GpuArray } {
  const gamma = absmeanScale(w);
  const key = `ternaryFakeQuant:${w.size}`;
  const kernel = w.device.kernel(key, { source: ternaryFakeQuantKernel, output: [w.size], functions: [roundHalfEven] });
  return { wq: w.device.run(key, kernel, w.shape, [w, gamma]), gamma };
}

/** Per-token scale s = 127 / max(max|x|, 1e-5) over the last dim: [..., D] -> [..., 1]. */
export function actScale(x: GpuArray): GpuArray {
  const D = x.shape[x.shape.length - 1] ?? 1;
  const rows = x.size / D;
  const key = `actScale:${rows}x${D}`;
  const kernel = x.device.kernel(key, { source: actScaleKernel, output: [rows], constants: { D }, loopMaxIterations: D });
  return x.device.run(key, kernel, [...x.shape.slice(0, -1), 1], [x]);
}

/** Per-token absmax int8 fake quantization: xq = clip(roundHalfEven(x * s), -128, 127) / s, and s. */
export function actQuantInt8(x: GpuArray): { xq: GpuArray; scale: GpuArray } {
  const D = x.shape[x.shape.length - 1] ?? 1;
  const rows = x.size / D;
  const scale = actScale(x);
  const key = `actQuantInt8:${rows}x${D}`;
  const kernel = x.device.kernel(key, { source: actFakeQuantKernel, output: [D, rows], constants: { D }, functions: [roundHalfEven] });
  return { xq: x.device.run(key, kernel, x.shape, [x, scale]), scale };
}
