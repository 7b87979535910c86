// Elementwise kernels: unary ops, clamp, binary ops and where() with NumPy
// broadcasting.
//
// gpu.js kernels are functions of the output position (this.thread.x/y/z).
// Inputs are read as flat arrays (`a[i]`), whatever shape the kernel that
// produced them had. Broadcasting is done with strides: a broadcast dim gets
// stride 0, so every output position reads the same input element along it.
// Adjacent dims that broadcast the same way are merged first, so the shapes
// of a ViT ([B,N,D] + [D], [B,H,N,N] * [B,H,N,1], ...) need at most the
// three thread dims gpu.js offers; rarer patterns unravel thread.z into the
// remaining leading dims.
//
// The ops are expressions in a table, and each kernel's source text is built
// from one: gpu.js compiles source text, and a table says in one line per op
// what the op computes.
import { type GpuArray, sizeOf } from './device.js';
import { collapseStrides, stridedKernel } from './strided.js';
import { erf } from './gelu.js';
import { roundHalfEven } from './quantize.js';

// The helpers' names as they appear in this build (a bundler may rename them);
// the kernel gets their source through `functions`.
const erfCall = erf.name;
const roundCall = roundHalfEven.name;

/** Unary ops: `v` is the input element, `c` the optional scalar. */
const unaryExpressions = {
  neg: '-v',
  abs: 'Math.abs(v)',
  sign: 'Math.sign(v)',
  exp: 'Math.exp(v)',
  log: 'Math.log(v)',
  sqrt: 'Math.sqrt(v)',
  rsqrt: '1 / Math.sqrt(v)',
  square: 'v * v',
  reciprocal: '1 / v',
  relu: 'Math.max(v, 0)',
  sigmoid: '1 / (1 + Math.exp(-v))',
  // tanh through exp of a non-positive number: no overflow to Infinity/Infinity for large |v|
  tanh: 'Math.sign(v) * (1 - Math.exp(-2 * Math.abs(v))) / (1 + Math.exp(-2 * Math.abs(v)))',
  erf: `${erfCall}(v)`,
  gelu: `0.5 * v * (1 + ${erfCall}(v * 0.7071067811865476))`,
  // half to even, as torch.round
  round: `${roundCall}(v)`,
  addScalar: 'v + c',
  mulScalar: 'v * c',
  // v^c for v >= 0 (GLSL pow is undefined for a negative base)
  powScalar: 'Math.pow(v, c)',
} as const;
export type UnaryOp = keyof typeof unaryExpressions;

/** Binary ops: `u` from the first input, `v` from the second. Comparisons give 1 or 0. */
const binaryExpressions = {
  add: 'u + v',
  sub: 'u - v',
  mul: 'u * v',
  div: 'u / v',
  // GLSL pow(u, v) is exp2(v * log2(u)): undefined for u < 0 and for 0^0. As Math.pow: x^0 = 1, and a
  // negative base takes |u|^v with the sign of an odd integer exponent (a non-integer exponent of a
  // negative base, NaN on the CPU, is left undefined)
  pow: 'v === 0 ? 1.0 : (u < 0 ? (v - 2.0 * Math.floor(v / 2.0) === 1.0 ? -1.0 : 1.0) * Math.pow(-u, v) : Math.pow(u, v))',
  maximum: 'Math.max(u, v)',
  minimum: 'Math.min(u, v)',
  gt: 'u > v ? 1.0 : 0.0',
  ge: 'u >= v ? 1.0 : 0.0',
  lt: 'u < v ? 1.0 : 0.0',
  le: 'u <= v ? 1.0 : 0.0',
  eq: 'u === v ? 1.0 : 0.0',
} as const;
export type BinaryOp = keyof typeof binaryExpressions;

/** Applies `op` to every element; `scalar` is the `c` of addScalar/mulScalar/powScalar. */
export function unary(op: UnaryOp, x: GpuArray, scalar = 0): GpuArray {
  const expression = unaryExpressions[op];
  if (expression === undefined) throw new Error(`unary: unknown op "${String(op)}"`);
  const key = `unary:${op}:${x.size}`;
  // the scalar is a kernel argument, not a constant: one compiled kernel serves every value
  const source = `function (x, c) { const v = x[this.thread.x]; return ${expression}; }`;
  const kernel = x.device.kernel(key, { source, output: [x.size], functions: [erf, roundHalfEven] });
  return x.device.run(key, kernel, x.shape, [x, scalar]);
}

/** min(max(x, low), high), elementwise; an infinite bound is left out of the kernel (it clamps nothing). */
export function clamp(x: GpuArray, low: number, high: number): GpuArray {
  let expression = 'x[this.thread.x]';
  if (low !== -Infinity) expression = `Math.max(${expression}, low)`;
  if (high !== Infinity) expression = `Math.min(${expression}, high)`;
  const key = `clamp:${x.size}:${low === -Infinity ? '' : 'low'}:${high === Infinity ? '' : 'high'}`;
  const source = `function (x, low, high) { return ${expression}; }`;
  const kernel = x.device.kernel(key, { source, output: [x.size] });
  // the bounds are arguments (one compiled kernel for every value); finite stand-ins where unused
  return x.device.run(key, kernel, x.shape, [x, Number.isFinite(low) ? low : 0, Number.isFinite(high) ? high : 0]);
}

/** `op(a, b)` with NumPy broadcasting: shapes are aligned at the right, a dim of 1 stretches. */
export function binary(op: BinaryOp, a: GpuArray, b: GpuArray): GpuArray {
  const expression = binaryExpressions[op];
  if (expression === undefined) throw new Error(`binary: unknown op "${String(op)}"`);
  return broadcastKernel(op, expression, [a, b], ['u', 'v']);
}

/** cond ? a : b elementwise (cond nonzero picks a), all three broadcast together. */
export function where(cond: GpuArray, a: GpuArray, b: GpuArray): GpuArray {
  return broadcastKernel('where', 'c !== 0 ? u : v', [cond, a, b], ['c', 'u', 'v']);
}

// One kernel for `expression` over inputs broadcast to a common shape; input i is read into `names[i]`.
function broadcastKernel(op: string, expression: string, inputs: readonly GpuArray[], names: readonly string[]): GpuArray {
  const shapes = inputs.map((input) => input.shape);
  const outShape = shapes.reduce<number[]>((out, shape) => broadcastShapes(out, shape, op, shapes), []);
  const strided = inputs.map((array) => ({ array, strides: broadcastStrides(array.shape, outShape) }));
  return stridedKernel(op, outShape, strided, (at) => `${names.map((name, k) => `const ${name} = in${k}[${at(k)}];`).join('\n    ')}
    return ${expression};`);
}

/** The broadcast result shape of `a` and `b`, or an error naming the shapes. */
export function broadcastShapes(a: readonly number[], b: readonly number[], op = 'broadcast', all: readonly (readonly number[])[] = [a, b]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${all.map((s) => `[${s.join(',')}]`).join(' and ')} do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out.push(Math.max(da, db));
  }
  return out;
}

/**
 * Strides of each input over the output shape (0 where it is broadcast),
 * with adjacent dims merged wherever every input steps through them
 * contiguously (or stays put). Dims of size 1 in the output are dropped.
 */
export function collapseBroadcast(outShape: readonly number[], shapes: readonly (readonly number[])[]): { dims: number[]; strides: number[][] } {
  return collapseStrides(outShape, shapes.map((shape) => broadcastStrides(shape, outShape)));
}

// Row-major strides of `shape` laid over `outShape` (right-aligned), 0 where `shape` broadcasts.
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  sizeOf(shape);
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[outShape.length - shape.length + i] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return strides;
}
