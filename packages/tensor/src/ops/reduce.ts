// Reductions along dims (all dims when none are given), with keepdim as in PyTorch.
import { record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { normalizeDim, normalizeDims } from '../shape.js';
import { kernels } from '../kernels/index.js';
import { div, eq, mul, sub } from './elementwise.js';

/** The reduced shape with the reduced dims kept as 1, so a gradient broadcasts back over them. */
function keptShape(x: Tensor, dims: readonly number[]): number[] {
  return x.shape.map((d, i) => (dims.includes(i) ? 1 : d));
}

function expandBack(g: Tensor, x: Tensor, dims: readonly number[]): Tensor {
  const kept = new Tensor(g.deviceStorage ?? g.data, keptShape(x, dims));
  return kernels().expand(kept, x.shape);
}

// sum: every input element gets the gradient of its sum.
export function sum(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  const dims = normalizeDims('sum', dim, x.ndim);
  return record('sum', kernels().reduce('sum', x, dims, keepdim), [x], (g) => [expandBack(g, x, dims)]);
}

export function mean(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  const dims = normalizeDims('mean', dim, x.ndim);
  let count = 1;
  for (const d of dims) count *= x.shape[d]!;
  return div(sum(x, dims, keepdim), count);
}

// max/min: the gradient goes to the elements equal to the result, split evenly among ties (as torch.amax).
function extreme(op: 'max' | 'min', x: Tensor, dim: number | number[] | undefined, keepdim: boolean): Tensor {
  const dims = normalizeDims(op, dim, x.ndim);
  const out = kernels().reduce(op, x, dims, keepdim);
  return record(op, out, [x], (g) => {
    const mask = eq(x, expandBack(out, x, dims));
    const count = kernels().reduce('sum', mask, dims, true);
    return [mul(mask, expandBack(div(g, new Tensor(count.data, out.shape)), x, dims))];
  });
}
export const max = (x: Tensor, dim?: number | number[], keepdim = false): Tensor => extreme('max', x, dim, keepdim);
export const min = (x: Tensor, dim?: number | number[], keepdim = false): Tensor => extreme('min', x, dim, keepdim);

/** Variance with Bessel's correction by default (correction=1), as torch.var; written with ops, so differentiable. */
export function variance(x: Tensor, dim?: number | number[], keepdim = false, correction = 1): Tensor {
  const dims = normalizeDims('var', dim, x.ndim);
  let count = 1;
  for (const d of dims) count *= x.shape[d]!;
  const centered = sub(x, mean(x, dims, true));
  return div(sum(mul(centered, centered), dims, keepdim), Math.max(count - correction, 0));
}

/** Index of the largest value (flattened when no dim is given); no gradient. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return kernels().argReduce('max', new Tensor(x.data, [x.size]), 0, false);
  return kernels().argReduce('max', x, normalizeDim('argmax', dim, x.ndim), keepdim);
}

export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return kernels().argReduce('min', new Tensor(x.data, [x.size]), 0, false);
  return kernels().argReduce('min', x, normalizeDim('argmin', dim, x.ndim), keepdim);
}
