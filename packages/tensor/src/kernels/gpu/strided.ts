// The kernel shape most ops share: one thread per output element, each input read at a position
// that is a linear function of the output coordinates,
//   position_k = offset_k + sum_d i_d * strides_k[d].
// Broadcasting (stride 0), permute (the input's strides reordered), expand, slice (an offset)
// and gather (plus an index read) are all this, so they share one builder.
//
// gpu.js gives a thread three coordinates (x, y, z). Adjacent output dims that every input
// walks contiguously are merged first, so most real shapes need at most three; beyond that
// thread.z is unravelled into the leading dims with float arithmetic:
//   i_d = floor(z / inner_d) - floor(z / (inner_d * dim_d)) * dim_d,
// with inner_d the product of the leading dims after d. The + 0.5 keeps the float division
// on the right side of each integer below 2^22 leading positions.
import { type GpuArray } from './device.js';

export interface StridedInput {
  array: GpuArray;
  /** element strides of this input over the output's dims (0 where it does not move) */
  strides: readonly number[];
  /** where the walk starts in this input (default 0) */
  offset?: number;
}

export interface StridedOptions {
  /** constants the body reads as this.constants.<name> (baked into the kernel: part of its key) */
  constants?: Record<string, number>;
  functions?: ((...args: never[]) => unknown)[];
  loopMaxIterations?: number;
  /** set false to keep every output dim (a body that needs the coordinates i0, i1, ...) */
  collapse?: boolean;
}

/**
 * Runs one kernel over an output of `outShape`. `body(at)` writes the kernel's statements (it
 * must `return` the element); `at(k)` is the position expression of input k, read as `in${k}[...]`.
 * Without collapsing, the body may also use the output coordinates `i0 ... i(n-1)`.
 */
export function stridedKernel(
  name: string,
  outShape: readonly number[],
  inputs: readonly StridedInput[],
  body: (at: (k: number) => string) => string,
  options: StridedOptions = {},
): GpuArray {
  const device = inputs[0]!.array.device;
  const collapsed = options.collapse === false ? keepDims(outShape, inputs) : collapseStrides(outShape, inputs.map((input) => input.strides));
  const dims = [...collapsed.dims];
  const strides = collapsed.strides.map((s) => [...s]);
  // at least three dims [..., d(n-2), d(n-1)]; gpu.js's output is [x, y, z] = [d(n-1), d(n-2), all leading dims]
  while (dims.length < 3) {
    dims.unshift(1);
    for (const s of strides) s.unshift(0);
  }
  const n = dims.length;
  const leading = dims.slice(0, n - 2);
  const zSize = leading.reduce((p, d) => p * d, 1);
  if (zSize >= 1 << 22) throw new Error(`${name}: output [${outShape.join(',')}] has ${zSize} leading positions, beyond the 2^22 the index arithmetic is exact for`);
  const total = zSize * dims[n - 1]! * dims[n - 2]!;
  if (total > 1 << 24) throw new Error(`${name}: output [${outShape.join(',')}] has ${total} elements, beyond the 2^24 float indices address exactly`);
  const constants: Record<string, number> = { ...options.constants };
  const lines: string[] = [];
  // the coordinates, numbered from the front of the padded dims; the padding dims come first
  const pad = n - (options.collapse === false ? Math.max(outShape.length, 0) : collapsed.dims.length);
  if (leading.length === 1) {
    lines.push('const c0 = this.thread.z;');
  } else {
    for (let d = 0; d < leading.length; d++) {
      const inner = leading.slice(d + 1).reduce((p, v) => p * v, 1);
      constants[`inner${d}`] = inner;
      constants[`outer${d}`] = inner * leading[d]!;
      constants[`dim${d}`] = leading[d]!;
      lines.push(`const c${d} = Math.floor((this.thread.z + 0.5) / this.constants.inner${d}) - Math.floor((this.thread.z + 0.5) / this.constants.outer${d}) * this.constants.dim${d};`);
    }
  }
  lines.push(`const c${n - 2} = this.thread.y;`, `const c${n - 1} = this.thread.x;`);
  // the output coordinates without the padding, for bodies that need them (collapse: false)
  if (options.collapse === false) for (let d = 0; d < outShape.length; d++) lines.push(`const i${d} = c${d + pad};`);
  const positions = inputs.map((input, k) => {
    const terms: string[] = [];
    for (let d = 0; d < n; d++) {
      if (strides[k]![d] === 0) continue;
      constants[`s${k}_${d}`] = strides[k]![d]!;
      terms.push(`c${d} * this.constants.s${k}_${d}`);
    }
    if (input.offset) {
      constants[`offset${k}`] = input.offset;
      terms.push(`this.constants.offset${k}`);
    }
    return terms.length > 0 ? terms.join(' + ') : '0';
  });
  lines.push(...inputs.map((_, k) => `const at${k} = ${positions[k]};`));
  const source = `function (${inputs.map((_, k) => `in${k}`).join(', ')}) {
    ${lines.join('\n    ')}
    ${body((k) => `at${k}`)}
  }`;
  const key = `${name}:${source.length}:${dims.join('x')}:${Object.entries(constants).map(([c, v]) => `${c}=${v}`).join(',')}:${hash(source)}`;
  const kernel = device.kernel(key, {
    source,
    output: [dims[n - 1]!, dims[n - 2]!, zSize],
    constants,
    functions: options.functions,
    loopMaxIterations: options.loopMaxIterations,
  });
  return device.run(key, kernel, outShape, inputs.map((input) => input.array));
}

/** Row-major strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i]!;
  }
  return strides;
}

/**
 * Merges adjacent dims wherever every input steps through them contiguously (or stays put),
 * and drops dims of size 1, so the kernel needs as few dims as possible.
 */
export function collapseStrides(outShape: readonly number[], full: readonly (readonly number[])[]): { dims: number[]; strides: number[][] } {
  const dims: number[] = [];
  const strides: number[][] = full.map(() => []);
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
  if (dims.length === 0) return { dims: [1], strides: full.map(() => [0]) };
  return { dims, strides };
}

function keepDims(outShape: readonly number[], inputs: readonly StridedInput[]): { dims: number[]; strides: number[][] } {
  if (outShape.length === 0) return { dims: [1], strides: inputs.map(() => [0]) };
  return { dims: [...outShape], strides: inputs.map((input) => [...input.strides]) };
}

// A short fingerprint of a kernel's source, so two bodies with the same shapes get different cache keys.
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
