// Shapes: sizes, strides, broadcasting and dimension arithmetic shared by ops and kernels.

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides: the last dim is contiguous. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcasting: align on the right; each pair of dims must be equal or one of them 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` seen through the broadcast shape `to`: 0 where a dim is repeated. */
export function broadcastStrides(shape: Shape, to: Shape): number[] {
  const own = stridesOf(shape);
  const out = new Array<number>(to.length).fill(0);
  const offset = to.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[i + offset] = shape[i] === 1 ? 0 : own[i]!;
  return out;
}

/** Negative dims count from the end, as in PyTorch. */
export function normalizeDim(op: string, dim: number, ndim: number): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= ndim) {
    throw new Error(`${op}: dim ${dim} is out of range for a tensor with ${ndim} dims`);
  }
  return d;
}

export function normalizeDims(op: string, dims: number | readonly number[] | undefined, ndim: number): number[] {
  if (dims === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : dims;
  const out = list.map((d) => normalizeDim(op, d, ndim));
  if (new Set(out).size !== out.length) throw new Error(`${op}: repeated dim in [${list.join(',')}]`);
  return out.sort((x, y) => x - y);
}

/** Resolve one -1 in a requested shape, and check the element count is kept. */
export function inferShape(op: string, from: Shape, to: readonly number[]): number[] {
  const total = sizeOf(from);
  let unknown = -1;
  let known = 1;
  to.forEach((d, i) => {
    if (d === -1) {
      if (unknown >= 0) throw new Error(`${op}: only one dim can be -1, got ${shapeStr(to)}`);
      unknown = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: invalid dim ${d} in ${shapeStr(to)}`);
    } else known *= d;
  });
  const out = [...to];
  if (unknown >= 0) {
    if (known === 0 || total % known !== 0) {
      throw new Error(`${op}: cannot reshape ${shapeStr(from)} (${total} elements) to ${shapeStr(to)}`);
    }
    out[unknown] = total / known;
  } else if (known !== total) {
    throw new Error(`${op}: cannot reshape ${shapeStr(from)} (${total} elements) to ${shapeStr(to)} (${known})`);
  }
  return out;
}
