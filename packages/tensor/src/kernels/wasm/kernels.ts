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
import { attentionBackwardScratchFloats, attentionScratchFloats } from './attention.js';
import { WASM_MIN_MACS } from '../gemm/index.js';

/** Below this many values a kernel call (two copies, the call itself) costs more than the loop. */
export const MIN_SIZE = 64;

/**
 * From this many values on, the kernels that compute a polynomial per value (exp, erf, ...) and
 * the row kernels (softmax, layerNorm) split the work over the threads. The thread team's workers
 * busy-wait between jobs, so handing one a job costs a few microseconds (a sleeping worker took
 * tens): layerNorm over 65 x 192 values (a ViT-tiny's tokens at batch 1) 19.5-20.8 -> 15.5-17.5 us
 * with the split (it was 32768 values before the team). Memory-bound kernels (add, copies, sums)
 * never split: one core already streams what the memory gives.
 */
export const PARALLEL_MIN_SIZE = 8192;

/** The unary ops worth splitting: a polynomial or a division per value, not a single instruction. */
const HEAVY_UNARY = new Set<UnaryOp>(['exp', 'log', 'tanh', 'sigmoid', 'gelu', 'erf']);

/** Whether the kernels are here: a browser's main thread may refuse to compile the module
 *  synchronously (see loadKernels in runtime.ts), and then every method runs the reference. */
function ready(): boolean {
  return kernelRuntime() !== null;
}

function rt(): KernelRuntime {
  return kernelRuntime()!; // called only after ready()
}

/**
 * [start, length] pieces of `count` items for the threads: one piece below PARALLEL_MIN_SIZE
 * values of work (or with one thread), else two per thread so a slowed thread takes fewer.
 * Pieces start on multiples of `align` items (elementwise kernels run in whole vectors of 4).
 */
function pieces(k: KernelRuntime, count: number, values: number, align = 1): Array<[number, number]> {
  const parts = k.threads > 1 && values >= PARALLEL_MIN_SIZE ? Math.min(2 * k.threads, Math.ceil(count / align)) : 1;
  const size = Math.ceil(count / parts / align) * align;
  const out: Array<[number, number]> = [];
  for (let start = 0; start < count; start += size) out.push([start, Math.min(size, count - start)]);
  return out;
}

export function unary(op: UnaryOp, x: Tensor): Tensor {
  const n = x.size;
  if (n < MIN_SIZE || !ready()) return ref.unary(op, x);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.output(n);
  const parts = HEAVY_UNARY.has(op) ? pieces(k, n, n, 4) : [[0, n] as [number, number]];
  k.run(`unary_${op}`, parts.map(([start, len]) => [src + 4 * start, dst + 4 * start, len]));
  return new Tensor(k.take(dst, n), x.shape);
}

export function binary(op: BinaryOp, x: Tensor, y: Tensor): Tensor {
  const shape = sameShape(x.shape, y.shape) ? x.shape : broadcastShapes(op, x.shape, y.shape);
  const n = sizeOf(shape);
  if (n < MIN_SIZE || !ready() || BINARY[op] === undefined) return ref.binary(op, x, y);
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
  const a = k.put(x.data), b = k.put(y.data), dst = k.output(n);
  const aRow = nd === 2 ? xs[0]! * 4 : 0, bRow = nd === 2 ? ys[0]! * 4 : 0;
  k.fn(`binary_${op}`)(a, b, dst, rows, cols, aRow, bRow, xs[nd - 1]!, ys[nd - 1]!);
  return new Tensor(k.take(dst, n), shape);
}

export function clamp(x: Tensor, min: number, max: number): Tensor {
  const n = x.size;
  if (n < MIN_SIZE || !ready()) return ref.clamp(x, min, max);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.output(n);
  // min and max become f32: for f32 values v, v < fround(min) exactly when v < min, and the
  // clamped value is stored as fround(min) either way, so the result matches the reference
  k.fn('clamp')(src, dst, n, min, max);
  return new Tensor(k.take(dst, n), x.shape);
}

export function geluBackward(x: Tensor, grad: Tensor, y?: Tensor): Tensor {
  const n = x.size;
  if (n < MIN_SIZE || !ready()) return ref.geluBackward(x, grad);
  const k = rt();
  k.reset();
  const a = k.put(x.data), g = k.put(grad.data), dst = k.output(n);
  if (y && y.size === n) {
    // Phi(x) from the forward's output: one exp a value instead of an erf and an exp
    const b = k.put(y.data);
    k.run('geluBackwardFromOutput', pieces(k, n, n, 4).map(([start, len]) => [a + 4 * start, b + 4 * start, g + 4 * start, dst + 4 * start, len]));
  } else {
    k.run('geluBackward', pieces(k, n, n, 4).map(([start, len]) => [a + 4 * start, g + 4 * start, dst + 4 * start, len]));
  }
  return new Tensor(k.take(dst, n), x.shape);
}

/**
 * Reductions of the shapes left once kept and reduced dims are merged: [rows, cols] reducing
 * cols (per row), [rows, cols] reducing rows (per column), [outer, rows, cols] reducing rows.
 */
export function reduce(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  const shape = x.shape;
  if (x.size < MIN_SIZE || !ready() || dims.length === 0) return ref.reduce(op, x, dims, keepdim);
  const kept = shape.map((d, i) => (dims.includes(i) ? 1 : d));
  const outStrides = stridesOf(kept).map((s, i) => (dims.includes(i) ? 0 : s));
  const c = collapseDims(shape, [stridesOf(shape), outStrides]);
  const reduced = c.strides[1]!.map((s) => s === 0);
  const nd = c.shape.length;
  const outShape = keepdim ? kept : shape.filter((_, i) => !dims.includes(i));
  const outSize = sizeOf(kept);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.output(outSize);
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

/** A row kernel f(src, dst, rows, cols) on x, split by rows over the threads, or the reference for a tiny x. */
function rowwise(name: string, x: Tensor, reference: (x: Tensor) => Tensor): Tensor {
  if (x.size < MIN_SIZE || !ready()) return reference(x);
  const [rows, cols] = rowsOf(x);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.output(x.size);
  k.run(name, pieces(k, rows, x.size).map(([r, n]) => [src + 4 * r * cols, dst + 4 * r * cols, n, cols]));
  return new Tensor(k.take(dst, x.size), x.shape);
}

/** A row backward f(y, g, dst, rows, cols), or the reference for a tiny y. */
function rowwiseBackward(name: string, y: Tensor, grad: Tensor, reference: (y: Tensor, g: Tensor) => Tensor): Tensor {
  if (y.size < MIN_SIZE || !ready()) return reference(y, grad);
  const [rows, cols] = rowsOf(y);
  const k = rt();
  k.reset();
  const yy = k.put(y.data), g = k.put(grad.data), dst = k.output(y.size);
  k.fn(name)(yy, g, dst, rows, cols);
  return new Tensor(k.take(dst, y.size), y.shape);
}

export const softmax = (x: Tensor): Tensor => rowwise('softmax', x, ref.softmax);
export const logSoftmax = (x: Tensor): Tensor => rowwise('logSoftmax', x, ref.logSoftmax);
export const softmaxBackward = (y: Tensor, g: Tensor): Tensor => rowwiseBackward('softmaxBackward', y, g, ref.softmaxBackward);
export const logSoftmaxBackward = (y: Tensor, g: Tensor): Tensor => rowwiseBackward('logSoftmaxBackward', y, g, ref.logSoftmaxBackward);

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): LayerNormResult {
  if (x.size < MIN_SIZE || !ready()) return ref.layerNorm(x, weight, bias, eps);
  const [rows, cols] = rowsOf(x);
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.output(x.size);
  const w = weight ? k.put(weight.data) : k.filled(cols, 1);
  const b = bias ? k.put(bias.data) : k.filled(cols, 0);
  const means = k.output(rows), rstds = k.output(rows);
  k.run('layerNorm', pieces(k, rows, x.size).map(([r, n]) => {
    const at = 4 * r * cols;
    return [src + at, dst + at, w, b, means + 4 * r, rstds + 4 * r, n, cols, eps];
  }));
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
  if (x.size < MIN_SIZE || !ready()) return ref.layerNormBackward(x, weight, mean, rstd, grad);
  const [rows, cols] = rowsOf(x);
  const k = rt();
  k.reset();
  const xs = k.put(x.data), g = k.put(grad.data);
  const w = weight ? k.put(weight.data) : k.filled(cols, 1);
  const means = k.put(mean.data), rstds = k.put(rstd.data);
  const dx = k.output(x.size), dw = k.output(cols), db = k.output(cols), acc = k.alloc(4 * cols);
  k.fn('layerNormBackward')(xs, g, w, means, rstds, dx, dw, db, acc, rows, cols);
  return {
    dx: new Tensor(k.take(dx, x.size), x.shape),
    dweight: weight ? new Tensor(k.take(dw, cols), weight.shape) : null,
    dbias: new Tensor(k.take(db, cols), [cols]),
  };
}

export function absmaxQuantize(x: Tensor, groupSize: number, qmax: number, eps: number): { q: Tensor; scale: Tensor } {
  if (x.size < MIN_SIZE || !ready() || groupSize === 0) return ref.absmaxQuantize(x, groupSize, qmax, eps);
  const groups = x.size / groupSize;
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.output(x.size), scales = k.output(groups);
  k.run('absmaxQuantize', pieces(k, groups, x.size).map(([g, n]) => {
    const at = 4 * g * groupSize;
    return [src + at, dst + at, scales + 4 * g, n, groupSize, qmax, eps];
  }));
  return { q: new Tensor(k.take(dst, x.size), x.shape), scale: new Tensor(k.take(scales, groups), [groups]) };
}

export function ternaryQuantize(x: Tensor, scale: Tensor, groupSize: number): Tensor {
  if (x.size < MIN_SIZE || !ready() || groupSize === 0) return ref.ternaryQuantize(x, scale, groupSize);
  const groups = x.size / groupSize;
  const k = rt();
  k.reset();
  const src = k.put(x.data), scales = k.put(scale.data), dst = k.output(x.size);
  k.fn('ternaryQuantize')(src, dst, scales, groups, groupSize);
  return new Tensor(k.take(dst, x.size), x.shape);
}

/**
 * A copy of x with values moved by strides (permute, expand): after merging dims contiguous on
 * both sides, runs of contiguous floats at up to three levels of strides go to copyRuns (more
 * leading dims loop here); copies that move single floats (a transpose of the last two dims)
 * stay with the reference.
 */
function stridedCopy(x: Tensor, shape: readonly number[], srcStrides: number[], reference: () => Tensor): Tensor {
  const n = sizeOf(shape);
  if (n < MIN_SIZE || !ready()) return reference();
  const c = collapseDims(shape, [srcStrides, stridesOf(shape)]);
  const nd = c.shape.length;
  const [ss, ds] = c.strides as [number[], number[]];
  if (ss[nd - 1] !== 1 || ds[nd - 1] !== 1) return reference();
  const k = rt();
  k.reset();
  const src = k.put(x.data), dst = k.output(n);
  // levels: the three dims before the last (missing ones count once); leading dims loop here
  const level = (d: number): [number, number, number] => (d >= 0 ? [c.shape[d]!, ss[d]! * 4, ds[d]! * 4] : [1, 0, 0]);
  const [l0, l1, l2] = [level(nd - 4), level(nd - 3), level(nd - 2)];
  const lead = c.shape.slice(0, Math.max(nd - 4, 0));
  const leadStrides = [ss.slice(0, lead.length), ds.slice(0, lead.length)];
  const counter = lead.map(() => 0);
  const copyRuns = k.fn('copyRuns');
  for (let o = 0, so = 0, doff = 0; o < sizeOf(lead); o++) {
    copyRuns(src + so * 4, dst + doff * 4, c.shape[nd - 1]!, ...l0, ...l1, ...l2);
    for (let d = lead.length - 1; d >= 0; d--) {
      counter[d]!++;
      so += leadStrides[0]![d]!;
      doff += leadStrides[1]![d]!;
      if (counter[d]! < lead[d]!) break;
      so -= leadStrides[0]![d]! * lead[d]!;
      doff -= leadStrides[1]![d]! * lead[d]!;
      counter[d] = 0;
    }
  }
  return new Tensor(k.take(dst, n), shape);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const inStrides = stridesOf(x.shape);
  return stridedCopy(x, perm.map((p) => x.shape[p]!), perm.map((p) => inStrides[p]!), () => ref.permute(x, perm));
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  return stridedCopy(x, shape, broadcastStrides(x.shape, shape), () => ref.expand(x, shape));
}

/**
 * The sizes of an attention call ([B, T, heads * d] operands), or null where the kernels decline
 * it (the caller's composite then): a head dim that is not a multiple of 4, products the GEMM
 * would run in TypeScript (too small: then the composite's floats are the TypeScript GEMM's), or
 * no kernels.
 */
function attentionDims(q: Tensor, k: Tensor, v: Tensor, heads: number) {
  const [b, tq, dim] = q.shape as [number, number, number];
  const tk = k.shape[1]!, dimV = v.shape[2]!;
  const d = dim / heads, dv = dimV / heads;
  if (d % 4 !== 0 || dv % 4 !== 0 || b * heads * tq * tk * Math.min(d, dv) < WASM_MIN_MACS || !ready()) return null;
  return { b, tq, tk, dim, dimV, d, dv };
}

/** Scaled dot-product attention (attention.ts) over units of one head and a block of query rows,
 *  split over the threads; null where attentionDims declines the call. */
export function attention(q: Tensor, k: Tensor, v: Tensor, heads: number, scale: number, keepProbs: boolean): { out: Tensor; probs: Tensor | null } | null {
  const dims = attentionDims(q, k, v, heads);
  if (!dims) return null;
  const { b, tq, tk, dim, dimV, d, dv } = dims;
  const kr = rt();
  kr.reset();
  const qAt = kr.put(q.data), kAt = kr.put(k.data), vAt = kr.put(v.data);
  const out = kr.output(b * tq * dimV);
  const probs = keepProbs ? kr.output(b * heads * tq * tk) : 0;
  // units of one (item, head) and a block of query rows: enough units to share between the
  // threads (4 per thread), blocks of whole 4-row tiles
  const pairs = b * heads;
  const wanted = kr.threads > 1 ? 4 * kr.threads : 1;
  const blocks = Math.min(Math.ceil(tq / 4), Math.max(1, Math.ceil(wanted / pairs)));
  const rowsPerUnit = Math.ceil(Math.ceil(tq / blocks) / 4) * 4;
  const scratchBytes = Math.ceil((4 * attentionScratchFloats(rowsPerUnit, tk, d)) / 64) * 64;
  const scratch = kr.alloc((kr.threads * scratchBytes) / 4);
  const units: number[][] = [];
  for (let item = 0; item < b; item++) {
    for (let h = 0; h < heads; h++) {
      for (let i0 = 0; i0 < tq; i0 += rowsPerUnit) {
        const rows = Math.min(rowsPerUnit, tq - i0);
        units.push([
          qAt + 4 * ((item * tq + i0) * dim + h * d), kAt + 4 * (item * tk * dim + h * d), vAt + 4 * (item * tk * dimV + h * dv),
          out + 4 * ((item * tq + i0) * dimV + h * dv), keepProbs ? probs + 4 * (((item * heads + h) * tq + i0) * tk) : 0,
          rows, tk, dim, dim, dimV, dimV, d, dv, Math.fround(scale),
        ]);
      }
    }
  }
  kr.run('attention', units, { base: scratch, step: scratchBytes });
  return {
    out: new Tensor(kr.take(out, b * tq * dimV), [b, tq, dimV]),
    probs: keepProbs ? new Tensor(kr.take(probs, b * heads * tq * tk), [b, heads, tq, tk]) : null,
  };
}

/**
 * Attention's backward (attention.ts), one unit per item and head (a head's dK and dV sum over
 * all its query rows); null where attentionDims declines the call, as the forward.
 */
export function attentionBackward(
  q: Tensor, k: Tensor, v: Tensor, probs: Tensor, grad: Tensor, heads: number, scale: number,
): { dq: Tensor; dk: Tensor; dv: Tensor } | null {
  const dims = attentionDims(q, k, v, heads);
  if (!dims) return null;
  const { b, tq, tk, dim, dimV, d, dv } = dims;
  const kr = rt();
  kr.reset();
  const qAt = kr.put(q.data), kAt = kr.put(k.data), vAt = kr.put(v.data), pAt = kr.put(probs.data), gAt = kr.put(grad.data);
  const dq = kr.output(b * tq * dim), dk = kr.output(b * tk * dim), dvAt = kr.output(b * tk * dimV);
  const scratchBytes = Math.ceil((4 * attentionBackwardScratchFloats(tq, tk, dv)) / 64) * 64;
  const scratch = kr.alloc((kr.threads * scratchBytes) / 4);
  const units: number[][] = [];
  for (let item = 0; item < b; item++) {
    for (let h = 0; h < heads; h++) {
      const qk = (t: number): number => 4 * (item * t * dim + h * d);
      const vg = (t: number): number => 4 * (item * t * dimV + h * dv);
      units.push([
        qAt + qk(tq), kAt + qk(tk), vAt + vg(tk), gAt + vg(tq), pAt + 4 * (item * heads + h) * tq * tk,
        dq + qk(tq), dk + qk(tk), dvAt + vg(tk), tq, tk, dim, dimV, d, dv, Math.fround(scale),
      ]);
    }
  }
  kr.run('attentionBackward', units, { base: scratch, step: scratchBytes });
  return {
    dq: new Tensor(kr.take(dq, b * tq * dim), [b, tq, dim]),
    dk: new Tensor(kr.take(dk, b * tk * dim), [b, tk, dim]),
    dv: new Tensor(kr.take(dvAt, b * tk * dimV), [b, tk, dimV]),
  };
}
