// CPU elementwise kernels: one tight loop per op (a shared loop calling a per-op function would
// be megamorphic and several times slower in V8).
import { Tensor } from '../../tensor.js';
import { broadcastShapes, broadcastStrides, sameShape, sizeOf } from '../../shape.js';
import type { BinaryOp, UnaryOp } from '../backend.js';
import { forEachRow } from './loops.js';
import { erf, gelu, geluGrad, roundHalfEven } from './math.js';

export function unary(op: UnaryOp, x: Tensor): Tensor {
  const a = x.data;
  const n = a.length;
  const o = new Float32Array(n);
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) o[i] = -a[i]!; break;
    case 'exp': for (let i = 0; i < n; i++) o[i] = Math.exp(a[i]!); break;
    case 'log': for (let i = 0; i < n; i++) o[i] = Math.log(a[i]!); break;
    case 'sqrt': for (let i = 0; i < n; i++) o[i] = Math.sqrt(a[i]!); break;
    case 'rsqrt': for (let i = 0; i < n; i++) o[i] = 1 / Math.sqrt(a[i]!); break;
    case 'abs': for (let i = 0; i < n; i++) o[i] = Math.abs(a[i]!); break;
    case 'sign': for (let i = 0; i < n; i++) o[i] = Math.sign(a[i]!); break;
    case 'tanh': for (let i = 0; i < n; i++) o[i] = Math.tanh(a[i]!); break;
    case 'sigmoid': for (let i = 0; i < n; i++) o[i] = 1 / (1 + Math.exp(-a[i]!)); break;
    case 'relu': for (let i = 0; i < n; i++) o[i] = a[i]! > 0 ? a[i]! : 0; break;
    case 'gelu': for (let i = 0; i < n; i++) o[i] = gelu(a[i]!); break;
    case 'erf': for (let i = 0; i < n; i++) o[i] = erf(a[i]!); break;
    case 'round': for (let i = 0; i < n; i++) o[i] = roundHalfEven(a[i]!); break;
    case 'square': for (let i = 0; i < n; i++) o[i] = a[i]! * a[i]!; break;
    case 'reciprocal': for (let i = 0; i < n; i++) o[i] = 1 / a[i]!; break;
    default: throw new Error(`cpu: unknown unary op ${op as string}`);
  }
  return new Tensor(o, x.shape);
}

/** One broadcast row: out[oo+i] = a[ao+i*sa] (op) b[bo+i*sb]. */
function binaryRow(
  op: BinaryOp, a: Float32Array, ao: number, sa: number, b: Float32Array, bo: number, sb: number,
  o: Float32Array, oo: number, n: number,
): void {
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! + b[bo + i * sb]!; break;
    case 'sub': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! - b[bo + i * sb]!; break;
    case 'mul': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! * b[bo + i * sb]!; break;
    case 'div': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! / b[bo + i * sb]!; break;
    case 'pow': for (let i = 0; i < n; i++) o[oo + i] = Math.pow(a[ao + i * sa]!, b[bo + i * sb]!); break;
    case 'maximum': for (let i = 0; i < n; i++) o[oo + i] = Math.max(a[ao + i * sa]!, b[bo + i * sb]!); break;
    case 'minimum': for (let i = 0; i < n; i++) o[oo + i] = Math.min(a[ao + i * sa]!, b[bo + i * sb]!); break;
    case 'gt': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! > b[bo + i * sb]! ? 1 : 0; break;
    case 'ge': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! >= b[bo + i * sb]! ? 1 : 0; break;
    case 'lt': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! < b[bo + i * sb]! ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! <= b[bo + i * sb]! ? 1 : 0; break;
    case 'eq': for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * sa]! === b[bo + i * sb]! ? 1 : 0; break;
    default: throw new Error(`cpu: unknown binary op ${op as string}`);
  }
}

export function binary(op: BinaryOp, x: Tensor, y: Tensor): Tensor {
  const shape = sameShape(x.shape, y.shape) ? x.shape : broadcastShapes(op, x.shape, y.shape);
  const a = x.data;
  const b = y.data;
  const o = new Float32Array(sizeOf(shape));
  if (a.length === o.length && b.length === o.length) {
    binaryRow(op, a, 0, 1, b, 0, 1, o, 0, o.length); // the common same-shape case: one row
  } else {
    const strides = [broadcastStrides(x.shape, shape), broadcastStrides(y.shape, shape), broadcastStrides(shape, shape)];
    forEachRow(shape, strides, (off, n, s) => binaryRow(op, a, off[0]!, s[0]!, b, off[1]!, s[1]!, o, off[2]!, n));
  }
  return new Tensor(o, shape);
}

export function clamp(x: Tensor, min: number, max: number): Tensor {
  const a = x.data;
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    o[i] = v < min ? min : v > max ? max : v;
  }
  return new Tensor(o, x.shape);
}

export function where(cond: Tensor, x: Tensor, y: Tensor): Tensor {
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, x.shape), y.shape);
  const c = cond.data;
  const a = x.data;
  const b = y.data;
  const o = new Float32Array(sizeOf(shape));
  const strides = [cond.shape, x.shape, y.shape, shape].map((s) => broadcastStrides(s, shape));
  forEachRow(shape, strides, (off, n, s) => {
    const [co, ao, bo, oo] = off as [number, number, number, number];
    const [cs, as, bs] = s as [number, number, number];
    for (let i = 0; i < n; i++) o[oo + i] = c[co + i * cs]! !== 0 ? a[ao + i * as]! : b[bo + i * bs]!;
  });
  return new Tensor(o, shape);
}

export function geluBackward(x: Tensor, grad: Tensor): Tensor {
  const a = x.data;
  const g = grad.data;
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = g[i]! * geluGrad(a[i]!);
  return new Tensor(o, x.shape);
}
