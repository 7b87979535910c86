// Elementwise kernels: unary ops, ops with a scalar, and binary ops with
// NumPy broadcasting.
//
// gpu.js kernels are functions of the output position (this.thread.x/y/z).
// Inputs are read as flat arrays (`a[i]`), whatever shape the kernel that
// produced them had. Broadcasting is done with strides: a broadcast dim gets
// stride 0, so every output position reads the same input element along it.
// Adjacent dims that broadcast the same way are merged first, so the shapes
// of a ViT ([B,N,D] + [D], [B,H,N,N] * [B,H,N,1], ...) need at most the
// three thread dims gpu.js offers; rarer patterns unravel thread.z into the
// remaining leading dims.
import { type GpuArray, sizeOf } from './device.js';

/** Unary ops: `v` is the input element, `c` the optional scalar. */
const unaryExpressions = {
  neg: '-v',
  abs: 'Math.abs(v)',
  exp: 'Math.exp(v)',
  log: 'Math.log(v)',
  sqrt: 'Math.sqrt(v)',
  rsqrt: '1 / Math.sqrt(v)',
  square: 'v * v',
  reciprocal: '1 / v',
  relu: 'Math.max(v, 0)',
  sigmoid: '1 / (1 + Math.exp(-v))',
  // tanh through exp of a non-positive number: no overflow to Infinity/Infinity for large |v|
  tanh: '(v >= 0 ? 1 : -1) * (1 - Math.exp(-2 * Math.abs(v))) / (1 + Math.exp(-2 * Math.abs(v)))',
  addScalar: 'v + c',
  mulScalar: 'v * c',
  // v^c for v >= 0 (GLSL pow is undefined for a negative base)
  powScalar: 'Math.pow(v, c)',
} as const;
export type UnaryOp = keyof typeof unaryExpressions;

/** Binary ops: `u` from the first input, `v` from the second. */
const binaryExpressions = {
  add: 'u + v',
  sub: 'u - v',
  mul: 'u * v',
  div: 'u / v',
  maximum: 'Math.max(u, v)',
  minimum: 'Math.min(u, v)',
} as const;
export type BinaryOp = keyof typeof binaryExpressions;

/** Applies `op` to every element; `scalar` is the `c` of addScalar/mulScalar/powScalar. */
export function unary(op: UnaryOp, x: GpuArray, scalar = 0): GpuArray {
  const expression = unaryExpressions[op];
  if (expression === undefined) throw new Error(`unary: unknown op "${String(op)}"`);
  const key = `unary:${op}:${x.size}`;
  // the scalar is a kernel argument, not a constant: one compiled kernel serves every value
  const source = `function (x, c) { const v = x[this.thread.x]; return ${expression}; }`;
  const kernel = x.device.kernel(key, { source, output: [x.size] });
  return x.device.run(key, kernel, x.shape, [x, scalar]);
}

/** `op(a, b)` with NumPy broadcasting: shapes are aligned at the right, a dim of 1 stretches. */
export function binary(op: BinaryOp, a: GpuArray, b: GpuArray): GpuArray {
  const expression = binaryExpressions[op];
  if (expression === undefined) throw new Error(`binary: unknown op "${String(op)}"`);
  const outShape = broadcastShapes(a.shape, b.shape, op);
  const { dims, aStrides, bStrides } = collapseBroadcast(outShape, a.shape, b.shape);
  // at least three dims [..., d(n-2), d(n-1)]; gpu.js's output is [x, y, z] = [d(n-1), d(n-2), all leading dims]
  while (dims.length < 3) {
    dims.unshift(1);
    aStrides.unshift(0);
    bStrides.unshift(0);
  }
  const n = dims.length;
  const leading = dims.slice(0, n - 2);
  const zSize = leading.reduce((p, d) => p * d, 1);
  if (zSize >= 1 << 22) throw new Error(`${op}: [${a.shape.join(',')}] with [${b.shape.join(',')}]: ${zSize} leading positions exceed the 2^22 the index arithmetic is exact for`);
  const constants: Record<string, number> = {};
  const indexLines: string[] = [];
  const aTerms: string[] = [];
  const bTerms: string[] = [];
  for (let d = 0; d < n; d++) {
    constants[`a${d}`] = aStrides[d]!;
    constants[`b${d}`] = bStrides[d]!;
    aTerms.push(`i${d} * this.constants.a${d}`);
    bTerms.push(`i${d} * this.constants.b${d}`);
  }
  if (leading.length === 1) {
    indexLines.push('const i0 = this.thread.z;');
  } else {
    // unravel z into the leading dims: i_d = floor(z / inner_d) mod dims[d], with inner_d the
    // product of the leading dims after d. The +0.5 keeps float division exact below 2^22.
    for (let d = 0; d < leading.length; d++) {
      const inner = leading.slice(d + 1).reduce((p, v) => p * v, 1);
      constants[`inner${d}`] = inner;
      constants[`outer${d}`] = inner * leading[d]!;
      constants[`dim${d}`] = leading[d]!;
      indexLines.push(`const i${d} = Math.floor((this.thread.z + 0.5) / this.constants.inner${d}) - Math.floor((this.thread.z + 0.5) / this.constants.outer${d}) * this.constants.dim${d};`);
    }
  }
  indexLines.push(`const i${n - 2} = this.thread.y;`, `const i${n - 1} = this.thread.x;`);
  const source = `function (a, b) {
    ${indexLines.join('\n    ')}
    const u = a[${aTerms.join(' + ')}];
    const v = b[${bTerms.join(' + ')}];
    return ${expression};
  }`;
  const key = `binary:${op}:${dims.join('x')}:a${aStrides.join(',')}:b${bStrides.join(',')}`;
  const kernel = a.device.kernel(key, { source, output: [dims[n - 1]!, dims[n - 2]!, zSize], constants });
  return a.device.run(key, kernel, outShape, [a, b]);
}

/** The broadcast result shape of `a` and `b`, or an error naming both. */
export function broadcastShapes(a: readonly number[], b: readonly number[], op = 'broadcast'): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out.push(Math.max(da, db));
  }
  return out;
}

/**
 * Strides of `a` and `b` over the output shape (0 where an input is
 * broadcast), with adjacent dims merged wherever both inputs step through
 * them contiguously (or both stay put), so the kernel needs as few dims as
 * possible. Dims of size 1 in the output are dropped.
 */
export function collapseBroadcast(outShape: readonly number[], aShape: readonly number[], bShape: readonly number[]): { dims: number[]; aStrides: number[]; bStrides: number[] } {
  const aStrides = broadcastStrides(aShape, outShape);
  const bStrides = broadcastStrides(bShape, outShape);
  const dims: number[] = [];
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const dim = outShape[i]!;
    if (dim === 1) continue;
    const last = dims.length - 1;
    // merge dim i into the previous one when, for both inputs, stepping the previous dim equals stepping i by its full length
    if (last >= 0 && as[last] === aStrides[i]! * dim && bs[last] === bStrides[i]! * dim) {
      dims[last] = dims[last]! * dim;
      as[last] = aStrides[i]!;
      bs[last] = bStrides[i]!;
    } else {
      dims.push(dim);
      as.push(aStrides[i]!);
      bs.push(bStrides[i]!);
    }
  }
  if (dims.length === 0) return { dims: [1], aStrides: [0], bStrides: [0] };
  return { dims, aStrides: as, bStrides: bs };
}

// Row-major strides of `shape` laid over `outShape` (right-aligned), 0 where `shape` broadcasts.
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const outIndex = outShape.length - shape.length + i;
    strides[outIndex] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  sizeOf(shape);
  return strides;
}
