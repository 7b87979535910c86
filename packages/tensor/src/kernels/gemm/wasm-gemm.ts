// The fast GEMM: pack in TypeScript into a WebAssembly memory, multiply in the emitted SIMD
// kernel (wasm-kernel.ts), on this thread or on the worker pool (pool.ts), copy C back out.
//
// One call lays out, from byte CONTROL_BYTES of the memory on:
//   unit table | packed A of each batch item | packed B of each item | C buffer of each item
// (an operand broadcast with stride 0 is packed once). C buffers are padded to whole MR x NR
// tiles; they start as zeros, or as a copy of C when accumulating, and the kernel adds into them.
// The work is cut into units of MC_ROWS rows of one item's C (and, when that gives too few units
// to share, column blocks too); units are independent, so threads can take them in any order.

import type { GemmCall } from './args.js';
import { packPanels, packedSize } from './pack.js';
import { CONTROL_BYTES, GemmPool, MAX_WORKERS, poolAvailable } from './pool.js';
import { buildGemmModule, UNIT, type KernelShape } from './wasm-kernel.js';
import { ModuleBuilder, type FunctionBody } from './wasm-builder.js';

/** Micro tile 4 x 8 (8 accumulator registers) and K blocks of 256: measured best on this
 *  machine among 2x16, 3x16, 4x8, 4x12, 5x8, 6x8 and 8x8 (see docs/gemm.md). */
export const KERNEL_SHAPE: KernelShape = { mr: 4, nr: 8, kc: 256 };
/** Rows of C per unit of work: the unit's A block (MC_ROWS x KC floats, 64 KiB) stays in L2
 *  while all B strips stream past it. */
const MC_ROWS = 64;
const PAGE = 65536;
/** The memory never grows past this; bigger problems are split (see WasmGemm.run). */
const MAX_PAGES = 16384; // 1 GiB
/** Problems needing more than this are cut in halves (by batch items, then rows). */
const SPLIT_BYTES = 256 * 1024 * 1024;

/** Whether this engine validates WebAssembly SIMD (a function doing one f32x4.add). */
export function hasWasmSimd(): boolean {
  return validates((f, v) => f.v128Zero().v128Zero().f32x4Add().set(v));
}

/** Whether relaxed SIMD validates (Node 20 needs --experimental-wasm-relaxed-simd; on in 22+). */
export function hasRelaxedSimd(): boolean {
  return validates((f, v) => f.v128Zero().v128Zero().v128Zero().f32x4RelaxedMadd().set(v));
}

function validates(emit: (f: FunctionBody, scratch: number) => void): boolean {
  if (typeof WebAssembly !== 'object') return false;
  const mod = new ModuleBuilder();
  const f = mod.addFunction('probe', [], []);
  emit(f, f.local('v128'));
  try {
    return WebAssembly.validate(mod.build());
  } catch {
    return false;
  }
}

/** A GEMM with explicit leading dimensions: X[r][c] = X[off + r*ldx + c]. The public call always
 *  has ld = the row length; splitting a big problem into row/column/K slices needs the general form. */
interface Problem extends GemmCall {
  lda: number;
  ldb: number;
  ldc: number;
}

/** Where one call puts everything in the memory (byte addresses), and how the work is cut. */
interface Layout {
  mPanels: number; nPanels: number; threads: number;
  rowBlockPanels: number; rowBlocks: number; colBlockPanels: number; colBlocks: number; units: number;
  aBytes: number; bBytes: number; ldcBuffer: number; cBytes: number;
  table: number; aBase: number; bBase: number; cBase: number; end: number;
}

export class WasmGemm {
  readonly relaxedSimd: boolean;
  readonly shared: boolean;
  /** Below this many flops (2*M*N*K over the batch) a call stays on one thread: waking a worker
   *  and waiting for it costs tens of microseconds (measured, see docs/gemm.md). */
  parallelMinFlops = 2e6;
  private readonly memory: WebAssembly.Memory;
  private readonly module: WebAssembly.Module;
  private readonly gemmUnit: (record: number) => void;
  private f32: Float32Array;
  private i32: Int32Array;
  private pool: GemmPool | null = null;

  constructor(relaxedSimd: boolean) {
    this.relaxedSimd = relaxedSimd;
    const initialPages = 64;
    let memory: WebAssembly.Memory;
    let shared = poolAvailable();
    try {
      memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared });
    } catch {
      // shared memory needs cross-origin isolation in browsers: run single-threaded without it
      shared = false;
      memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES });
    }
    this.shared = shared;
    this.memory = memory;
    const bytes = buildGemmModule({ ...KERNEL_SHAPE, relaxed: relaxedSimd, initialPages, maximumPages: MAX_PAGES, shared });
    this.module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(this.module, { env: { memory } });
    this.gemmUnit = instance.exports['gemmUnit'] as (record: number) => void;
    this.f32 = new Float32Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
  }

  /** Threads in use: this one plus the pool's workers. */
  get threads(): number {
    return 1 + (this.pool?.size ?? 0);
  }

  /** Units the pool's workers ran so far (tests check that the workers really took part). */
  get workerUnits(): number {
    return this.pool?.workerUnits ?? 0;
  }

  /** n = 1 closes the pool; n > 1 starts n - 1 workers (if shared memory and workers exist). */
  setThreads(n: number): void {
    const workers = Math.min(Math.max(1, Math.floor(n)), MAX_WORKERS + 1) - 1;
    if (this.pool && this.pool.size === workers) return;
    this.pool?.close();
    this.pool = null;
    if (workers > 0 && this.shared) this.pool = new GemmPool(this.module, this.memory, workers, UNIT.bytes);
  }

  run(call: GemmCall): void {
    this.runProblem({ ...call, lda: call.transA ? call.M : call.K, ldb: call.transB ? call.K : call.N, ldc: call.N });
  }

  private runProblem(p: Problem): void {
    const { M, N, K, batch } = p;
    if (M === 0 || N === 0 || batch === 0) return;
    if (K === 0) {
      // an empty sum: C = 0, or C unchanged when accumulating
      if (p.accumulate) return;
      for (let item = 0; item < batch; item++) {
        for (let r = 0, at = p.cOff + item * p.strideC; r < M; r++, at += p.ldc) p.C.fill(0, at, at + N);
      }
      return;
    }
    if (batch > 1 && p.strideC === 0) {
      // every item writes the same C: run them in order, as the reference does
      for (let item = 0; item < batch; item++) this.runProblem(itemOf(p, item));
      return;
    }
    const layout = this.layout(p);
    if (layout.end > SPLIT_BYTES) this.runHalves(p);
    else this.runFitting(p, layout);
  }

  /** Splits a problem too big for the memory: by batch items, else rows, else columns, else K. */
  private runHalves(p: Problem): void {
    if (p.batch > 1) {
      const half = Math.ceil(p.batch / 2);
      this.runProblem({ ...p, batch: half });
      this.runProblem({ ...p, batch: p.batch - half, aOff: p.aOff + half * p.strideA, bOff: p.bOff + half * p.strideB, cOff: p.cOff + half * p.strideC });
    } else if (p.M > 1) {
      const half = Math.ceil(p.M / 2);
      const aShift = p.transA ? half : half * p.lda;
      this.runProblem({ ...p, M: half });
      this.runProblem({ ...p, M: p.M - half, aOff: p.aOff + aShift, cOff: p.cOff + half * p.ldc });
    } else if (p.N > 1) {
      const half = Math.ceil(p.N / 2);
      const bShift = p.transB ? half * p.ldb : half;
      this.runProblem({ ...p, N: half });
      this.runProblem({ ...p, N: p.N - half, bOff: p.bOff + bShift, cOff: p.cOff + half });
    } else {
      const half = Math.ceil(p.K / 2);
      this.runProblem({ ...p, K: half });
      const aShift = p.transA ? half * p.lda : half;
      const bShift = p.transB ? half : half * p.ldb;
      this.runProblem({ ...p, K: p.K - half, aOff: p.aOff + aShift, bOff: p.bOff + bShift, accumulate: true });
    }
  }

  /** Where everything goes in the memory, and how the work is cut into units. */
  private layout(p: Problem): Layout {
    const { mr, nr } = KERNEL_SHAPE;
    const mPanels = Math.ceil(p.M / mr);
    const nPanels = Math.ceil(p.N / nr);
    const flops = 2 * p.M * p.N * p.K * p.batch;
    const threads = flops >= this.parallelMinFlops ? this.threads : 1;
    const rowBlockPanels = MC_ROWS / mr;
    const rowBlocks = Math.ceil(mPanels / rowBlockPanels);
    // Few row blocks (small M, small batch): cut columns too, so every thread gets work.
    const wanted = threads > 1 ? 4 * threads : 1;
    const colBlockPanels = Math.ceil(nPanels / Math.min(nPanels, Math.ceil(wanted / (p.batch * rowBlocks))));
    const colBlocks = Math.ceil(nPanels / colBlockPanels);
    const units = p.batch * rowBlocks * colBlocks;
    const aItems = p.strideA === 0 ? 1 : p.batch;
    const bItems = p.strideB === 0 ? 1 : p.batch;
    const aBytes = packedSize(p.M, p.K, mr) * 4;
    const bBytes = packedSize(p.N, p.K, nr) * 4;
    const ldcBuffer = nPanels * nr; // floats per row of a C buffer
    const cBytes = mPanels * mr * ldcBuffer * 4;
    const table = CONTROL_BYTES;
    const aBase = align64(table + units * UNIT.bytes);
    const bBase = align64(aBase + aItems * aBytes);
    const cBase = align64(bBase + bItems * bBytes);
    const end = cBase + p.batch * cBytes;
    return { mPanels, nPanels, threads, rowBlockPanels, rowBlocks, colBlockPanels, colBlocks, units, aBytes, bBytes, ldcBuffer, cBytes, table, aBase, bBase, cBase, end };
  }

  private runFitting(p: Problem, L: Layout): void {
    const { mr, nr } = KERNEL_SHAPE;
    this.ensureBytes(L.end);
    const { f32, i32 } = this;

    for (let item = 0; item < (p.strideA === 0 ? 1 : p.batch); item++) {
      const a = { src: p.A, off: p.aOff + item * p.strideA, rows: p.M, depth: p.K, rowStride: p.transA ? 1 : p.lda, colStride: p.transA ? p.lda : 1 };
      packPanels(a, mr, f32, (L.aBase + item * L.aBytes) / 4);
    }
    for (let item = 0; item < (p.strideB === 0 ? 1 : p.batch); item++) {
      // B packs as op(B) transposed: N rows of depth K
      const b = { src: p.B, off: p.bOff + item * p.strideB, rows: p.N, depth: p.K, rowStride: p.transB ? p.ldb : 1, colStride: p.transB ? 1 : p.ldb };
      packPanels(b, nr, f32, (L.bBase + item * L.bBytes) / 4);
    }
    for (let item = 0; item < p.batch; item++) {
      const buffer = (L.cBase + item * L.cBytes) / 4;
      if (p.accumulate) copyRows(p.C, p.cOff + item * p.strideC, p.ldc, f32, buffer, L.ldcBuffer, p.M, p.N);
      else f32.fill(0, buffer, buffer + p.M * L.ldcBuffer);
    }

    let record = L.table / 4;
    for (let item = 0; item < p.batch; item++) {
      const aItem = L.aBase + (p.strideA === 0 ? 0 : item) * L.aBytes;
      const bItem = L.bBase + (p.strideB === 0 ? 0 : item) * L.bBytes;
      const cItem = L.cBase + item * L.cBytes;
      for (let rb = 0; rb < L.rowBlocks; rb++) {
        const panel = rb * L.rowBlockPanels;
        for (let cb = 0; cb < L.colBlocks; cb++) {
          const strip = cb * L.colBlockPanels;
          i32[record + UNIT.a / 4] = aItem + panel * mr * p.K * 4;
          i32[record + UNIT.b / 4] = bItem + strip * nr * p.K * 4;
          i32[record + UNIT.c / 4] = cItem + (panel * mr * L.ldcBuffer + strip * nr) * 4;
          i32[record + UNIT.ldc / 4] = L.ldcBuffer * 4;
          i32[record + UNIT.mPanels / 4] = Math.min(L.rowBlockPanels, L.mPanels - panel);
          i32[record + UNIT.nPanels / 4] = Math.min(L.colBlockPanels, L.nPanels - strip);
          i32[record + UNIT.k / 4] = p.K;
          record += UNIT.bytes / 4;
        }
      }
    }

    if (L.threads > 1 && this.pool) this.pool.run(L.table, L.units, this.gemmUnit, UNIT.bytes);
    else for (let u = 0; u < L.units; u++) this.gemmUnit(L.table + u * UNIT.bytes);

    for (let item = 0; item < p.batch; item++) {
      copyRows(this.f32, (L.cBase + item * L.cBytes) / 4, L.ldcBuffer, p.C, p.cOff + item * p.strideC, p.ldc, p.M, p.N);
    }
  }

  /** Grows the memory to hold `bytes`; the typed-array views must be re-made after a grow. */
  private ensureBytes(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      this.memory.grow(Math.ceil((bytes - have) / PAGE));
      this.f32 = new Float32Array(this.memory.buffer);
      this.i32 = new Int32Array(this.memory.buffer);
    }
  }
}

function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Batch item `item` of p as a problem of its own. */
function itemOf(p: Problem, item: number): Problem {
  return { ...p, batch: 1, aOff: p.aOff + item * p.strideA, bOff: p.bOff + item * p.strideB, cOff: p.cOff + item * p.strideC };
}

/** Copies a rows x cols block between row-major layouts with row strides fromLd and toLd. */
function copyRows(from: Float32Array, fromOff: number, fromLd: number, to: Float32Array, toOff: number, toLd: number, rows: number, cols: number): void {
  if (fromLd === cols && toLd === cols) {
    to.set(from.subarray(fromOff, fromOff + rows * cols), toOff);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const at = fromOff + r * fromLd;
    if (cols < 16) for (let c = 0; c < cols; c++) to[toOff + r * toLd + c] = from[at + c]!;
    else to.set(from.subarray(at, at + cols), toOff + r * toLd);
  }
}
