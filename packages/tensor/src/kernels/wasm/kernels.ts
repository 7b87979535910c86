// The CPU backend's methods on the WebAssembly SIMD kernels: the same signatures as the TypeScript
// reference in cpu/*.ts, which each of them falls back to for what it does not cover (tiny
// tensors, where the call costs more than the work; pow; unusual broadcasts and reductions).
// Each one: copy the inputs into the kernel memory, run one exported function, copy the result
// out (runtime.ts).
import { Tensor } from '../../tensor.js';
import { broadcastShapes, broadcastStrides, sameShape, sizeOf, stridesOf } from '../../shape.js';
import type { BinaryOp, LayerNormResult, ReduceOp, UnaryOp } from '../backend.js';
import { cpuReference as ref } from '../cpu/reference.js';
import { collapseDims } from '../cpu/loops.js';
import { kernelRuntime, type KernelRuntime } from './runtime.js';
import { BINARY } from './elementwise.js';

/** Below this many values a kernel call (two copies, the call itself) costs more than the loop. */
export const MIN_SIZE = 64;

function rt(): KernelRuntime {
  return kernelRuntime()!; // the backend only routes here when the runtime exists
}

export function unary(op: UnaryOp, x: Tensor): Tensor {
  const n = x.size;
  if (n < MIN_SIZE) return ref.unary(op, x);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.alloc(n);
  k.fn(`unary_${op}`)(src, dst, n);
  return new Tensor(k.take(dst, n), x.shape);
}

export function binary(op: BinaryOp, x: Tensor, y: Tensor): Tensor {
  const shape = sameShape(x.shape, y.shape) ? x.shape : broadcastShapes(op, x.shape, y.shape);
  const n = sizeOf(shape);
  if (n < MIN_SIZE || BINARY[op] === undefined) return ref.binary(op, x, y);
  // merge the dims every operand walks contiguously: what is left is at most rows x cols for
  // every common broadcast (same shape, a bias row, a scalar, a column)
  const c = collapseDims(shape, [broadcastStrides(x.shape, shape), broadcastStrides(y.shape, shape)]);
  const nd = c.shape.length;
  if (nd > 2) return ref.binary(op, x, y);
  const [xs, ys] = c.strides as [number[], number[]];
  const cols = c.shape[nd - 1]!;
  const rows = nd === 2 ? c.shape[0]! : 1;
  const k = rt();
  k.reset();
  const a = k.put(x.data), b = k.put(y.data), dst = k.alloc(n);
  const aRow = nd === 2 ? xs[0]! * 4 : 0, bRow = nd === 2 ? ys[0]! * 4 : 0;
  k.fn(`binary_${op}`)(a, b, dst, rows, cols, aRow, bRow, xs[nd - 1]!, ys[nd - 1]!);
  return new Tensor(k.take(dst, n), shape);
}

export function clamp(x: Tensor, min: number, max: number): Tensor {
  const n = x.size;
  if (n < MIN_SIZE) return ref.clamp(x, min, max);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.alloc(n);
  // min and max become f32: for f32 values v, v < fround(min) exactly when v < min, and the
  // clamped value is stored as fround(min) either way, so the result matches the reference
  k.fn('clamp')(src, dst, n, min, max);
  return new Tensor(k.take(dst, n), x.shape);
}

export function geluBackward(x: Tensor, grad: Tensor): Tensor {
  const n = x.size;
  if (n < MIN_SIZE) return ref.geluBackward(x, grad);
  const k = rt();
  k.reset();
  const a = k.put(x.data), g = k.put(grad.data), dst = k.alloc(n);
  k.fn('geluBackward')(a, g, dst, n);
  return new Tensor(k.take(dst, n), x.shape);
}

/**
 * Reductions of the shapes left once kept and reduced dims are merged: [rows, cols] reducing
 * cols (per row), [rows, cols] reducing rows (per column), [outer, rows, cols] reducing rows.
 */
export function reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  const shape = x.shape;
  if (x.size < MIN_SIZE || dims.length === 0) return ref.reduce(op, x, dims, keepdim);
  const kept = shape.map((d, i) => (dims.includes(i) ? 1 : d));
  const outStrides = stridesOf(kept).map((s, i) => (dims.includes(i) ? 0 : s));
  const c = collapseDims(shape, [stridesOf(shape), outStrides]);
  const reduced = c.strides[1]!.map((s) => s === 0);
  const nd = c.shape.length;
  const outShape = keepdim ? kept : shape.filter((_, i) => !dims.includes(i));
  const outSize = sizeOf(kept);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.alloc(outSize);
  if (nd === 1 && reduced[0]) {
    k.fn(`${op}Rows`)(src, dst, 1, c.shape[0]!);
  } else if (nd === 2 && !reduced[0] && reduced[1]) {
    k.fn(`${op}Rows`)(src, dst, c.shape[0]!, c.shape[1]!);
  } else if ((nd === 2 && reduced[0] && !reduced[1]) || (nd === 3 && !reduced[0] && reduced[1] && !reduced[2])) {
    const [outer, rows, cols] = nd === 2 ? [1, c.shape[0]!, c.shape[1]!] : (c.shape as [number, number, number]);
    const acc = op === 'sum' ? k.alloc(2 * cols) : 0; // f64 sums
    for (let o = 0; o < outer; o++) {
      const from = src + o * rows * cols * 4, to = dst + o * cols * 4;
      if (op === 'sum') k.fn('sumCols')(from, to, acc, rows, cols);
      else k.fn(`${op}Cols`)(from, to, rows, cols);
    }
  } else {
    return ref.reduce(op, x, dims, keepdim);
  }
  return new Tensor(k.take(dst, outSize), outShape);
}

function rowsOf(x: Tensor): [rows: number, cols: number] {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return [cols === 0 ? 0 : x.size / cols, cols];
}

/** A row kernel f(src, dst, rows, cols) on x, or the reference for a tiny x. */
function rowwise(name: string, x: Tensor, reference: (x: Tensor) => Tensor): Tensor {
  if (x.size < MIN_SIZE) return reference(x);
  const [rows, cols] = rowsOf(x);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.alloc(x.size);
  k.fn(name)(src, dst, rows, cols);
  return new Tensor(k.take(dst, x.size), x.shape);
}

/** A row backward f(y, g, dst, rows, cols), or the reference for a tiny y. */
function rowwiseBackward(name: string, y: Tensor, grad: Tensor, reference: (y: Tensor, g: Tensor) => Tensor): Tensor {
  if (y.size < MIN_SIZE) return reference(y, grad);
  const [rows, cols] = rowsOf(y);
  const k = rt();
  k.reset();
  const yy = k.put(y.data), g = k.put(grad.data), dst = k.alloc(y.size);
  k.fn(name)(yy, g, dst, rows, cols);
  return new Tensor(k.take(dst, y.size), y.shape);
}

export const softmax = (x: Tensor): Tensor => rowwise('softmax', x, ref.softmax);
export const logSoftmax = (x: Tensor): Tensor => rowwise('logSoftmax', x, ref.logSoftmax);
export const softmaxBackward = (y: Tensor, g: Tensor): Tensor => rowwiseBackward('softmaxBackward', y, g, ref.softmaxBackward);
export const logSoftmaxBackward = (y: Tensor, g: Tensor): Tensor => rowwiseBackward('logSoftmaxBackward', y, g, ref.logSoftmaxBackward);

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): LayerNormResult {
  if (x.size < MIN_SIZE) return ref.layerNorm(x, weight, bias, eps);
  const [rows, cols] = rowsOf(x);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.alloc(x.size);
  const w = weight ? k.put(weight.data) : k.filled(cols, 1);
  const b = bias ? k.put(bias.data) : k.filled(cols, 0);
  const means = k.alloc(rows), rstds = k.alloc(rows);
  k.fn('layerNorm')(src, dst, w, b, means, rstds, rows, cols, eps);
  const statShape = [...x.shape.slice(0, -1), 1];
  return {
    y: new Tensor(k.take(dst, x.size), x.shape),
    mean: new Tensor(k.take(means, rows), statShape),
    rstd: new Tensor(k.take(rstds, rows), statShape),
  };
}

export function layerNormBackward(
  x: Tensor, weight: Tensor | null, mean: Tensor, rstd: Tensor, grad: Tensor,
): { dx: Tensor; dweight: Tensor | null; dbias: Tensor } {
  if (x.size < MIN_SIZE) return ref.layerNormBackward(x, weight, mean, rstd, grad);
  const [rows, cols] = rowsOf(x);
  const k = rt();
  k.reset();
  const xs = k.put(x.data), g = k.put(grad.data);
  const w = weight ? k.put(weight.data) : k.filled(cols, 1);
  const means = k.put(mean.data), rstds = k.put(rstd.data);
  const dx = k.alloc(x.size), dw = k.alloc(cols), db = k.alloc(cols), acc = k.alloc(4 * cols);
  k.fn('layerNormBackward')(xs, g, w, means, rstds, dx, dw, db, acc, rows, cols);
  return {
    dx: new Tensor(k.take(dx, x.size), x.shape),
    dweight: weight ? new Tensor(k.take(dw, cols), weight.shape) : null,
    dbias: new Tensor(k.take(db, cols), [cols]),
  };
}

export function absmaxQuantize(x: Tensor, groupSize: number, qmax: number, eps: number): { q: Tensor; scale: Tensor } {
  if (x.size < MIN_SIZE || groupSize === 0) return ref.absmaxQuantize(x, groupSize, qmax, eps);
  const groups = x.size / groupSize;
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.alloc(x.size), scales = k.alloc(groups);
  k.fn('absmaxQuantize')(src, dst, scales, groups, groupSize, qmax, eps);
  return { q: new Tensor(k.take(dst, x.size), x.shape), scale: new Tensor(k.take(scales, groups), [groups]) };
}

export function ternaryQuantize(x: Tensor, scale: Tensor, groupSize: number): Tensor {
  if (x.size < MIN_SIZE || groupSize === 0) return ref.ternaryQuantize(x, scale, groupSize);
  const groups = x.size / groupSize;
  const k = rt();
  k.reset();
  const src = k.put(x.data), scales = k.put(scale.data), dst = k.alloc(x.size);
  k.fn('ternaryQuantize')(src, dst, scales, groups, groupSize);
  return new Tensor(k.take(dst, x.size), x.shape);
}
