// The fast GEMM: pack and multiply with the emitted SIMD kernels (wasm-kernel.ts) in the
// WebAssembly heap (../wasm/heap.ts), on this thread or with the thread team (../wasm/team.ts).
//
// One call lays out, in a region (a heap block kept between calls, grown when a call needs more):
//   unit table | pack table | A of each item | B of each item | packed B of each item |
//   C buffer of each item | one A scratch block per thread
// (an operand broadcast with stride 0 goes in once). An operand that already lives in the heap
// (tensor data from the storage pool) is packed from where it is and its copy area stays unused;
// others are copied in, which is a memcpy; the transposes are absorbed by packing, done in
// WebAssembly SIMD. Packing in plain TypeScript, element by element, measured 2-6 ns a float
// here, the copy plus SIMD packing well under 1: for small M (weight gradients, attention) that
// was a third of the call.
// Steps: (1) copy A, B (and C when accumulating) in where needed; (2) pack B into strips: pack
// tasks, shared by the threads when there is enough of it; (3) compute units of mcRows rows of
// one item's C (and, when that gives too few units to share, column blocks too); units are
// independent, so threads take them in any order; each packs its rows of A into its thread's
// scratch; (4) move the real M x N part of the C buffers (padded to whole MR x NR tiles) to C:
// inside the heap when C lives there, else squeezed and copied out. A C in the heap that is whole
// tiles (M a multiple of MR, N of NR: most of a ViT's products) needs no buffer: the micro-kernel
// writes (and, accumulating, reads) it in place. Moving rows cost 8 ms of a 72 ms training step.
//
// Reading past an operand's end is fine: the last panel or strip reads up to MR rows (NR
// columns) past the real ones, and what it reads only reaches padding rows and columns of the C
// buffers, which are never moved out. The heap keeps HEAP_SLACK bytes past its last block, so
// those reads stay inside the memory.

import type { GemmCall } from './args.js';
import { MAX_WORKERS, threadTeam, type TeamModule } from '../wasm/team.js';
import { HEAP_INITIAL_PAGES, HEAP_MAX_PAGES, HEAP_SLACK, Heap, theHeap } from '../wasm/heap.js';
import { buildGemmModule, PACK, UNIT, type KernelShape } from './wasm-kernel.js';
import { ModuleBuilder, type FunctionBody } from '../wasm/builder.js';
import { PackedOperand } from './packed.js';

export interface Tiling extends KernelShape {
  /** rows of C per unit of work (a multiple of mr) */
  mcRows: number;
  /** at most this many columns of C per unit (a multiple of nr) */
  ncCols: number;
}

/** Micro tile 4 x 8 (8 accumulator registers): measured best on this machine among 2x16, 3x16,
 *  4x8, 4x12, 5x8, 6x8 and 8x8. K blocks of 256 and units of 64 rows: the unit's packed A block
 *  (64 x 256 floats, 64 KiB) stays in L2 while the B strips stream past it (see docs/gemm.md). */
export const DEFAULT_TILING: Tiling = { mr: 4, nr: 8, kc: 256, mcRows: 64, ncCols: 1 << 20 };
/** B strips per packing task, and how many floats of packed B make it worth waking the pool. */
const PACK_TASK_STRIPS = 16;
const PARALLEL_PACK_FLOATS = 1 << 17;

/** Whether this engine validates WebAssembly SIMD (a function doing one f32x4.add). */
export function hasWasmSimd(): boolean {
  return validates((f, v) => f.f32x4(0).f32x4(0).op('f32x4.add').set(v));
}

/** Whether relaxed SIMD validates (Node 20 needs --experimental-wasm-relaxed-simd; on in 22+). */
export function hasRelaxedSimd(): boolean {
  return validates((f, v) => f.f32x4(0).f32x4(0).f32x4(0).op('f32x4.relaxed_madd').set(v));
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
  threads: number;
  mPanels: number; nPanels: number;
  rowBlockPanels: number; rowBlocks: number; colBlockPanels: number; colBlocks: number;
  units: number; packTasks: number;
  aItems: number; bItems: number;
  aBytes: number; bBytes: number; aSlack: number; bSlack: number; bPackedBytes: number; ldcBuffer: number; cBytes: number; scratchBytes: number;
  unitTable: number; biasBase: number; packTable: number; aBase: number; bBase: number; bPackedBase: number; cBase: number; scratch: number;
  end: number;
}

export class WasmGemm {
  readonly relaxedSimd: boolean;
  readonly shared: boolean;
  /** Below this many flops (2*M*N*K over the batch) a call stays on one thread: waking a worker
   *  and waiting for it costs 15-30 microseconds (measured, see docs/gemm.md). */
  parallelMinFlops = 8e6;
  /** Problems needing more memory than this are cut in halves (by batch items, then rows, ...). */
  splitBytes = 256 * 1024 * 1024;
  private readonly heap: Heap;
  private readonly module: WebAssembly.Module;
  private readonly gemmUnit: (record: number, scratch: number) => void;
  private readonly packTask: (record: number) => void;
  private readonly moveRowsExport: (src: number, srcLd: number, dst: number, dstLd: number, rows: number, rowBytes: number) => void;
  private readonly copyRows: (src: number, srcLd: number, dst: number, dstLd: number, rows: number, rowBytes: number) => void;
  /** The call region: a heap block, kept between calls and replaced by a bigger one when needed. */
  private region = { at: 0, bytes: 0 };
  /** This engine's module in the thread team (registered with the first parallel call). */
  private teamModule: TeamModule | null = null;
  private wantedThreads = 1;

  constructor(relaxedSimd: boolean, readonly tiling: Tiling = DEFAULT_TILING) {
    this.relaxedSimd = relaxedSimd;
    this.heap = theHeap();
    this.shared = this.heap.shared; // without shared memory (a browser page that is not cross-origin isolated): one thread
    const bytes = buildGemmModule({ ...tiling, relaxed: relaxedSimd, initialPages: HEAP_INITIAL_PAGES, maximumPages: HEAP_MAX_PAGES, shared: this.shared });
    this.module = new WebAssembly.Module(bytes);
    const exports = new WebAssembly.Instance(this.module, { env: { memory: this.heap.memory } }).exports;
    this.gemmUnit = exports['gemmUnit'] as (record: number, scratch: number) => void;
    this.packTask = exports['packTask'] as (record: number) => void;
    this.moveRowsExport = exports['moveRows'] as WasmGemm['moveRowsExport'];
    this.copyRows = exports['copyRows'] as WasmGemm['copyRows'];
  }

  /** Threads a big enough call uses: this one plus the pool's workers (once they are up). */
  get threads(): number {
    return this.shared ? this.wantedThreads : 1;
  }

  /** Units the thread team's workers ran so far, for all kernels (tests check that the workers
   *  really took part). */
  get workerUnits(): number {
    return threadTeam()?.workerUnits ?? 0;
  }

  /**
   * Uses n threads from now on: this one and n - 1 of the thread team's workers (../wasm/team.ts).
   * n = 1 leaves them to other kernels. With `wait`, missing workers start now and this returns
   * once they are up (a worker takes ~50 ms to start); without, they start on the first call big
   * enough to use them, and join calls as they come up.
   */
  setThreads(n: number, wait = true): void {
    this.wantedThreads = Math.min(Math.max(1, Math.floor(n)), MAX_WORKERS + 1);
    if (this.threads > 1) threadTeam()?.grow(this.wantedThreads - 1, wait ? 5000 : 0);
  }

  run(call: GemmCall): void {
    this.runProblem({ ...call, lda: call.transA ? call.M : call.K, ldb: call.transB ? call.K : call.N, ldc: call.N });
  }

  private runProblem(p: Problem): void {
    const { M, N, K, batch } = p;
    if (M === 0 || N === 0 || batch === 0) return;
    if (K === 0) {
      // an empty sum: C = 0, or C unchanged when accumulating; then the bias
      for (let item = 0; item < batch; item++) {
        for (let r = 0, at = p.cOff + item * p.strideC; r < M; r++, at += p.ldc) {
          if (!p.accumulate) p.C.fill(0, at, at + N);
          if (p.bias) for (let j = 0; j < N; j++) p.C[at + j] = p.C[at + j]! + p.bias[p.biasOff + j]!;
        }
      }
      return;
    }
    if (batch > 1 && p.strideC === 0) {
      // every item writes the same C: run them in order, as the reference does
      for (let item = 0; item < batch; item++) this.runProblem(itemOf(p, item));
      return;
    }
    if (p.packedB && p.packedB.nr !== this.tiling.nr) p = { ...p, packedB: null }; // packed for another tiling
    const layout = this.layout(p);
    // a problem too big for the memory is cut up as usual, packing B per piece (the pieces of
    // such a product take far longer than packing)
    if (layout.end > this.splitBytes && p.batch * p.M * p.N * p.K > 1) this.runHalves({ ...p, packedB: null });
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
      this.runProblem({ ...p, N: p.N - half, bOff: p.bOff + bShift, cOff: p.cOff + half, biasOff: p.biasOff + half });
    } else {
      const half = Math.ceil(p.K / 2);
      this.runProblem({ ...p, K: half, bias: null }); // the bias goes on last, with the second half
      const aShift = p.transA ? half * p.lda : half;
      const bShift = p.transB ? half : half * p.ldb;
      this.runProblem({ ...p, K: p.K - half, aOff: p.aOff + aShift, bOff: p.bOff + bShift, accumulate: true });
    }
  }

  /** Where everything goes in the memory, and how the work is cut into units. */
  private layout(p: Problem): Layout {
    const { mr, nr, kc, mcRows, ncCols } = this.tiling;
    const mPanels = Math.ceil(p.M / mr);
    const nPanels = Math.ceil(p.N / nr);
    const flops = 2 * p.M * p.N * p.K * p.batch;
    const threads = flops >= this.parallelMinFlops ? this.threads : 1;
    const wanted = threads > 1 ? 4 * threads : 1;
    // Few rows (a weight gradient: M = out features, K = tokens): smaller row blocks, down to 4
    // panels, before cutting columns, since every column block packs the same rows of A again
    // (64 x 64 x 2176 on two threads: 0.31 ms in blocks of 16 rows, 0.38-0.45 in one of 64).
    const fullBlock = mcRows / mr;
    const share = Math.ceil(mPanels / Math.ceil(wanted / p.batch)); // panels per wanted unit
    const rowBlockPanels = Math.min(fullBlock, Math.max(4, share));
    const rowBlocks = Math.ceil(mPanels / rowBlockPanels);
    // Still few row blocks (small M, small batch): cut columns too, so every thread gets work.
    const colBlocksWanted = Math.max(Math.ceil(wanted / (p.batch * rowBlocks)), Math.ceil(nPanels / (ncCols / nr)));
    const colBlockPanels = Math.ceil(nPanels / Math.min(nPanels, colBlocksWanted));
    const colBlocks = Math.ceil(nPanels / colBlockPanels);
    const units = p.batch * rowBlocks * colBlocks;
    const aItems = p.strideA === 0 ? 1 : p.batch;
    const bItems = p.packedB ? 0 : p.strideB === 0 ? 1 : p.batch; // a packed B is neither copied nor packed
    const packTasks = bItems * Math.ceil(nPanels / PACK_TASK_STRIPS);
    // A and B as stored, the items one after another, and after the last one room for the rows
    // its last panel or strip reads past the end: whole rows when k runs along the stored rows, a
    // few floats when it runs across them. (Earlier items read into the next one: any finite
    // numbers do, they only reach padding.)
    const aBytes = p.M * p.K * 4;
    const bBytes = bItems ? p.K * p.N * 4 : 0;
    const aSlack = mr * (p.transA ? 1 : p.K) * 4;
    const bSlack = bItems ? nr * (p.transB ? p.K : 1) * 4 : 0;
    const bPackedBytes = nPanels * nr * p.K * 4;
    const ldcBuffer = nPanels * nr; // floats per row of a C buffer
    const cBytes = align64(mPanels * mr * ldcBuffer * 4);
    const scratchBytes = mcRows * kc * 4;
    const biasBytes = p.bias ? nPanels * nr * 4 : 0; // the bias row, padded to whole strips
    const unitTable = 0; // offsets in the call region; runFitting adds its address
    const biasBase = align64(unitTable + units * UNIT.bytes);
    const packTable = align64(biasBase + biasBytes);
    const aBase = align64(packTable + packTasks * PACK.bytes);
    const bBase = align64(aBase + aItems * aBytes + aSlack);
    const bPackedBase = align64(bBase + bItems * bBytes + bSlack);
    const cBase = bPackedBase + bItems * bPackedBytes;
    const scratch = cBase + p.batch * cBytes;
    const end = scratch + threads * scratchBytes;
    return {
      threads, mPanels, nPanels, rowBlockPanels, rowBlocks, colBlockPanels, colBlocks, units, packTasks, aItems, bItems,
      aBytes, bBytes, aSlack, bSlack, bPackedBytes, ldcBuffer, cBytes, scratchBytes, unitTable, biasBase, packTable, aBase, bBase, bPackedBase, cBase, scratch, end,
    };
  }

  private runFitting(p: Problem, layout: Layout): void {
    const { mr, nr } = this.tiling;
    const L = this.inRegion(layout);
    const { f32, i32 } = this.heap;

    // (1) operands: where they are when they live in the heap (and lie as the call reads them:
    // rows of the full width, items one after another), else copied in with zeros after the
    // last item for the last panel and strip to read
    const [aRows, aCols] = p.transA ? [p.K, p.M] : [p.M, p.K];
    let aBase = this.inPlace(p.A, p.aOff, p.strideA, p.lda, L.aItems, aRows, aCols, L.aSlack);
    if (aBase < 0) {
      aBase = L.aBase;
      copyItems(p.A, p.aOff, p.strideA, p.lda, f32, aBase / 4, aRows * aCols, aCols, L.aItems, aRows, aCols);
      const end = aBase / 4 + L.aItems * aRows * aCols;
      f32.fill(0, end, end + L.aSlack / 4);
    }
    // C written in place by the micro-kernel: when it lives in the heap and is whole tiles (M a
    // multiple of MR, N of NR), so no tile reaches past its rows or columns
    const cAt = this.heap.address(p.C);
    const direct = cAt >= 0 && p.M % mr === 0 && p.N % nr === 0;
    if (p.accumulate && !direct) {
      // C goes in packed tight at the start of the C area, then each item is spread out to its
      // padded buffer, last item first so nothing is overwritten before it moves
      copyItems(p.C, p.cOff, p.strideC, p.ldc, f32, L.cBase / 4, p.M * p.N, p.N, p.batch, p.M, p.N);
      for (let item = p.batch - 1; item >= 0; item--) {
        this.moveRows(L.cBase + item * p.M * p.N * 4, p.N * 4, L.cBase + item * L.cBytes, L.ldcBuffer * 4, p.M, p.N * 4);
      }
    }

    // the bias row, copied in with zeros for the padding columns
    if (p.bias) {
      f32.set(p.bias.subarray(p.biasOff, p.biasOff + p.N), L.biasBase / 4);
      f32.fill(0, L.biasBase / 4 + p.N, L.biasBase / 4 + L.nPanels * nr);
    }

    // (2) pack B (B copied in first where needed), unless the call brings it packed
    this.packOperandB(p, L, L.bPackedBase);

    // (3) compute units
    let record = L.unitTable / 4;
    for (let item = 0; item < p.batch; item++) {
      const aItem = aBase + (p.strideA === 0 ? 0 : item) * L.aBytes;
      const bItem = p.packedB ? p.packedB.at : L.bPackedBase + (p.strideB === 0 ? 0 : item) * L.bPackedBytes;
      const cItem = direct ? cAt + 4 * (p.cOff + item * p.strideC) : L.cBase + item * L.cBytes;
      const ldc = direct ? p.ldc : L.ldcBuffer; // floats from one row of C (or its buffer) to the next
      for (let rb = 0; rb < L.rowBlocks; rb++) {
        const panel = rb * L.rowBlockPanels;
        for (let cb = 0; cb < L.colBlocks; cb++) {
          const strip = cb * L.colBlockPanels;
          // op(A)[i][0] is at row i of A as stored, or at column i when A is transposed
          i32[record + UNIT.a / 4] = aItem + panel * mr * (p.transA ? 1 : aCols) * 4;
          i32[record + UNIT.aLd / 4] = aCols * 4;
          i32[record + UNIT.aKContiguous / 4] = p.transA ? 0 : 1;
          i32[record + UNIT.b / 4] = bItem + strip * nr * p.K * 4;
          i32[record + UNIT.c / 4] = cItem + (panel * mr * ldc + strip * nr) * 4;
          i32[record + UNIT.ldc / 4] = ldc * 4;
          i32[record + UNIT.mPanels / 4] = Math.min(L.rowBlockPanels, L.mPanels - panel);
          i32[record + UNIT.nPanels / 4] = Math.min(L.colBlockPanels, L.nPanels - strip);
          i32[record + UNIT.k / 4] = p.K;
          i32[record + UNIT.loadC / 4] = p.accumulate ? 1 : 0;
          i32[record + UNIT.bias / 4] = p.bias ? L.biasBase + strip * nr * 4 : 0;
          record += UNIT.bytes / 4;
        }
      }
    }
    this.runJob('gemmUnit', L.unitTable, L.units, UNIT.bytes, { base: L.scratch, step: L.scratchBytes }, L.threads);

    // (4) out: nothing to do when written in place; C's rows straight from the buffers when C
    // lives in the heap; else squeeze the padded buffers together at the start of the C area
    // (first item first), then copy them out
    if (direct) return;
    if (cAt >= 0) {
      for (let item = 0; item < p.batch; item++) {
        this.copyRows(L.cBase + item * L.cBytes, L.ldcBuffer * 4, cAt + 4 * (p.cOff + item * p.strideC), p.ldc * 4, p.M, p.N * 4);
      }
      return;
    }
    for (let item = 0; item < p.batch; item++) {
      this.moveRows(L.cBase + item * L.cBytes, L.ldcBuffer * 4, L.cBase + item * p.M * p.N * 4, p.N * 4, p.M, p.N * 4);
    }
    copyItems(this.heap.f32, L.cBase / 4, p.M * p.N, p.N, p.C, p.cOff, p.strideC, p.ldc, p.batch, p.M, p.N);
  }

  /** The byte address of an operand's first item where it can be read in place (it lives in the
   *  heap, rows of the full width, items one after another, its overread inside the heap's
   *  slack), else -1: it is copied in. */
  private inPlace(array: Float32Array, off: number, stride: number, ld: number, items: number, rows: number, cols: number, slack: number): number {
    const at = this.heap.address(array);
    const tight = ld === cols && (items === 1 || stride === rows * cols);
    return at >= 0 && tight && slack <= HEAP_SLACK ? at + 4 * off : -1;
  }

  /**
   * op(B) of each of the layout's bItems B items packed to dst (one after another, bPackedBytes
   * each): B read where it is when it lives in the heap, else copied in first (L.bBase). op(B)
   * transposed is N rows of depth K; with B transposed, k runs along B's rows.
   */
  private packOperandB(p: Problem, L: Layout, dst: number): void {
    if (L.bItems === 0) return;
    const { nr } = this.tiling;
    const [bRows, bCols] = p.transB ? [p.N, p.K] : [p.K, p.N];
    let bBase = this.inPlace(p.B, p.bOff, p.strideB, p.ldb, L.bItems, bRows, bCols, L.bSlack);
    if (bBase < 0) {
      bBase = L.bBase;
      copyItems(p.B, p.bOff, p.strideB, p.ldb, this.heap.f32, bBase / 4, bRows * bCols, bCols, L.bItems, bRows, bCols);
      const end = bBase / 4 + L.bItems * bRows * bCols;
      this.heap.f32.fill(0, end, end + L.bSlack / 4);
    }
    const i32 = this.heap.i32;
    let record = L.packTable / 4;
    for (let item = 0; item < L.bItems; item++) {
      for (let strip = 0; strip < L.nPanels; strip += PACK_TASK_STRIPS) {
        i32[record + PACK.src / 4] = bBase + item * L.bBytes + strip * nr * (p.transB ? p.K : 1) * 4;
        i32[record + PACK.ld / 4] = bCols * 4;
        i32[record + PACK.kContiguous / 4] = p.transB ? 1 : 0;
        i32[record + PACK.panels / 4] = Math.min(PACK_TASK_STRIPS, L.nPanels - strip);
        i32[record + PACK.depth / 4] = p.K;
        i32[record + PACK.dst / 4] = dst + item * L.bPackedBytes + strip * nr * p.K * 4;
        record += PACK.bytes / 4;
      }
    }
    const parallelPack = L.threads > 1 && L.bItems * L.bPackedBytes >= PARALLEL_PACK_FLOATS * 4;
    this.runJob('packTask', L.packTable, L.packTasks, PACK.bytes, null, parallelPack ? L.threads : 1);
  }

  /**
   * op(B) packed once, for calls that pass it as GemmArgs.packedB (a layer's weights at
   * inference): B is K x N row-major, or N x K when transB. A copy: later changes to B are not in it.
   */
  packB(B: Float32Array, transB: boolean, K: number, N: number): PackedOperand {
    if (B.length < K * N) throw new Error(`WasmGemm.packB: B has ${B.length} values, a ${K}x${N} op(B) needs ${K * N}`);
    if (K * N === 0) return new PackedOperand(this.heap, 0, 0, K, N, this.tiling.nr); // nothing to pack (nor to multiply)
    const probe: Problem = {
      transA: false, transB, M: 1, N, K, A: B, B, C: B, batch: 1, aOff: 0, bOff: 0, cOff: 0, strideA: K, strideB: K * N, strideC: N,
      accumulate: false, bias: null, biasOff: 0, packedB: null, lda: K, ldb: transB ? K : N, ldc: N,
    };
    const L = this.inRegion(this.layout(probe));
    const at = this.heap.alloc(L.bPackedBytes);
    this.packOperandB(probe, L, at);
    return new PackedOperand(this.heap, at, L.bPackedBytes, K, N, this.tiling.nr);
  }

  /**
   * Runs `count` records of `recordBytes` from byte address `table` through export `fn` (a
   * compute unit also gets its thread's scratch: scratch.base + thread * scratch.step, this
   * thread being 0), on the thread team's workers as well where `threads` > 1.
   */
  private runJob(fn: 'packTask' | 'gemmUnit', table: number, count: number, recordBytes: number, scratch: { base: number; step: number } | null, threads: number): void {
    const runHere = fn === 'packTask' ? this.packTask : (record: number) => this.gemmUnit(record, scratch!.base);
    const team = threads > 1 && count > 1 ? threadTeam() : null;
    if (!team) {
      for (let u = 0; u < count; u++) runHere(table + u * recordBytes);
      return;
    }
    team.grow(threads - 1);
    this.teamModule ??= team.register(this.module, ['gemmUnit', 'packTask']);
    team.run({ module: this.teamModule, fn, count, table, nargs: 0, stride: recordBytes, threadArg: scratch ?? undefined, threads }, (u) => runHere(table + u * recordBytes));
  }

  /** Rows from one place in the memory to another (byte addresses and strides); see moveRows in
   *  wasm-kernel.ts. */
  private moveRows(src: number, srcLd: number, dst: number, dstLd: number, rows: number, rowBytes: number): void {
    if (src !== dst || srcLd !== dstLd) this.moveRowsExport(src, srcLd, dst, dstLd, rows, rowBytes);
  }

  /** The layout moved into the call region, which is (re)allocated to hold it. */
  private inRegion(L: Layout): Layout {
    if (L.end > this.region.bytes) {
      if (this.region.bytes > 0) this.heap.free(this.region.at, this.region.bytes);
      const bytes = Heap.blockBytes(L.end);
      this.region = { at: this.heap.alloc(bytes), bytes };
    }
    const at = this.region.at;
    return {
      ...L, unitTable: at + L.unitTable, biasBase: at + L.biasBase, packTable: at + L.packTable, aBase: at + L.aBase, bBase: at + L.bBase,
      bPackedBase: at + L.bPackedBase, cBase: at + L.cBase, scratch: at + L.scratch, end: at + L.end,
    };
  }
}

function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Batch item `item` of p as a problem of its own. */
function itemOf(p: Problem, item: number): Problem {
  return { ...p, batch: 1, aOff: p.aOff + item * p.strideA, bOff: p.bOff + item * p.strideB, cOff: p.cOff + item * p.strideC };
}

/** Copies `items` matrices of rows x cols: item i from `from` at fromOff + i*fromStride with row
 *  stride fromLd, to `to` at toOff + i*toStride with row stride toLd. */
function copyItems(
  from: Float32Array, fromOff: number, fromStride: number, fromLd: number,
  to: Float32Array, toOff: number, toStride: number, toLd: number,
  items: number, rows: number, cols: number,
): void {
  const size = rows * cols;
  const tight = (stride: number, ld: number): boolean => ld === cols && (items === 1 || stride === size);
  if (tight(fromStride, fromLd) && tight(toStride, toLd)) {
    to.set(from.subarray(fromOff, fromOff + items * size), toOff); // one memcpy
    return;
  }
  for (let item = 0; item < items; item++) {
    copyRows(from, fromOff + item * fromStride, fromLd, to, toOff + item * toStride, toLd, rows, cols);
  }
}

/** Copies a rows x cols block between row-major layouts with row strides fromLd and toLd. */
function copyRows(from: Float32Array, fromOff: number, fromLd: number, to: Float32Array, toOff: number, toLd: number, rows: number, cols: number): void {
  if (fromLd === cols && toLd === cols) {
    to.set(from.subarray(fromOff, fromOff + rows * cols), toOff);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const at = fromOff + r * fromLd, to0 = toOff + r * toLd;
    // a subarray costs an allocation: short rows go element by element
    if (cols < 128) for (let c = 0; c < cols; c++) to[to0 + c] = from[at + c]!;
    else to.set(from.subarray(at, at + cols), to0);
  }
}
