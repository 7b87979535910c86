// CPU reductions: sum/max/min over any set of dims, and argmax/argmin along one dim.
import { Tensor } from '../../tensor.js';
import { sizeOf, stridesOf } from '../../shape.js';
import type { ReduceOp } from '../backend.js';
import { forEachRow } from './loops.js';

export function reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  const shape = x.shape;
  const kept = shape.map((d, i) => (dims.includes(i) ? 1 : d));
  const outStrides = stridesOf(kept).map((s, i) => (dims.includes(i) ? 0 : s));
  const init = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
  const acc = new Float64Array(sizeOf(kept)).fill(init); // accumulate in double: sums of many floats drift
  const a = x.data;
  if (sizeOf(shape) > 0) {
    forEachRow(shape, [stridesOf(shape), outStrides], (off, n, s) => {
      const xo = off[0]!;
      const oo = off[1]!;
      const xs = s[0]!;
      if (s[1] === 0) {
        // the innermost dim is reduced: fold the row into one output
        let v = acc[oo]!;
        if (op === 'sum') for (let i = 0; i < n; i++) v += a[xo + i * xs]!;
        else if (op === 'max') for (let i = 0; i < n; i++) { const t = a[xo + i * xs]!; if (t > v || t !== t) v = t; }
        else for (let i = 0; i < n; i++) { const t = a[xo + i * xs]!; if (t < v || t !== t) v = t; }
        acc[oo] = v;
      } else {
        const os = s[1]!;
        if (op === 'sum') for (let i = 0; i < n; i++) acc[oo + i * os]! += a[xo + i * xs]!;
        else if (op === 'max') for (let i = 0; i < n; i++) { const t = a[xo + i * xs]!; if (t > acc[oo + i * os]! || t !== t) acc[oo + i * os] = t; }
        else for (let i = 0; i < n; i++) { const t = a[xo + i * xs]!; if (t < acc[oo + i * os]! || t !== t) acc[oo + i * os] = t; }
      }
    });
  }
  const outShape = keepdim ? kept : shape.filter((_, i) => !dims.includes(i));
  return new Tensor(Float32Array.from(acc), outShape);
}

export function argReduce(op: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean): Tensor {
  const shape = x.shape;
  const n = shape[dim]!;
  const inner = sizeOf(shape.slice(dim + 1));
  const outer = sizeOf(shape.slice(0, dim));
  const a = x.data;
  const o = new Float32Array(outer * inner);
  for (let p = 0; p < outer; p++) {
    for (let q = 0; q < inner; q++) {
      const base = p * n * inner + q;
      let best = a[base]!;
      let at = 0;
      for (let i = 1; i < n; i++) {
        const v = a[base + i * inner]!;
        if (best !== best) break; // NaN wins, as in PyTorch
        if (op === 'max' ? v > best || v !== v : v < best || v !== v) {
          best = v;
          at = i;
        }
      }
      o[p * inner + q] = at;
    }
  }
  const outShape = keepdim ? shape.map((d, i) => (i === dim ? 1 : d)) : shape.filter((_, i) => i !== dim);
  return new Tensor(o, outShape);
}
