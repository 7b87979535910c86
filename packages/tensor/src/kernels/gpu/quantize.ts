// The BitLinear quantizers on the device (BITNET.md section 1).
//
// Weights, per tensor (absmean):
//   gamma = max(mean(|W|), 1e-5),  Wt = clip(roundHalfEven(W / gamma), -1, 1),  Wq = Wt * gamma
// Activations, per token over the last dim (absmax to 8 bits):
//   s = 127 / max(max(|x|), 1e-5),  xq = clip(roundHalfEven(x * s), -128, 127) / s
import { type GpuArray } from './device.js';

// round half to even, as torch.round does: Math.round(-2.5) is -2 and Math.round(2.5) is 3,
// torch.round gives -2 and 2. Defined here, beside its kernels: gpu.js translates it from source.
export function roundHalfEven(v: number): number {
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

// per group of D consecutive values: s = qmax / max(max|x|, eps)
function absmaxScaleKernel(this: { thread: { x: number }; constants: { D: number; qmax: number; eps: number } }, x: Float32Array): number {
  const base = this.thread.x * this.constants.D;
  let absmax = 0;
  for (let i = 0; i < this.constants.D; i++) {
    absmax = Math.max(absmax, Math.abs(x[base + i]!));
  }
  return this.constants.qmax / Math.max(absmax, this.constants.eps);
}

function absmaxFakeQuantKernel(this: { thread: { x: number; y: number }; constants: { D: number; qmax: number } }, x: Float32Array, scale: Float32Array): number {
  const s = scale[this.thread.y]!;
  const code = Math.min(Math.max(roundHalfEven(x[this.thread.y * this.constants.D + this.thread.x]! * s), -this.constants.qmax - 1), this.constants.qmax);
  return code / s;
}

// per group of D consecutive values with its own scale: clip(roundHalfEven(x / s), -1, 1) * s
function ternaryGroupKernel(this: { thread: { x: number; y: number }; constants: { D: number } }, x: Float32Array, scale: Float32Array): number {
  const s = scale[this.thread.y]!;
  return Math.min(Math.max(roundHalfEven(x[this.thread.y * this.constants.D + this.thread.x]! / s), -1), 1) * s;
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
  return { wq: ternaryQuantize(w, gamma, w.size), gamma };
}

/**
 * Symmetric absmax fake quantization per group of `groupSize` consecutive values (the last dim:
 * per token; the size: per tensor): s = qmax / max(max|x|, eps),
 * q = clip(roundHalfEven(x * s), -qmax - 1, qmax) / s. Returns q and the scales, [groups].
 */
export function absmaxQuantize(x: GpuArray, groupSize: number, qmax: number, eps: number): { q: GpuArray; scale: GpuArray } {
  const groups = groupsOf(x, groupSize, 'absmaxQuantize');
  const device = x.device;
  // qmax and eps are baked in: one compile per (shape, qmax, eps), and a model uses one or two
  const scaleKey = `absmaxQuantize.scale:${groups}x${groupSize}:${qmax}:${eps}`;
  const scaleKernel = device.kernel(scaleKey, { source: absmaxScaleKernel, output: [groups], constants: { D: groupSize, qmax, eps }, loopMaxIterations: groupSize });
  const scale = device.run(scaleKey, scaleKernel, [groups], [x]);
  const key = `absmaxQuantize:${groups}x${groupSize}:${qmax}`;
  const kernel = device.kernel(key, { source: absmaxFakeQuantKernel, output: [groupSize, groups], constants: { D: groupSize, qmax }, functions: [roundHalfEven] });
  return { q: device.run(key, kernel, x.shape, [x, scale]), scale };
}

/** Ternary fake quantization with a given scale per group of `groupSize` values: clip(roundHalfEven(x / s), -1, 1) * s. */
export function ternaryQuantize(x: GpuArray, scale: GpuArray, groupSize: number): GpuArray {
  const groups = groupsOf(x, groupSize, 'ternaryQuantize');
  if (scale.size !== groups) throw new Error(`ternaryQuantize: [${x.shape.join(',')}] in groups of ${groupSize} needs ${groups} scales, got [${scale.shape.join(',')}]`);
  const key = `ternaryQuantize:${groups}x${groupSize}`;
  const kernel = x.device.kernel(key, { source: ternaryGroupKernel, output: [groupSize, groups], constants: { D: groupSize }, functions: [roundHalfEven] });
  return x.device.run(key, kernel, x.shape, [x, scale]);
}

/** Per-token absmax int8 fake quantization (BITNET.md): absmaxQuantize over the last dim with qmax 127, eps 1e-5. */
export function actQuantInt8(x: GpuArray): { xq: GpuArray; scale: GpuArray } {
  const D = x.shape[x.shape.length - 1] ?? 1;
  const { q, scale } = absmaxQuantize(x, D, 127, 1e-5);
  return { xq: q, scale };
}

function groupsOf(x: GpuArray, groupSize: number, op: string): number {
  if (!Number.isInteger(groupSize) || groupSize < 1 || x.size % groupSize !== 0) {
    throw new Error(`${op}: groups of ${groupSize} do not tile [${x.shape.join(',')}] (${x.size} values)`);
  }
  return x.size / groupSize;
}
