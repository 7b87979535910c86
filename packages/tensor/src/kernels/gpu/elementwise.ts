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
  // u^v for u >= 0 (GLSL pow is undefined for a negative base)
  pow: 'Math.pow(u, v)',
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

/** min(max(x, low), high), elementwise. */
export function clamp(x: GpuArray, low: number, high: number): GpuArray {
  const key = `clamp:${x.size}`;
  const source = `function (x, low, high) { return Math.min(Math.max(x[this.thread.x], low), high); }`;
  const kernel = x.device.kernel(key, { source, output: [x.size] });
  return x.device.run(key, kernel, x.shape, [x, low, high]);
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
  const { dims, strides } = collapseBroadcast(outShape, shapes);
  // at least three dims [..., d(n-2), d(n-1)]; gpu.js's output is [x, y, z] = [d(n-1), d(n-2), all leading dims]
  while (dims.length < 3) {
    dims.unshift(1);
    for (const s of strides) s.unshift(0);
  }
  const n = dims.length;
  const leading = dims.slice(0, n - 2);
  const zSize = leading.reduce((p, d) => p * d, 1);
  const where = `${op}: ${shapes.map((s) => `[${s.join(',')}]`).join(' with ')}`;
  if (zSize >= 1 << 22) throw new Error(`${where}: ${zSize} leading positions exceed the 2^22 the index arithmetic is exact for`);
  const constants: Record<string, number> = {};
  const lines: string[] = [];
  if (leading.length === 1) {
    lines.push('const i0 = this.thread.z;');
  } else {
    // unravel z into the leading dims: i_d = floor(z / inner_d) mod dims[d], with inner_d the
    // product of the leading dims after d. The +0.5 keeps float division exact below 2^22.
    for (let d = 0; d < leading.length; d++) {
      const inner = leading.slice(d + 1).reduce((p, v) => p * v, 1);
      constants[`inner${d}`] = inner;
      constants[`outer${d}`] = inner * leading[d]!;
      constants[`dim${d}`] = leading[d]!;
      lines.push(`const i${d} = Math.floor((this.thread.z + 0.5) / this.constants.inner${d}) - Math.floor((this.thread.z + 0.5) / this.constants.outer${d}) * this.constants.dim${d};`);
    }
  }
  lines.push(`const i${n - 2} = this.thread.y;`, `const i${n - 1} = this.thread.x;`);
  inputs.forEach((_, k) => {
    const terms: string[] = [];
    for (let d = 0; d < n; d++) {
      constants[`s${k}_${d}`] = strides[k]![d]!;
      terms.push(`i${d} * this.constants.s${k}_${d}`);
    }
    lines.push(`const ${names[k]} = in${k}[${terms.join(' + ')}];`);
  });
  const source = `function (${inputs.map((_, k) => `in${k}`).join(', ')}) {
    ${lines.join('\n    ')}
    return ${expression};
  }`;
  const key = `${op}:${dims.join('x')}:${strides.map((s) => s.join(',')).join(':')}`;
  const kernel = inputs[0]!.device.kernel(key, { source, output: [dims[n - 1]!, dims[n - 2]!, zSize], constants });
  return inputs[0]!.device.run(key, kernel, outShape, inputs);
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
 * contiguously (or stays put), so the kernel needs as few dims as possible.
 * Dims of size 1 in the output are dropped.
 */
export function collapseBroadcast(outShape: readonly number[], shapes: readonly (readonly number[])[]): { dims: number[]; strides: number[][] } {
  const full = shapes.map((shape) => broadcastStrides(shape, outShape));
  const dims: number[] = [];
  const strides: number[][] = shapes.map(() => []);
  for (let i = 0; i < outShape.length; i++) {
    const dim = outShape[i]!;
    if (dim === 1) continue;
    const last = dims.length - 1;
    // merge dim i into the previous one when, for every input, stepping the previous dim equals stepping i by its full length
    if (last >= 0 && full.every((s, k) => strides[k]![last] === s[i]! * dim)) {
      dims[last] = dims[last]! * dim;
      full.forEach((s, k) => (strides[k]![last] = s[i]!));
    } else {
      dims.push(dim);
      full.forEach((s, k) => strides[k]!.push(s[i]!));
    }
  }
  if (dims.length === 0) return { dims: [1], strides: shapes.map(() => [0]) };
  return { dims, strides };
}

// Row-major strides of `shape` laid over `outShape` (right-aligned), 0 where `shape` broadcasts.
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  sizeOf(shape);
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[outShape.length - shape.length + i] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return strides;
}
