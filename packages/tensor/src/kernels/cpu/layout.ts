// CPU layout kernels: copies that reorder, repeat, cut, join or pick elements.
import { Tensor } from '../../tensor.js';
import { broadcastStrides, sizeOf, stridesOf } from '../../shape.js';
import { collapseDims } from './loops.js';

/**
 * Copy `src` (strided) into `dst` (strided), shape by shape. Dims contiguous in both are merged
 * first (collapseDims), then the last two dims run as plain nested loops and an odometer walks
 * the rest: a closure call per row (forEachRow) cost more than the copy itself for the short
 * rows of attention heads (16 floats). Rows contiguous on both sides copy without strides.
 */
function stridedCopy(shape: readonly number[], src: Float32Array, srcStrides: number[], dst: Float32Array, dstStrides: number[]): void {
  if (sizeOf(shape) === 0) return;
  const c = collapseDims(shape, [srcStrides, dstStrides]);
  const nd = c.shape.length;
  const [ss, ds] = c.strides as [number[], number[]];
  const n = c.shape[nd - 1]!, sInner = ss[nd - 1]!, dInner = ds[nd - 1]!;
  const m = nd > 1 ? c.shape[nd - 2]! : 1, sRow = nd > 1 ? ss[nd - 2]! : 0, dRow = nd > 1 ? ds[nd - 2]! : 0;
  const outer = sizeOf(c.shape) / (n * m);
  const counter = new Array<number>(Math.max(nd - 2, 0)).fill(0);
  let so = 0, doff = 0;
  for (let o = 0; o < outer; o++) {
    for (let r = 0, sr = so, dr = doff; r < m; r++, sr += sRow, dr += dRow) {
      if (sInner === 1 && dInner === 1) for (let i = 0; i < n; i++) dst[dr + i] = src[sr + i]!;
      else for (let i = 0; i < n; i++) dst[dr + i * dInner] = src[sr + i * sInner]!;
    }
    // odometer over the dims before the last two
    for (let d = nd - 3; d >= 0; d--) {
      counter[d]!++;
      so += ss[d]!;
      doff += ds[d]!;
      if (counter[d]! < c.shape[d]!) break;
      so -= ss[d]! * c.shape[d]!;
      doff -= ds[d]! * c.shape[d]!;
      counter[d] = 0;
    }
  }
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const shape = perm.map((p) => x.shape[p]!);
  const inStrides = stridesOf(x.shape);
  const out = new Float32Array(x.size);
  stridedCopy(shape, x.data, perm.map((p) => inStrides[p]!), out, stridesOf(shape));
  return new Tensor(out, shape);
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const out = new Float32Array(sizeOf(shape));
  stridedCopy(shape, x.data, broadcastStrides(x.shape, shape), out, stridesOf(shape));
  return new Tensor(out, shape);
}

export function slice(x: Tensor, dim: number, start: number, length: number): Tensor {
  const inner = sizeOf(x.shape.slice(dim + 1));
  const outer = sizeOf(x.shape.slice(0, dim));
  const n = x.shape[dim]!;
  const a = x.data;
  const out = new Float32Array(outer * length * inner);
  const block = length * inner;
  for (let p = 0; p < outer; p++) {
    const from = (p * n + start) * inner;
    out.set(a.subarray(from, from + block), p * block);
  }
  return new Tensor(out, x.shape.map((d, i) => (i === dim ? length : d)));
}

export function concat(xs: readonly Tensor[], dim: number): Tensor {
  const first = xs[0]!.shape;
  const total = xs.reduce((s, t) => s + t.shape[dim]!, 0);
  const shape = first.map((d, i) => (i === dim ? total : d));
  const inner = sizeOf(first.slice(dim + 1));
  const outer = sizeOf(first.slice(0, dim));
  const out = new Float32Array(sizeOf(shape));
  let at = 0;
  for (const t of xs) {
    const block = t.shape[dim]! * inner;
    const a = t.data;
    for (let p = 0; p < outer; p++) out.set(a.subarray(p * block, (p + 1) * block), p * total * inner + at);
    at += block;
  }
  return new Tensor(out, shape);
}

export function indexSelect(x: Tensor, dim: number, index: Int32Array): Tensor {
  const inner = sizeOf(x.shape.slice(dim + 1));
  const outer = sizeOf(x.shape.slice(0, dim));
  const n = x.shape[dim]!;
  const a = x.data;
  const m = index.length;
  const out = new Float32Array(outer * m * inner);
  for (let p = 0; p < outer; p++) {
    for (let j = 0; j < m; j++) {
      const from = (p * n + index[j]!) * inner;
      out.set(a.subarray(from, from + inner), (p * m + j) * inner);
    }
  }
  return new Tensor(out, x.shape.map((d, i) => (i === dim ? m : d)));
}

export function indexAdd(shape: readonly number[], dim: number, index: Int32Array, src: Tensor): Tensor {
  const inner = sizeOf(shape.slice(dim + 1));
  const outer = sizeOf(shape.slice(0, dim));
  const n = shape[dim]!;
  const m = index.length;
  const g = src.data;
  const out = new Float32Array(sizeOf(shape));
  for (let p = 0; p < outer; p++) {
    for (let j = 0; j < m; j++) {
      const to = (p * n + index[j]!) * inner;
      const from = (p * m + j) * inner;
      for (let k = 0; k < inner; k++) out[to + k]! += g[from + k]!;
    }
  }
  return new Tensor(out, shape);
}

/** Visit every position of `indexShape`, giving the flat index position and the matching offset in x (without dim). */
function forEachGather(
  xShape: readonly number[], dim: number, indexShape: readonly number[],
  visit: (pos: number, xBase: number, xDimStride: number) => void,
): void {
  const xStrides = stridesOf(xShape);
  const nd = indexShape.length;
  const counter = new Array<number>(nd).fill(0);
  const total = sizeOf(indexShape);
  let base = 0;
  for (let pos = 0; pos < total; pos++) {
    visit(pos, base, xStrides[dim]!);
    for (let d = nd - 1; d >= 0; d--) {
      counter[d]!++;
      if (d !== dim) base += xStrides[d]!;
      if (counter[d]! < indexShape[d]!) break;
      if (d !== dim) base -= xStrides[d]! * indexShape[d]!;
      counter[d] = 0;
    }
  }
}

export function gather(x: Tensor, dim: number, index: Int32Array, indexShape: readonly number[]): Tensor {
  const a = x.data;
  const out = new Float32Array(index.length);
  forEachGather(x.shape, dim, indexShape, (pos, base, ds) => (out[pos] = a[base + index[pos]! * ds]!));
  return new Tensor(out, indexShape);
}

export function scatterAdd(shape: readonly number[], dim: number, index: Int32Array, src: Tensor): Tensor {
  const g = src.data;
  const out = new Float32Array(sizeOf(shape));
  forEachGather(shape, dim, src.shape, (pos, base, ds) => (out[base + index[pos]! * ds]! += g[pos]!));
  return new Tensor(out, shape);
}
