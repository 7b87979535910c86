// Layout kernels on the device: copies that reorder (permute), repeat (expand), cut (slice),
// join (concat) or pick (indexSelect, gather) elements, and the adjoints of the picking ones
// (indexAdd, scatterAdd), which the backward pass needs.
//
// The copies are strided reads (strided.ts). The adjoints cannot scatter: a gpu.js thread
// writes only its own output element, and repeated indices must add up. So each output
// element loops over the index and gathers the values that land on it.
//
// Indices come from the host (Int32Array) and are uploaded as floats: exact below 2^24.
import { type GpuArray, sizeOf } from './device.js';
import { broadcastStrides } from './elementwise.js';
import { contiguousStrides, stridedKernel } from './strided.js';

/** out dim i is x's dim perm[i] (a copy, contiguous). */
export function permute(x: GpuArray, perm: readonly number[]): GpuArray {
  if (perm.length !== x.shape.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`permute: [${perm.join(',')}] is not a permutation of the dims of [${x.shape.join(',')}]`);
  }
  const strides = contiguousStrides(x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  return stridedKernel('permute', shape, [{ array: x, strides: perm.map((p) => strides[p]!) }], (at) => `return in0[${at(0)}];`);
}

/** x repeated along its size-1 dims (and new leading dims) to `shape`. */
export function expand(x: GpuArray, shape: readonly number[]): GpuArray {
  return stridedKernel('expand', shape, [{ array: x, strides: broadcastStrides(x.shape, shape) }], (at) => `return in0[${at(0)}];`);
}

/** `length` entries of dim from `start`. */
export function slice(x: GpuArray, dim: number, start: number, length: number): GpuArray {
  const n = x.shape[dim];
  if (n === undefined || start < 0 || length < 1 || start + length > n) {
    throw new Error(`slice: [${start}, ${start + length}) is outside dim ${dim} of [${x.shape.join(',')}]`);
  }
  const strides = contiguousStrides(x.shape);
  const shape = x.shape.map((d, i) => (i === dim ? length : d));
  return stridedKernel('slice', shape, [{ array: x, strides, offset: start * strides[dim]! }], (at) => `return in0[${at(0)}];`);
}

/**
 * The arrays joined along dim. Seen as [outer, total, inner], each thread finds which input its
 * position along dim falls in (an if-chain over the inputs' ranges) and reads it there.
 */
export function concat(xs: readonly GpuArray[], dim: number): GpuArray {
  const first = xs[0];
  if (!first) throw new Error('concat: no arrays given');
  for (const x of xs) {
    if (x.shape.length !== first.shape.length || x.shape.some((d, i) => i !== dim && d !== first.shape[i])) {
      throw new Error(`concat: shapes ${xs.map((t) => `[${t.shape.join(',')}]`).join(', ')} differ outside dim ${dim}`);
    }
  }
  const inner = sizeOf(first.shape.slice(dim + 1));
  const outer = sizeOf(first.shape.slice(0, dim));
  const lengths = xs.map((x) => x.shape[dim]!);
  const total = lengths.reduce((a, b) => a + b, 0);
  const constants: Record<string, number> = { inner };
  const branches: string[] = [];
  let start = 0;
  xs.forEach((_, k) => {
    constants[`len${k}`] = lengths[k]!;
    constants[`start${k}`] = start;
    constants[`end${k}`] = start + lengths[k]!;
    const read = `v = in${k}[(p * this.constants.len${k} + j - this.constants.start${k}) * this.constants.inner + i];`;
    // only the matching branch reads, so no thread indexes past the end of an input
    branches.push(k === xs.length - 1 ? `{ ${read} }` : `if (j < this.constants.end${k}) { ${read} }`);
    start += lengths[k]!;
  });
  const source = `function (${xs.map((_, k) => `in${k}`).join(', ')}) {
    const i = this.thread.x;
    const j = this.thread.y;
    const p = this.thread.z;
    let v = 0;
    ${branches.join(' else ')}
    return v;
  }`;
  const device = first.device;
  const key = `concat:${outer}x${lengths.join('+')}x${inner}`;
  const kernel = device.kernel(key, { source, output: [inner, total, outer], constants });
  return device.run(key, kernel, first.shape.map((d, i) => (i === dim ? total : d)), xs);
}

/** Entries of dim picked by `index` (an embedding lookup): out[p, j, i] = x[p, index[j], i]. */
export function indexSelect(x: GpuArray, dim: number, index: Int32Array): GpuArray {
  const n = checkIndex('indexSelect', x.shape, dim, index);
  const inner = sizeOf(x.shape.slice(dim + 1));
  const outer = sizeOf(x.shape.slice(0, dim));
  const m = index.length;
  const indices = x.device.upload(Float32Array.from(index), [m]);
  const source = `function (x, index) {
    return x[(this.thread.z * this.constants.n + index[this.thread.y]) * this.constants.inner + this.thread.x];
  }`;
  const key = `indexSelect:${outer}x${n}x${inner}:${m}`;
  const kernel = x.device.kernel(key, { source, output: [inner, m, outer], constants: { n, inner } });
  const out = x.device.run(key, kernel, x.shape.map((d, i) => (i === dim ? m : d)), [x, indices]);
  indices.dispose();
  return out;
}

/**
 * The adjoint of indexSelect: zeros of `shape` with src's entries along dim added at `index`
 * (repeated indices accumulate). A contiguous index (narrow's backward) is a zero padding;
 * otherwise each output element loops over the index for the entries that land on it.
 */
export function indexAdd(shape: readonly number[], dim: number, index: Int32Array, src: GpuArray): GpuArray {
  const n = checkIndex('indexAdd', shape, dim, index);
  const inner = sizeOf(shape.slice(dim + 1));
  const outer = sizeOf(shape.slice(0, dim));
  const m = index.length;
  const expected = shape.map((d, i) => (i === dim ? m : d));
  if (src.shape.join(',') !== expected.join(',')) {
    throw new Error(`indexAdd: source [${src.shape.join(',')}] does not match [${expected.join(',')}] (shape [${shape.join(',')}], ${m} indices along dim ${dim})`);
  }
  const device = src.device;
  const start = index[0]!;
  if (index.every((v, j) => v === start + j)) {
    // rows start .. start+m-1 get src, the rest zeros; the read index is clamped so every thread reads inside src
    const source = `function (src) {
      const r = this.thread.y - this.constants.start;
      const j = Math.min(Math.max(r, 0), this.constants.m - 1);
      const v = src[(this.thread.z * this.constants.m + j) * this.constants.inner + this.thread.x];
      return r >= 0 && r < this.constants.m ? v : 0;
    }`;
    const key = `indexAdd.range:${outer}x${n}x${inner}:${start}+${m}`;
    const kernel = device.kernel(key, { source, output: [inner, n, outer], constants: { start, m, inner } });
    return device.run(key, kernel, shape, [src]);
  }
  const indices = device.upload(Float32Array.from(index), [m]);
  const source = `function (src, index) {
    let sum = 0;
    for (let j = 0; j < this.constants.m; j++) {
      if (index[j] === this.thread.y) {
        sum += src[(this.thread.z * this.constants.m + j) * this.constants.inner + this.thread.x];
      }
    }
    return sum;
  }`;
  const key = `indexAdd:${outer}x${n}x${inner}:${m}`;
  const kernel = device.kernel(key, { source, output: [inner, n, outer], constants: { m, inner }, loopMaxIterations: m });
  const out = device.run(key, kernel, shape, [src, indices]);
  indices.dispose();
  return out;
}

/** out[..., i, ...] = x[..., index[..., i, ...], ...] along dim (torch.gather); out has the index's shape. */
export function gather(x: GpuArray, dim: number, index: Int32Array, indexShape: readonly number[]): GpuArray {
  checkGather('gather', x.shape, dim, index, indexShape);
  const xStrides = contiguousStrides(x.shape);
  const indices = x.device.upload(Float32Array.from(index), indexShape);
  const out = stridedKernel(
    'gather',
    indexShape,
    [
      // x walked over the index's positions in every dim but `dim`, where the index value says where
      { array: x, strides: xStrides.map((s, d) => (d === dim ? 0 : s)) },
      { array: indices, strides: contiguousStrides(indexShape) },
    ],
    (at) => `return in0[${at(0)} + in1[${at(1)}] * this.constants.dimStride];`,
    { constants: { dimStride: xStrides[dim]! } },
  );
  indices.dispose();
  return out;
}

/**
 * The adjoint of gather: zeros of `shape` with src[pos] added at x-position of pos (repeats
 * accumulate). Each output element loops along dim over the index entries in its line.
 */
export function scatterAdd(shape: readonly number[], dim: number, index: Int32Array, src: GpuArray): GpuArray {
  const indexShape = src.shape;
  checkGather('scatterAdd', shape, dim, index, indexShape);
  const device = src.device;
  const indices = device.upload(Float32Array.from(index), indexShape);
  const indexStrides = contiguousStrides(indexShape);
  const lineStrides = indexStrides.map((s, d) => (d === dim ? 0 : s));
  // output positions beyond the index's extent in another dim receive nothing
  const inside = shape.flatMap((d, i) => (i !== dim && indexShape[i]! < d ? [`i${i} < ${indexShape[i]}`] : []));
  const body = `let sum = 0;
    if (${inside.length > 0 ? inside.join(' && ') : 'true'}) {
      for (let j = 0; j < this.constants.L; j++) {
        const pos = at0 + j * this.constants.dimStride;
        if (in1[pos] === i${dim}) {
          sum += in0[pos];
        }
      }
    }
    return sum;`;
  const out = stridedKernel(
    'scatterAdd',
    shape,
    [
      { array: src, strides: lineStrides },
      { array: indices, strides: lineStrides },
    ],
    () => body,
    { constants: { L: indexShape[dim]!, dimStride: indexStrides[dim]! }, loopMaxIterations: indexShape[dim]!, collapse: false },
  );
  indices.dispose();
  return out;
}

function checkIndex(op: string, shape: readonly number[], dim: number, index: Int32Array): number {
  const n = shape[dim];
  if (n === undefined) throw new Error(`${op}: dim ${dim} is out of range for [${shape.join(',')}]`);
  if (index.length === 0) throw new Error(`${op}: empty index (the gpu backend leaves empty results to the CPU)`);
  for (let i = 0; i < index.length; i++) {
    if (index[i]! < 0 || index[i]! >= n) throw new Error(`${op}: index ${index[i]} at position ${i} is out of range for dim ${dim} of size ${n}`);
  }
  return n;
}

function checkGather(op: string, shape: readonly number[], dim: number, index: Int32Array, indexShape: readonly number[]): void {
  if (indexShape.length !== shape.length || indexShape.some((d, i) => i !== dim && d > shape[i]!)) {
    throw new Error(`${op}: index shape [${indexShape.join(',')}] does not fit [${shape.join(',')}] along dim ${dim}`);
  }
  if (index.length !== sizeOf(indexShape)) throw new Error(`${op}: ${index.length} indices for index shape [${indexShape.join(',')}]`);
  checkIndex(op, shape, dim, index);
}
