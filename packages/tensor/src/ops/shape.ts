// Shape ops: views that share storage (reshape, squeeze, unsqueeze) and copies that move
// values (permute, expand, slices, concat, gather). Each backward undoes its forward.
import { record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { inferShape, normalizeDim, shapeStr, sizeOf } from '../shape.js';
import { kernels } from '../kernels/index.js';
import { sumToShape } from './elementwise.js';

/** Same storage, new shape: free, because storage is always contiguous. */
function view(x: Tensor, shape: readonly number[]): Tensor {
  return new Tensor(x.deviceStorage ?? x.data, shape);
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const to = inferShape('reshape', x.shape, shape);
  return record('reshape', view(x, to), [x], (g) => [view(g, x.shape)]);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim('flatten', startDim, x.ndim);
  const e = normalizeDim('flatten', endDim, x.ndim);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const d = normalizeDim('squeeze', dim, x.ndim);
  return x.shape[d] === 1 ? reshape(x, x.shape.filter((_, i) => i !== d)) : x;
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim('unsqueeze', dim, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

// permute: out dim i is input dim perm[i]; the backward permutes back with the inverse.
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim) throw new Error(`permute: ${perm.length} dims given for a tensor of shape ${shapeStr(x.shape)}`);
  const p = perm.map((d) => normalizeDim('permute', d, x.ndim));
  if (new Set(p).size !== p.length) throw new Error(`permute: [${perm.join(',')}] is not a permutation`);
  const inverse = new Array<number>(p.length);
  p.forEach((d, i) => (inverse[d] = i));
  return record('permute', kernels().permute(x, p), [x], (g) => [kernels().permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  if (x.ndim < 2) return x;
  const a = normalizeDim('transpose', dim0, x.ndim);
  const b = normalizeDim('transpose', dim1, x.ndim);
  const perm = x.shape.map((_, i) => i);
  [perm[a], perm[b]] = [b, a];
  return permute(x, perm);
}

// expand: repeat size-1 dims (and add leading ones); the backward sums the copies.
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0) throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to fewer dims ${shapeStr(shape)}`);
  const to = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  to.forEach((d, i) => {
    if (d < 0) throw new Error(`expand: ${shapeStr(x.shape)} cannot expand to ${shapeStr(shape)} (dim ${i}: ${d} is only allowed for an existing dim)`);
    const own = i >= lead ? x.shape[i - lead]! : 1;
    if (own !== d && own !== 1) throw new Error(`expand: ${shapeStr(x.shape)} cannot expand to ${shapeStr(shape)} (dim ${i}: ${own} vs ${d})`);
  });
  return record('expand', kernels().expand(x, to), [x], (g) => [sumToShape(g, x.shape)]);
}

// narrow: `length` entries of dim from start; the backward pads the gradient with zeros.
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normalizeDim('narrow', dim, x.ndim);
  const n = x.shape[d]!;
  if (start < 0) start += n;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > n) {
    throw new Error(`narrow: [${start}, ${start + length}) is outside dim ${dim} of size ${n} (shape ${shapeStr(x.shape)})`);
  }
  return record('narrow', kernels().slice(x, d, start, length), [x], (g) => {
    const index = new Int32Array(length);
    for (let i = 0; i < length; i++) index[i] = start + i;
    return [kernels().indexAdd(x.shape, d, index, g)];
  });
}

/** Python-style slice [start, end) along dim; negative values count from the end. */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  const d = normalizeDim('slice', dim, x.ndim);
  const n = x.shape[d]!;
  const s = Math.min(Math.max(start < 0 ? start + n : start, 0), n);
  const e = Math.min(Math.max(end === undefined ? n : end < 0 ? end + n : end, s), n);
  return narrow(x, d, s, e - s);
}

export function split(x: Tensor, sizeOrSizes: number | number[], dim = 0): Tensor[] {
  const d = normalizeDim('split', dim, x.ndim);
  const n = x.shape[d]!;
  let sizes: number[];
  if (typeof sizeOrSizes === 'number') {
    if (!Number.isInteger(sizeOrSizes) || sizeOrSizes <= 0) throw new Error(`split: size ${sizeOrSizes} must be a positive integer`);
    sizes = [];
    for (let at = 0; at < n; at += sizeOrSizes) sizes.push(Math.min(sizeOrSizes, n - at));
  } else {
    sizes = sizeOrSizes;
    if (sizes.some((len) => !Number.isInteger(len) || len < 0)) throw new Error(`split: sizes [${sizes.join(',')}] must be integers >= 0`);
    if (sizes.reduce((a, b) => a + b, 0) !== n) throw new Error(`split: sizes [${sizes.join(',')}] do not add up to dim ${dim} of size ${n}`);
  }
  let at = 0;
  return sizes.map((len) => {
    const part = narrow(x, d, at, len);
    at += len;
    return part;
  });
}

// concat: join along dim; the backward hands each input its slice of the gradient.
export function concat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors given');
  const first = xs[0]!;
  const d = normalizeDim('concat', dim, first.ndim);
  for (const t of xs) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new Error(`concat: shapes ${xs.map((u) => shapeStr(u.shape)).join(', ')} differ outside dim ${dim}`);
    }
  }
  return record('concat', kernels().concat(xs, d), xs, (g) => {
    let at = 0;
    return xs.map((t) => {
      const part = kernels().slice(g, d, at, t.shape[d]!);
      at += t.shape[d]!;
      return part;
    });
  });
}
export const cat = concat;

export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: no tensors given');
  const d = normalizeDim('stack', dim, xs[0]!.ndim + 1);
  return concat(xs.map((t) => unsqueeze(t, d)), d);
}

function toIndex(op: string, index: Tensor | ArrayLike<number>, bound: number): Int32Array {
  const values = index instanceof Tensor ? index.data : index;
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < -bound || v >= bound) throw new Error(`${op}: index ${v} at position ${i} is out of range for size ${bound}`);
    out[i] = v < 0 ? v + bound : v;
  }
  return out;
}

// indexSelect: pick entries of dim by index (an embedding lookup); the backward adds the
// gradient rows back at their indices (repeated indices accumulate).
export function indexSelect(x: Tensor, dim: number, index: Tensor | ArrayLike<number>): Tensor {
  const d = normalizeDim('indexSelect', dim, x.ndim);
  const idx = toIndex('indexSelect', index, x.shape[d]!);
  return record('indexSelect', kernels().indexSelect(x, d, idx), [x], (g) => [kernels().indexAdd(x.shape, d, idx, g)]);
}

// gather: out[i][j] = x[i][index[i][j]] along dim (torch.gather); the backward scatters back.
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = normalizeDim('gather', dim, x.ndim);
  if (index.ndim !== x.ndim || index.shape.some((s, i) => i !== d && s > x.shape[i]!)) {
    throw new Error(`gather: index shape ${shapeStr(index.shape)} does not fit input shape ${shapeStr(x.shape)} along dim ${dim}`);
  }
  const idx = toIndex('gather', index, x.shape[d]!);
  return record('gather', kernels().gather(x, d, idx, index.shape), [x], (g) => [kernels().scatterAdd(x.shape, d, idx, g)]);
}
