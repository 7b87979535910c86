// The fast packed ternary matmul: WebAssembly SIMD emitted from TypeScript (@bitvit/tensor's `wasm`
// module builder), with the T-MAC table lookup done by `i8x16.swizzle`, 16 output rows at a time.
// Same result as ternaryMatmulI2 in ternary-matmul.ts: the integer sums exactly, the final rescale
// in float32.
//
// The idea (T-MAC, arXiv 2407.00088; bitnet.cpp's TL kernels work the same way):
// - A packed i2 byte holds 4 weights; its low nibble c0 + 4*c1 codes the pair (w0, w1), its high
//   nibble the pair (w2, w3). For one token and one pair of inputs (x0, x1) there are only 9 pair
//   sums (c0-1)*x0 + (c1-1)*x1; put them in a 16-entry table and a nibble is a table index.
// - `i8x16.swizzle(table, indices)` looks up 16 indices at once. Lay the weights out so that 16
//   consecutive bytes are the same byte column of 16 output rows: one swizzle then gives the pair
//   sums of 16 rows, i.e. 32 ternary multiply-adds with no multiply, from one 16-byte load.
// - A pair sum needs 9 bits (|sum| <= 256) but swizzle returns bytes. So split each input
//   x = 16*h + l (h in [-8, 8], l in [-8, 7]) and keep two byte tables per pair, one of l sums and
//   one of h sums (each in [-16, 16]): pair sum = a + 16*b, exactly. The small parts add up in
//   int8 lanes over 2 byte columns (|a|, |b| <= 64), are then combined as a + 16*b in int16 lanes
//   (|sum| <= 512 a column, so safe for 62 columns) and in int32 after that. (The other split, low
//   byte + 256 * high byte, puts 0..255 in the low byte: it must be widened after every lookup.)
// - Per byte column and 16 rows: 1 weight load, 3 ops for the two nibbles, 4 table loads, 4
//   swizzles, 4 int8 adds for 64 multiply-adds. A token's tables (64 bytes per 4 inputs) stay in
//   L1; the weights (2 bits each) stream from L2, 16x fewer bytes than float32 weights.
// - Measured on this machine (bench/ternary.bench.ts): ~30 GMAC/s on one core with plain SIMD,
//   ~40 with relaxed SIMD's swizzle (plain swizzle costs V8 an extra saturating add per lookup to
//   zero out-of-range indices, which ours never are). Variants tried and dropped: 3 columns per
//   int8 step, and a and b kept apart in int16 (both ~5% slower: more registers live, V8 spills).
//
// Layout in the arena (ternary-runtime.ts: one WebAssembly memory for all weight matrices):
//   weights  row blocks of 16 rows: for each block, for each byte column k, 16 bytes = byte k of
//            rows 16b..16b+15. Rows pad to a multiple of 16, columns to a multiple of 4, with 0x55
//            (zero weights); padded inputs are 0 too, so padding adds nothing.
//   x        a job's tokens, int8, rows padded to 4 * columns bytes with zeros
//   xf       the same as float32, when the kernel quantizes them (linear())
//   out      float32 rows of the padded output width
//   per thread:
//   tables   per byte column k, 64 bytes: the l-table and the h-table of the low nibble's pair,
//            then the same for the high nibble's pair
//   split    the current token's l row and h row
//   y        int32 sums of the current 16 rows

import { checkTernaryMatmulArgs, scratchScales } from './check-args.js';
import { COLUMN_MULTIPLE, ROWS_PER_BLOCK, engineHasRelaxedSwizzle, engineHasSimd, type TernaryModuleOptions } from './ternary-module.js';
import { ternaryRuntime, type TernaryRuntime } from './ternary-runtime.js';
import { packedRowBytes } from '../packing.js';

export { engineHasRelaxedSwizzle, type TernaryModuleOptions } from './ternary-module.js';
export { setTernaryThreads, ternaryThreads } from './ternary-runtime.js';

/** Tokens per job: bounds the arena's activation and result buffers (1024 x 1536 float inputs
 *  is 6 MiB) while keeping the cost of waking the threads small next to a job's work. */
const TOKENS_PER_JOB = 1024;
/** A unit of work (what one thread takes at a time) is at most this many tokens. */
const MAX_UNIT_TOKENS = 16;
/** Jobs below this many multiply-adds (~150 us on one core) run on the calling thread: waking a
 *  worker costs 10-50 us, more on a busy machine, and a 65-token 192 x 192 layer gained nothing. */
const PARALLEL_MIN_MACS = 1 << 22;
/** Weight bytes per pass over a unit's tokens, so a pass's weights stay in L2 while each token
 *  of the unit reads them (a token's tables are rebuilt once per pass). */
const WEIGHT_BYTES_PER_PASS = 192 * 1024;
const align16 = (n: number): number => (n + 15) & ~15;

/** Whether the WebAssembly SIMD kernel can run here (else use ternaryMatmulI2). */
export function wasmTernaryAvailable(): boolean {
  return engineHasSimd();
}

/**
 * Reorders i2-packed rows (packing.ts) into the kernel's row-block layout: blocks of 16 rows, and
 * in a block byte column by byte column, 16 bytes each. Rows pad to a multiple of 16 and columns
 * to a multiple of 4 with 0x55 (four zero weights). Only bytes move; no code changes.
 */
export function toRowBlocks(packed: Uint8Array, outFeatures: number, inFeatures: number): { blocks: Uint8Array; columns: number } {
  const rowBytes = packedRowBytes('i2', inFeatures);
  const columns = Math.ceil(rowBytes / COLUMN_MULTIPLE) * COLUMN_MULTIPLE;
  const blockCount = Math.ceil(outFeatures / ROWS_PER_BLOCK);
  const blocks = new Uint8Array(blockCount * ROWS_PER_BLOCK * columns).fill(0x55);
  for (let o = 0; o < outFeatures; o++) {
    const base = Math.floor(o / ROWS_PER_BLOCK) * ROWS_PER_BLOCK * columns + (o % ROWS_PER_BLOCK);
    for (let c = 0; c < rowBytes; c++) blocks[base + c * ROWS_PER_BLOCK] = packed[o * rowBytes + c]!;
  }
  return { blocks, columns };
}

/**
 * One i2-packed weight matrix prepared for the SIMD kernel: the weights are reordered once and
 * stay in the arena, so a call copies only activations in and results out. Calls use the worker
 * threads of ternary-runtime.ts (see setTernaryThreads) when the job is big enough.
 *
 *   const kernel = new TernaryMatmulI2Wasm(packI2(codes, out, in), out, in);
 *   kernel.matmul(xInt8, tokens, weightScale, actScale, bias, y); // = ternaryMatmulI2(...)
 *   kernel.linear(xFloat, tokens, weightScale, bias, y);          // quantize x, then the same
 *
 * The arena is never freed: a prepared matrix stays for the life of the process (a ViT-tiny's
 * 73 layers take 2.7 MB).
 */
export class TernaryMatmulI2Wasm {
  /** Bytes of packed weights the kernel reads per pass (padding included). */
  readonly weightBytes: number;
  private readonly runtime: TernaryRuntime;
  private readonly packedRowBytes: number;
  private readonly columns: number;
  private readonly blockCount: number;
  private readonly outPad: number;
  private readonly wPtr: number;

  /** `options` picks a kernel variant (tests and benchmarks); by default the best this engine runs. */
  constructor(packed: Uint8Array, readonly outFeatures: number, readonly inFeatures: number, options?: TernaryModuleOptions) {
    if (!engineHasSimd()) throw new Error('TernaryMatmulI2Wasm: this engine has no WebAssembly SIMD; use ternaryMatmulI2');
    if (options?.relaxedSwizzle && !engineHasRelaxedSwizzle()) {
      throw new Error('TernaryMatmulI2Wasm: relaxedSwizzle asked, but this engine has no relaxed SIMD');
    }
    for (const [n, v] of [['outFeatures', outFeatures], ['inFeatures', inFeatures]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`TernaryMatmulI2Wasm: ${n} must be a non-negative integer, got ${v}`);
    }
    this.packedRowBytes = packedRowBytes('i2', inFeatures);
    if (packed.length !== outFeatures * this.packedRowBytes) {
      throw new Error(
        `TernaryMatmulI2Wasm: packed has length ${packed.length}, expected ${outFeatures * this.packedRowBytes} (outFeatures ${outFeatures} rows of ${this.packedRowBytes} bytes)`,
      );
    }
    this.runtime = ternaryRuntime(options ?? { relaxedSwizzle: engineHasRelaxedSwizzle() });
    const { blocks, columns } = toRowBlocks(packed, outFeatures, inFeatures);
    this.columns = columns;
    this.blockCount = Math.ceil(outFeatures / ROWS_PER_BLOCK);
    this.outPad = this.blockCount * ROWS_PER_BLOCK;
    this.weightBytes = blocks.length;
    this.wPtr = this.runtime.alloc(blocks.length);
    new Uint8Array(this.runtime.bytes, this.wPtr, blocks.length).set(blocks);
  }

  /** y[t, o] = (sum_i x[t, i] * W[o, i]) * (weightScale[o or 0] / actScale[t]) + bias[o]. */
  matmul(x: Int8Array, tokens: number, weightScale: Float32Array, actScale: Float32Array, bias: Float32Array | null, out: Float32Array): void {
    this.check('TernaryMatmulI2Wasm.matmul', x, tokens, weightScale, actScale, bias, out);
    this.run(tokens, weightScale, bias, out, false, (t0, n, mem) => {
      copyRows(x, t0, n, this.inFeatures, new Int8Array(mem.buffer, mem.xPtr, n * mem.rowInputs), mem.rowInputs);
      new Float32Array(mem.buffer, mem.actPtr, n).set(actScale.subarray(t0, t0 + n));
    });
  }

  /**
   * BitLinear's inference forward from float activations: quantizes x per token exactly as
   * quantizeActivationsInt8 does (in WebAssembly), then y = matmul(xInt8, ...). `actScaleOut`,
   * if given, receives s for each token.
   */
  linear(x: Float32Array, tokens: number, weightScale: Float32Array, bias: Float32Array | null, out: Float32Array, actScaleOut?: Float32Array): void {
    const scales = actScaleOut ?? scratchScales(tokens); // not asked for: a reused array, no allocation per call
    this.check('TernaryMatmulI2Wasm.linear', x, tokens, weightScale, scales, bias, out);
    this.run(tokens, weightScale, bias, out, true, (t0, n, mem) => {
      copyRows(x, t0, n, this.inFeatures, new Float32Array(mem.buffer, mem.xfPtr, n * mem.rowInputs), mem.rowInputs);
    }, (t0, n, mem) => {
      const act = new Float32Array(mem.buffer, mem.actPtr, n);
      for (let t = 0; t < n; t++) {
        const s = act[t]!;
        // s is 0 for an infinite input and NaN for a NaN; a finite row always gives 0 < s < inf
        if (!(s > 0 && s < Infinity)) throw new Error(`TernaryMatmulI2Wasm.linear: token ${t0 + t} holds a non-finite value`);
      }
      scales.set(act, t0);
    });
  }

  private check(fn: string, x: Int8Array | Float32Array, tokens: number, weightScale: Float32Array, actScale: Float32Array, bias: Float32Array | null, out: Float32Array): void {
    const { inFeatures, outFeatures } = this;
    checkTernaryMatmulArgs(fn, { x, tokens, inFeatures, packedLength: outFeatures * this.packedRowBytes, outFeatures, weightScale, actScale, bias, out }, this.packedRowBytes);
  }

  /**
   * Runs the kernel over jobs of up to TOKENS_PER_JOB tokens: `fill` puts a job's activations
   * into the arena, the threads run it, `after` (if any) looks at the job's scales, and the
   * results are copied to `out`.
   */
  private run(
    tokens: number, weightScale: Float32Array, bias: Float32Array | null, out: Float32Array, quantize: boolean,
    fill: (t0: number, n: number, mem: JobMemory) => void, after?: (t0: number, n: number, mem: JobMemory) => void,
  ): void {
    const { runtime, outFeatures, inFeatures, columns, outPad, blockCount } = this;
    if (tokens === 0 || outFeatures === 0) return;
    const rowInputs = 4 * columns;
    const jobTokens = Math.min(tokens, TOKENS_PER_JOB);
    // Regions shared by all kernels of the runtime (one call runs at a time). Take them all before
    // making views: taking one may grow the memory and replace its buffer.
    const slotBytes = align16(64 * columns) + align16(2 * rowInputs + 16) + 64;
    const ptr = {
      xPtr: runtime.region('x', jobTokens * rowInputs + 16), // + 16: the input split reads a vector past a row
      xfPtr: quantize ? runtime.region('xf', 4 * jobTokens * rowInputs) : 0,
      actPtr: runtime.region('act', 4 * jobTokens),
      outPtr: runtime.region('out', 4 * jobTokens * outPad),
      scalePtr: runtime.region('scale', 4 * outPad),
      biasPtr: runtime.region('bias', 4 * outPad),
      scratchPtr: runtime.region('scratch', runtime.threads * slotBytes),
    };
    const mem: JobMemory = { buffer: runtime.bytes, rowInputs, ...ptr };
    const scales = new Float32Array(mem.buffer, ptr.scalePtr, outPad);
    if (weightScale.length === 1) scales.fill(weightScale[0]!);
    else scales.set(weightScale);
    const biases = new Float32Array(mem.buffer, ptr.biasPtr, outPad);
    if (bias === null) biases.fill(0);
    else biases.set(bias);
    const result = new Float32Array(mem.buffer, ptr.outPtr, jobTokens * outPad);
    // (columns is 0 for 0 inputs: then one pass, not Infinity blocks, which an Int32 slot makes 0)
    const blocksPerPass = Math.max(1, Math.min(blockCount, Math.floor(WEIGHT_BYTES_PER_PASS / (ROWS_PER_BLOCK * Math.max(columns, 1)))));
    for (let t0 = 0; t0 < tokens; t0 += TOKENS_PER_JOB) {
      const n = Math.min(TOKENS_PER_JOB, tokens - t0);
      fill(t0, n, mem);
      const threads = n * inFeatures * outFeatures >= PARALLEL_MIN_MACS ? runtime.threads : 1;
      runtime.run({
        tokens: n, unitTokens: Math.max(1, Math.min(MAX_UNIT_TOKENS, Math.ceil(n / (4 * threads)))), quantize,
        columns, blockCount, blocksPerPass, rowInputs, outStride: 4 * outPad, wPtr: this.wPtr, ...ptr,
        scratchStride: slotBytes, splitOffset: align16(64 * columns), yOffset: align16(64 * columns) + align16(2 * rowInputs + 16),
      }, threads > 1);
      after?.(t0, n, mem);
      copyRows(result, 0, n, outPad, out, outFeatures, t0);
    }
  }
}

/** Where a job's activations go in the arena, for the fill callbacks. */
interface JobMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
  rowInputs: number;
  xPtr: number;
  xfPtr: number;
  actPtr: number;
}

/**
 * Copies rows [t0, t0 + n) of `from` (rows of fromLength) to rows toT0.. of `to` (rows of
 * toLength). A longer target row gets zeros after the copied values (the arena's buffers are
 * shared by kernels of other widths, so padding must be rewritten); a shorter one is cut.
 */
function copyRows<T extends Int8Array | Float32Array>(from: T, t0: number, n: number, fromLength: number, to: T, toLength: number, toT0 = 0): void {
  if (fromLength === toLength) {
    to.set(from.subarray(t0 * fromLength, (t0 + n) * fromLength) as never, toT0 * toLength);
    return;
  }
  const length = Math.min(fromLength, toLength);
  for (let t = 0; t < n; t++) {
    const src = (t0 + t) * fromLength;
    const dst = (toT0 + t) * toLength;
    to.set(from.subarray(src, src + length) as never, dst);
    if (toLength > length) to.fill(0, dst + length, dst + toLength);
  }
}
