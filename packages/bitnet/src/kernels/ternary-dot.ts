// The ternary matmul as an int8 dot product: relaxed SIMD's i16x8.relaxed_dot_i8x16_i7x16_s, or,
// on engines without relaxed SIMD, plain SIMD's i32x4.dot_i16x8_s on int16 codes (the i16
// variant, emitDotI16 at the end of this file: half the multiply-adds an instruction, no
// correction term, no chunks; the same integer sums, so the same floats).
//
// That instruction (x86: one pmaddubsw) multiplies 16 signed bytes by 16 bytes in 0..127 and
// adds neighbouring products into 8 int16 lanes: 16 multiply-adds, where an f32x4 fused
// multiply-add does 4. Ternary weights are -1, 0, +1, which the i7 operand cannot hold (-1 is
// 255 as a byte), so the kernel multiplies by w + 1 (0, 1 or 2) and takes the token's sum back off:
//   sum_k x[k] w[k] = sum_k x[k] (w[k] + 1) - sum_k x[k].
// The codes x are the same per-token int8 activations as the other kernels' (BITNET.md section 1),
// so the integer sums are exact and the floats come out as the table kernel's, bit for bit.
//
// Layout. A token's codes are a row of kPad bytes (inputs padded to 16 with zeros). The weights
// are packed once per layer into strips of 16 outputs: for each pair of inputs (k, k+1), 32 bytes
// = two vectors, each [w_o(k)+1, w_o(k+1)+1] for 8 outputs o. The micro-kernel takes 4 tokens
// and one strip: per pair it loads the strip's two vectors, splats each token's two codes over
// the 8 lanes (v128.load16_splat), and does 8 dots and 8 int16 adds into 8 accumulators, lane j
// of accumulator (token r, half h) holding output 8h + j. |dot lane| <= 2 * 128 * 2 = 512, so 63
// pairs fit int16 (32256); longer rows are summed in chunks of 63 pairs, each widened into the
// tile-strip's int32 sums (a 256-byte scratch per unit), which are rescaled as soon as they are
// complete.
//
// Steps of a call (one module for every layer, in the tensor heap of @bitvit/tensor, so inputs and
// outputs that live there are read and written in place). A call is cut into units of whole
// 4-token tiles, each quantizing its own tokens once and then running the dot step for every
// layer of the call (unit(); several layers on one input, as attention's query, key and value,
// are one call); big calls share their units with worker threads (@bitvit/tensor's thread team,
// ternaryThreads() of them):
//   quantize(tokens, x, kPad, x8, act, rowsum)  per token: s = 127 / max(absmax, 1e-5) into act (the
//     same f32 steps as quantizeActivationsInt8), codes round(x * s) (half to even) into x8, and
//     their sum into rowsum
//   dot(tokens, x8, kPad, wp, strips, acc, rowsum, act, scale, perTensor, bias, out, n)
//     per tile and strip: sum[t, o] = sum_k x8[t, k] (w[o, k] + 1) in int32, then
//     out[t, o] = float(sum[t, o] - rowsum[t]) * (scale[o] / act[t]) + bias[o]
// Measured (one thread, 4160 tokens, 192 -> 768, before the rescale): 68 GMAC/s against the float
// GEMM's 21 on the same core at the same time. The whole call: 62-65 GMAC/s on one thread at 65 and
// 1040 tokens, ~120 on two at 1040 (timing TernaryMatmulDot.linear in a loop, 2026-11-27 07:00 UTC). Tried and not
// kept: tiles of 5 and 6 tokens (43-48 GMAC/s: 10-12 accumulators, V8 then keeps fewer in
// registers), the pair loop unrolled 2 and 4 times (52 and 42), token codes interleaved per tile
// (one pointer instead of four: within 3%), and cutting small calls by outputs instead of tokens
// (slower in a model: 1.45 -> 2.0 ms a forward for the 192 -> 768 layers). In TernaryLinear (packages/bitnet/bench/model):
// 1.5-2.3x the float GEMM (two threads) at vit-tiny-32's 65 tokens, 1.4-2.2x at 4160.

import { HEAP_MAX_PAGES, Heap, theHeap, threadTeam, wasm, type TeamModule } from '@bitvit/tensor';
import { checkTernaryMatmulArgs, scratchScales } from './check-args.js';
import { heapScratch } from './heap-scratch.js';
import { ternaryThreads } from './ternary-runtime.js';
import { engineHasSimd } from './ternary-module.js';
import { packedRowBytes, unpackI2 } from '../packing.js';

/** Which instruction sums the products: relaxed SIMD's byte dot product (16 multiply-adds an
 *  instruction), or plain SIMD's i32x4.dot_i16x8_s on int16 codes (8; x86 pmaddwd), for engines
 *  without relaxed SIMD. Same integer sums, so the same floats. */
export type DotVariant = 'relaxed' | 'i16';

/** Tokens per micro-kernel tile. */
const TILE = 4;
/** Each variant's layout: outputs per strip (two accumulators: i16x8 of 8 outputs, relaxed; i32x4
 *  of 4, i16) and bytes per activation code. */
const LAYOUT: Record<DotVariant, { strip: number; codeBytes: 1 | 2 }> = { relaxed: { strip: 16, codeBytes: 1 }, i16: { strip: 8, codeBytes: 2 } };
const STRIP = LAYOUT.relaxed.strip;
/** Input pairs summed in int16 before widening: 63 * 512 = 32256 <= 32767. */
const PAIRS_PER_CHUNK = 63;
/** Tokens per pass through the module, bounding the scratch (1024 x 768 int32 sums: 3 MiB). */
const TOKENS_PER_JOB = 1024;
/** Calls of fewer multiply-adds stay on this thread (about 30 us here). With the thread team's
 *  workers busy-waiting between jobs, vit-tiny-32's 192 x 192 output projection at 65 tokens (2.4 M)
 *  gains from the second thread: 0.705-0.736 -> 0.650 ms a forward for its 12 calls (in a model,
 *  2026-11-27; before the team, waking a worker cost 15-30 us and one thread was faster). */
const PARALLEL_MIN_MACS = 1 << 21;
/** Bytes of a unit's scratch: one tile-strip's int32 sums (TILE x STRIP). */
const ACC_SCRATCH = TILE * STRIP * 4;
/** unit()'s arguments: see emitUnit. */
const UNIT_ARGS = 10;
/** i32 fields of a layer's record: wp, strips, n, scale, perTensor, bias, out. */
const LAYER_FIELDS = 7;

let relaxedDot: boolean | undefined;
/** Whether i16x8.relaxed_dot_i8x16_i7x16_s validates (relaxed SIMD: Node 22+, Chrome 114+; Node 20
 *  with --experimental-wasm-relaxed-simd, which @bitvit/tensor's enableRelaxedSimd() sets). */
export function engineHasRelaxedDot(): boolean {
  if (relaxedDot === undefined) {
    const probe = new wasm.ModuleBuilder().importMemory(1);
    const f = probe.addFunction('probe', []);
    f.i32(0).op('i8x16.splat').i32(0).op('i8x16.splat').op('i16x8.relaxed_dot_i8x16_i7x16_s').op('drop');
    try {
      relaxedDot = typeof WebAssembly === 'object' && WebAssembly.validate(probe.build());
    } catch {
      relaxedDot = false;
    }
  }
  return relaxedDot;
}

/** What calls go through: unit() (quantize and dot are exported too, for profiles' names). */
interface DotExports {
  unit(...args: number[]): void;
}

const NAMES = ['unit'];
const compiled = new Map<DotVariant, { module: WebAssembly.Module; kernels: DotExports }>();
/** A variant's module and its instance over the tensor heap, made on first use. */
function dotKernels(heap: Heap, variant: DotVariant): { module: WebAssembly.Module; kernels: DotExports } {
  let c = compiled.get(variant);
  if (!c) {
    const module = new WebAssembly.Module(buildDotModule(heap.shared, variant));
    c = { module, kernels: new WebAssembly.Instance(module, { env: { memory: heap.memory } }).exports as unknown as DotExports };
    compiled.set(variant, c);
  }
  return c;
}

const teamModules = new Map<DotVariant, TeamModule>();
/** A variant's module in @bitvit/tensor's thread team, with ternaryThreads() - 1 workers started. */
function dotTeam(heap: Heap, variant: DotVariant): { team: NonNullable<ReturnType<typeof threadTeam>>; module: TeamModule } | null {
  const team = threadTeam();
  if (!team) return null;
  team.grow(ternaryThreads() - 1);
  let module = teamModules.get(variant);
  if (!module) teamModules.set(variant, (module = team.register(dotKernels(heap, variant).module, NAMES)));
  return { team, module };
}

/** Units the thread team's workers have run, for all kernels (tests check that they take part). */
export function dotWorkerUnits(): number {
  return threadTeam()?.workerUnits ?? 0;
}

/** Gives a collected layer's packed weights back to the heap. */
const weightBlocks: FinalizationRegistry<{ heap: Heap; at: number; bytes: number }> | null =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(({ heap, at, bytes }) => heap.free(at, bytes)) : null;

/**
 * One layer's weights packed for the dot kernel. Same contract as the other ternary kernels'
 * `linear`: y[t, o] = (sum_i x[t, i] W[o, i]) * (weightScale[o or 0] / actScale[t]) + bias[o].
 *
 *   const k = TernaryMatmulDot.fromPacked(packI2(codes, out, in), out, in); // null without relaxed SIMD
 *   k.linear(xFloat, tokens, weightScale, bias, y);
 */
export class TernaryMatmulDot {
  /** Bytes of the packed (w + 1) strips: what a call reads in place of the float weights. */
  readonly weightBytes: number;
  private readonly heap: Heap;
  private readonly wp: number;
  private readonly kPad: number;
  private readonly nPad: number;
  /** Strips of outputs (LAYOUT[variant].strip each). */
  private readonly strips: number;
  private readonly packedRowBytes: number;

  private constructor(codes: Int8Array, readonly outFeatures: number, readonly inFeatures: number, readonly variant: DotVariant) {
    this.heap = theHeap();
    this.packedRowBytes = packedRowBytes('i2', inFeatures);
    this.kPad = Math.ceil(inFeatures / 16) * 16;
    const strip = LAYOUT[variant].strip;
    this.strips = Math.ceil(outFeatures / strip);
    this.nPad = this.strips * strip;
    const pairs = this.kPad / 2;
    this.weightBytes = this.strips * pairs * 32;
    // the layer's block of the heap, given back when this kernel object is collected
    this.wp = this.heap.alloc(this.weightBytes);
    weightBlocks?.register(this, { heap: this.heap, at: this.wp, bytes: this.weightBytes });
    if (variant === 'relaxed') {
      // per pair of inputs, two vectors of 8 outputs: [w_o(k) + 1, w_o(k+1) + 1] bytes
      const u8 = new Uint8Array(this.heap.memory.buffer, this.wp, this.weightBytes);
      u8.fill(1); // w + 1 for the padding outputs and inputs: 0 weights
      for (let o = 0; o < outFeatures; o++) {
        const s = Math.floor(o / strip), half = Math.floor((o % strip) / 8), lane = o % 8;
        for (let k = 0; k < inFeatures; k++) {
          u8[(s * pairs + (k >> 1)) * 32 + half * 16 + 2 * lane + (k & 1)] = codes[o * inFeatures + k]! + 1;
        }
      }
    } else {
      // per pair of inputs, two vectors of 4 outputs: [w_o(k), w_o(k+1)] as int16 (signed: no
      // correction term)
      const i16 = new Int16Array(this.heap.memory.buffer, this.wp, this.weightBytes / 2);
      i16.fill(0);
      for (let o = 0; o < outFeatures; o++) {
        const s = Math.floor(o / strip), half = Math.floor((o % strip) / 4), lane = o % 4;
        for (let k = 0; k < inFeatures; k++) {
          i16[(s * pairs + (k >> 1)) * 16 + half * 8 + 2 * lane + (k & 1)] = codes[o * inFeatures + k]!;
        }
      }
    }
  }

  /**
   * The kernel for i2-packed weights on `variant` (by default relaxed where the engine has it),
   * or null where the engine lacks it (relaxed: relaxed SIMD; i16: WebAssembly SIMD).
   */
  static fromPacked(packed: Uint8Array, outFeatures: number, inFeatures: number, variant: DotVariant = 'relaxed'): TernaryMatmulDot | null {
    const expect = outFeatures * packedRowBytes('i2', inFeatures);
    if (packed.length !== expect) {
      throw new Error(`TernaryMatmulDot: packed has length ${packed.length}, expected ${expect} (outFeatures ${outFeatures} x inFeatures ${inFeatures})`);
    }
    if (variant === 'relaxed' ? !engineHasRelaxedDot() : !engineHasSimd()) return null;
    return new TernaryMatmulDot(unpackI2(packed, outFeatures, inFeatures), outFeatures, inFeatures, variant);
  }

  /** Quantizes x per token (as quantizeActivationsInt8) and multiplies; `actScaleOut`, if given,
   *  receives s per token. */
  linear(x: Float32Array, tokens: number, weightScale: Float32Array, bias: Float32Array | null, out: Float32Array, actScaleOut?: Float32Array): void {
    TernaryMatmulDot.linearGroup([{ kernel: this, weightScale, bias, out }], x, tokens, actScaleOut);
  }

  /**
   * Several layers on the same input (attention's query, key and value): one job whose units
   * each quantize their tokens once and run every layer on them (the codes stay in the core's
   * cache), so three small calls fill both cores where each alone stays on one. Same floats as a
   * linear() per layer.
   */
  static linearGroup(layers: readonly DotLayerCall[], x: Float32Array, tokens: number, actScaleOut?: Float32Array): void {
    const first = layers[0];
    if (!first) return;
    const { inFeatures, kPad, heap, variant } = first.kernel;
    const scales = actScaleOut ?? scratchScales(tokens);
    for (const { kernel, weightScale, bias, out } of layers) {
      if (kernel.inFeatures !== inFeatures) {
        throw new Error(`TernaryMatmulDot.linearGroup: layers take ${inFeatures} and ${kernel.inFeatures} inputs; a group shares one input`);
      }
      if (kernel.variant !== variant) throw new Error(`TernaryMatmulDot.linearGroup: layers of the ${variant} and ${kernel.variant} variants in one group`);
      checkTernaryMatmulArgs('TernaryMatmulDot.linear', {
        x, tokens, inFeatures, packedLength: kernel.outFeatures * kernel.packedRowBytes, outFeatures: kernel.outFeatures,
        weightScale, actScale: scales, bias, out,
      }, kernel.packedRowBytes);
    }
    const k = dotKernels(heap, variant).kernels;
    const { codeBytes } = LAYOUT[variant];
    const macsPerToken = layers.reduce((sum, l) => sum + inFeatures * l.kernel.outFeatures, 0);
    // x is read in place when its rows need no padding, outputs written in place when in the heap
    const xAt = kPad === inFeatures ? heap.address(x) : -1;
    const outAt = layers.map((l) => heap.address(l.out));
    for (let t0 = 0; t0 < tokens; t0 += TOKENS_PER_JOB) {
      const n = Math.min(TOKENS_PER_JOB, tokens - t0);
      const padded = Math.ceil(n / TILE) * TILE;
      const tiles = padded / TILE;
      const threads = ternaryThreads();
      const parallel = threads > 1 && n * macsPerToken >= PARALLEL_MIN_MACS ? dotTeam(heap, variant) : null;
      // units of whole tiles shared out evenly (50 tiles in 8 units: 6 or 7 each); a unit
      // quantizes its tokens once and runs every layer of the group on them
      const unitCount = parallel ? Math.max(1, Math.min(tiles, 4 * threads)) : 1;
      // scratch: unit table (f64) | layer records (i32) | xf (float rows of kPad, if copied) | x8 |
      // act | rowsum | a sums scratch per unit | then per layer: scale | bias | out (if not in the heap)
      let end = unitCount * UNIT_ARGS * 8;
      const records = end;
      // what follows on 64-byte boundaries: TypedArray.set into a shared memory copies word by
      // word only where source and target are equally aligned, else byte by byte (8x slower: x's
      // copy took 80 us at 1088 x 64 behind the 28 bytes of one layer's record)
      end = Math.ceil((end + layers.length * LAYER_FIELDS * 4) / 64) * 64;
      const xf = xAt >= 0 ? -1 : end;
      if (xAt < 0) end += 4 * n * kPad;
      const x8Off = end;
      const actOff = (end += Math.ceil((padded * kPad * codeBytes) / 16) * 16);
      const rowsumOff = (end += 4 * padded);
      end += 4 * padded;
      // the units' sums scratch on 64-byte lines of their own: two threads writing one line
      // (false sharing) cost 15-25% of a two-thread call
      const accOff = (end = Math.ceil(end / 64) * 64);
      end += unitCount * ACC_SCRATCH;
      const layerOffs = layers.map(({ kernel }, i) => {
        const scale = end;
        end += 4 * kernel.nPad;
        const bias = end;
        end += 4 * kernel.nPad;
        const out = end;
        if (outAt[i]! < 0) end += 4 * n * kernel.outFeatures;
        return { scale, bias, out };
      });
      const base = heapScratch(heap, end);
      const f32 = heap.f32;
      const xfAt = xAt >= 0 ? xAt + 4 * t0 * inFeatures : base + xf;
      if (xAt < 0 && kPad === inFeatures) {
        f32.set(x.subarray(t0 * inFeatures, (t0 + n) * inFeatures), xfAt / 4); // one copy (row by row: 200 us at 1088 x 64)
      } else if (xAt < 0) {
        for (let t = 0; t < n; t++) {
          f32.set(x.subarray((t0 + t) * inFeatures, (t0 + t + 1) * inFeatures), xfAt / 4 + t * kPad);
          f32.fill(0, xfAt / 4 + t * kPad + inFeatures, xfAt / 4 + (t + 1) * kPad);
        }
      }
      const x8 = base + x8Off, act = base + actOff, rowsum = base + rowsumOff;
      // the tile's spare tokens: zero codes (their sums are computed and never read)
      new Uint8Array(heap.memory.buffer, x8 + n * kPad * codeBytes, (padded - n) * kPad * codeBytes).fill(0);
      // each layer's record: wp, strips, n, scale, perTensor, bias, out (its row of token 0)
      const i32 = new Int32Array(heap.memory.buffer, base + records, layers.length * LAYER_FIELDS);
      layers.forEach(({ kernel, weightScale, bias }, i) => {
        const offs = layerOffs[i]!;
        const scale = base + offs.scale, biasAt = base + offs.bias;
        f32.set(weightScale, scale / 4);
        if (bias) f32.set(bias, biasAt / 4);
        else f32.fill(0, biasAt / 4, biasAt / 4 + kernel.outFeatures);
        const outPtr = outAt[i]! >= 0 ? outAt[i]! + 4 * t0 * kernel.outFeatures : base + offs.out;
        i32.set([kernel.wp, kernel.strips, kernel.outFeatures, scale, weightScale.length === 1 ? 1 : 0, biasAt, outPtr], i * LAYER_FIELDS);
      });
      // each unit's arguments, as a plain array for the calls here (spreading one is cheap, a
      // typed array's subarray is not) and in the heap's f64 table for the workers
      const unitArgs: number[][] = [];
      for (let u = 0; u < unitCount; u++) {
        const at = Math.floor((u * tiles) / unitCount) * TILE;
        const to = Math.min(n, Math.floor(((u + 1) * tiles) / unitCount) * TILE);
        unitArgs.push([at, to - at, xfAt, kPad, x8, act, rowsum, base + accOff + u * ACC_SCRATCH, layers.length, base + records]);
      }
      if (parallel && unitCount > 1) {
        const table = new Float64Array(heap.memory.buffer, base, unitCount * UNIT_ARGS);
        unitArgs.forEach((a, u) => table.set(a, u * UNIT_ARGS));
        parallel.team.run({ module: parallel.module, fn: 'unit', count: unitCount, table: base, nargs: UNIT_ARGS, threads }, (u) => k.unit(...unitArgs[u]!));
      } else {
        for (const a of unitArgs) k.unit(...a);
      }
      for (let t = 0; t < n; t++) {
        const s = f32[act / 4 + t]!;
        // s is 0 for an infinite input and NaN for a NaN; a finite row always gives 0 < s < inf
        if (!(s > 0 && s < Infinity)) throw new Error(`TernaryMatmulDot.linear: token ${t0 + t} holds a non-finite value`);
      }
      scales.set(f32.subarray(act / 4, act / 4 + n), t0);
      layers.forEach(({ kernel, out }, i) => {
        if (outAt[i]! >= 0) return;
        const at = base + layerOffs[i]!.out;
        out.set(f32.subarray(at / 4, at / 4 + n * kernel.outFeatures), t0 * kernel.outFeatures);
      });
    }
  }
}

/** One layer of a TernaryMatmulDot.linearGroup call: its kernel, scales, bias and output. */
export interface DotLayerCall {
  kernel: TernaryMatmulDot;
  weightScale: Float32Array;
  bias: Float32Array | null;
  out: Float32Array;
}

/** Emits unit(), quantize() and dot() (the module imports the tensor heap's memory). */
export function buildDotModule(sharedMemory: boolean, variant: DotVariant = 'relaxed'): Uint8Array<ArrayBuffer> {
  const m = new wasm.ModuleBuilder().importMemory(1, sharedMemory ? HEAP_MAX_PAGES : undefined, sharedMemory);
  const unit = m.addFunction('unit', new Array<'i32'>(UNIT_ARGS).fill('i32'));
  const { codeBytes } = LAYOUT[variant];
  const quantize = emitQuantize(m, codeBytes);
  const dot = variant === 'relaxed' ? emitDot(m) : emitDotI16(m);
  emitUnit(unit, quantize, dot, codeBytes);
  return m.build();
}

/**
 * unit(first, tokens, xf, kPad, x8, act, rowsum, acc, layers, records): tokens [first, first +
 * tokens) of a call (first a multiple of 4): quantized once, then summed and rescaled for each of
 * the `layers` layers whose records (LAYER_FIELDS i32 each: wp, strips, n, scale, perTensor, bias,
 * out) start at `records`; a worker's share, or the whole call on one thread. acc is the unit's
 * 256-byte scratch.
 */
function emitUnit(f: wasm.FunctionBody, quantize: wasm.FunctionBody, dot: wasm.FunctionBody, codeBytes: 1 | 2): void {
  const [first, tokens, xf, kPad, x8, act, rowsum, acc, layers, records] = Array.from({ length: UNIT_ARGS }, (_, i) => i) as [
    number, number, number, number, number, number, number, number, number, number,
  ];
  const layer = f.local('i32'), rec = f.local('i32');
  const at = (base: number, bytesPerToken: () => void): void => {
    f.get(base).get(first);
    bytesPerToken();
    f.op('i32.mul').op('i32.add');
  };
  const codesAt = (): void => void at(x8, () => (codeBytes === 1 ? f.get(kPad) : f.get(kPad).i32(1).op('i32.shl')));
  const floatAt = (base: number): void => at(base, () => f.i32(4));
  const field = (i: number): void => void f.get(rec).i32Load(4 * i);
  // quantize(tokens, x, kPad, x8, act, rowsum)
  f.get(tokens);
  at(xf, () => f.get(kPad).i32(2).op('i32.shl'));
  f.get(kPad);
  codesAt();
  floatAt(act);
  floatAt(rowsum);
  f.call(quantize);
  // per layer: dot(tokens, x8, kPad, wp, strips, acc, rowsum, act, scale, perTensor, bias, out, n)
  f.get(records).set(rec);
  loop(f, layer, layers, 1, () => {
    f.get(tokens);
    codesAt();
    f.get(kPad);
    field(0);
    field(1);
    f.get(acc);
    floatAt(rowsum);
    floatAt(act);
    field(3);
    field(4);
    field(5);
    field(6); // out + first * n * 4
    f.get(first);
    field(2);
    f.op('i32.mul').i32(2).op('i32.shl').op('i32.add');
    field(2);
    f.call(dot);
    f.get(rec).i32(4 * LAYER_FIELDS).op('i32.add').set(rec);
  });
}

/** `for (index = 0; index < limit; index += step) body()` */
function loop(f: wasm.FunctionBody, index: number, limit: number, step: number, body: () => void): void {
  f.i32(0).set(index).block().loop();
  f.get(index).get(limit).op('i32.ge_u').brIf(1);
  body();
  f.inc(index, step).br(0).end().end();
}

/** quantize(tokens, x, kPad, x8, act, rowsum): rows of kPad floats (a multiple of 16) to int8 codes,
 *  stored as bytes (codeBytes 1, the relaxed variant) or as int16 (2: the i16 variant, plain SIMD). */
function emitQuantize(m: wasm.ModuleBuilder, codeBytes: 1 | 2): wasm.FunctionBody {
  const f = m.addFunction('quantize', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [tokens, x, kPad, x8, act, rowsum] = [0, 1, 2, 3, 4, 5];
  const t = f.local('i32'), i = f.local('i32'), row = f.local('i32'), codes = f.local('i32');
  const mx = f.local('v128'), s = f.local('v128'), sum = f.local('v128'), absmax = f.local('f32');
  const mxs = Array.from({ length: 4 }, () => f.local('v128'));
  const q = Array.from({ length: 4 }, () => f.local('v128'));
  loop(f, t, tokens, 1, () => {
    f.get(x).get(t).get(kPad).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(row);
    f.get(x8).get(t).get(kPad).op('i32.mul').i32(codeBytes - 1).op('i32.shl').op('i32.add').set(codes);
    // s = 127 / max(max |x|, 1e-5) (f32 max propagates NaN), as the other kernels; four running
    // maxima, 16 floats a step (one chain of dependent maxes cost 4 cycles a vector: on 64-wide
    // rows the quantize step took 75% of the dot's own time)
    for (const m of mxs) f.f32x4(0).set(m);
    loop(f, i, kPad, 16, () => {
      mxs.forEach((m, j) => {
        f.get(m).get(row).get(i).i32(2).op('i32.shl').op('i32.add').v128Load(16 * j).op('f32x4.abs').op('f32x4.max').set(m);
      });
    });
    f.get(mxs[0]!).get(mxs[1]!).op('f32x4.max').get(mxs[2]!).get(mxs[3]!).op('f32x4.max').op('f32x4.max').set(mx);
    f.get(mx).f32x4ExtractLane(0).get(mx).f32x4ExtractLane(1).op('f32.max');
    f.get(mx).f32x4ExtractLane(2).get(mx).f32x4ExtractLane(3).op('f32.max').op('f32.max').set(absmax);
    f.get(act).get(t).i32(2).op('i32.shl').op('i32.add');
    f.f32(127).get(absmax).f32(1e-5).op('f32.max').op('f32.div').f32Store();
    f.get(act).get(t).i32(2).op('i32.shl').op('i32.add').v128Load32Splat().set(s);
    // 16 codes at a time: round(x * s) half to even, narrowed to int8; their sum for the correction
    f.f32x4(0).set(sum);
    loop(f, i, kPad, 16, () => {
      for (let j = 0; j < 4; j++) {
        f.get(row).get(i).i32(2).op('i32.shl').op('i32.add').v128Load(16 * j);
        // |x * s| <= 127.5 for finite rows, so the relaxed truncation is exact (a non-finite row
        // gives garbage codes, and linear() throws for it)
        // (plain SIMD's trunc_sat where relaxed SIMD is missing: the same values in range)
        f.get(s).op('f32x4.mul').op('f32x4.nearest').op(codeBytes === 1 ? 'i32x4.relaxed_trunc_f32x4_s' : 'i32x4.trunc_sat_f32x4_s').set(q[j]!);
        f.get(sum).get(q[j]!).op('i32x4.add').set(sum);
      }
      if (codeBytes === 1) {
        f.get(codes).get(i).op('i32.add');
        f.get(q[0]!).get(q[1]!).op('i16x8.narrow_i32x4_s').get(q[2]!).get(q[3]!).op('i16x8.narrow_i32x4_s').op('i8x16.narrow_i16x8_s');
        f.v128Store();
      } else {
        f.get(codes).get(i).i32(1).op('i32.shl').op('i32.add');
        f.get(q[0]!).get(q[1]!).op('i16x8.narrow_i32x4_s').v128Store();
        f.get(codes).get(i).i32(1).op('i32.shl').op('i32.add');
        f.get(q[2]!).get(q[3]!).op('i16x8.narrow_i32x4_s').v128Store(16);
      }
    });
    f.get(rowsum).get(t).i32(2).op('i32.shl').op('i32.add');
    f.get(sum).i32x4ExtractLane(0).get(sum).i32x4ExtractLane(1).op('i32.add');
    f.get(sum).i32x4ExtractLane(2).op('i32.add').get(sum).i32x4ExtractLane(3).op('i32.add');
    f.i32Store();
  });
  return f;
}

/**
 * dot(tokens, x8, kPad, wp, strips, acc, rowsum, act, scale, perTensor, bias, out, n): for
 * each 4-token tile and 16-output strip, the int32 sums sum_k x8[t, k] (w[o, k] + 1), then at once
 * out[t, o] = float(sum - rowsum[t]) * (scale[o or 0] / act[t]) + bias[o] (the table kernel's f32
 * steps: a division, a multiply and an add, none fused) for the real tokens (< tokens) and outputs
 * (< n; out's rows are n floats apart). acc is this call's 256-byte scratch: the tile-strip's
 * sums, when K takes several int16 chunks. (The sums of a whole call went to memory first and a second pass rescaled them: the
 * same speed as measured here, but up to 3 MiB of scratch at 1024 tokens by 768 outputs.)
 */
function emitDot(m: wasm.ModuleBuilder): wasm.FunctionBody {
  const f = m.addFunction('dot', new Array<'i32'>(13).fill('i32'));
  const [tokens, x8, kPad, wp, strips, accOut, rowsum, act, scale, perTensor, bias, out, n] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const left = f.local('i32'), chunk = f.local('i32');
  const acc = Array.from({ length: 2 * TILE }, () => f.local('v128'));
  const b = [f.local('v128'), f.local('v128')];
  const a = f.local('v128');
  forEachTileStrip(f, 1, { tokens, codes: x8, kPad, wp, strips }, ({ tile, strip, pw, px, pairs }) => {
    // the tile-strip's int32 sums (TILE rows of 16) start at 0 in the scratch
    for (let r = 0; r < TILE; r++) for (let v = 0; v < 4; v++) f.get(accOut).i32x4(0).v128Store(64 * r + 16 * v);
    f.get(pairs).set(left);
    f.block().loop(); // chunks of up to 63 pairs
    {
      f.get(left).i32(0).op('i32.le_s').brIf(1);
      f.i32(PAIRS_PER_CHUNK).get(left).get(left).i32(PAIRS_PER_CHUNK).op('i32.gt_s').op('select').set(chunk);
      f.get(left).get(chunk).op('i32.sub').set(left);
      for (const c of acc) f.i32x4(0).set(c);
      f.loop(); // pairs of the chunk
      {
        f.get(pw).v128Load(0).set(b[0]!).get(pw).v128Load(16).set(b[1]!);
        for (let r = 0; r < TILE; r++) {
          // token r's two codes in every i16 lane
          f.get(px[r]!).v128Load16Splat().set(a);
          for (let h = 0; h < 2; h++) {
            const c = acc[2 * r + h]!;
            f.get(c).get(a).get(b[h]!).op('i16x8.relaxed_dot_i8x16_i7x16_s').op('i16x8.add').set(c);
          }
        }
        for (const p of px) f.get(p).i32(2).op('i32.add').set(p);
        f.get(pw).i32(32).op('i32.add').set(pw);
        f.get(chunk).i32(1).op('i32.sub').tee(chunk).brIf(0);
      }
      f.end();
      // widen the chunk into the scratch's int32 sums
      for (let r = 0; r < TILE; r++) {
        for (let h = 0; h < 2; h++) {
          const c = acc[2 * r + h]!;
          f.get(accOut).get(accOut).v128Load(64 * r + 32 * h).get(c).op('i32x4.extend_low_i16x8_s').op('i32x4.add').v128Store(64 * r + 32 * h);
          f.get(accOut).get(accOut).v128Load(64 * r + 32 * h + 16).get(c).op('i32x4.extend_high_i16x8_s').op('i32x4.add').v128Store(64 * r + 32 * h + 16);
        }
      }
      f.br(0);
    }
    f.end().end();
    // the rescale, the int32 sums less the token's code sum (rowsum)
    rescaleTileStrip(f, { tokens, act, scale, perTensor, bias, out, n, tile, strip, stripWidth: STRIP }, (r, v, t) => {
      f.get(accOut).v128Load(64 * r + 16 * v).get(rowsum).get(t).i32(2).op('i32.shl').op('i32.add').v128Load32Splat().op('i32x4.sub');
    });
  });
  return f;
}

/**
 * The i16 variant's dot(tokens, x16, kPad, wp, strips, acc, rowsum, act, scale, perTensor, bias,
 * out, n) (acc and rowsum unused: the same signature as emitDot's): for each 4-token tile and
 * 8-output strip, per pair of inputs (k, k+1) the tile's two int16 codes of each token splatted
 * (v128.load32_splat) and i32x4.dot_i16x8_s against the strip's two vectors [w_o(k), w_o(k+1)]:
 * lane j of accumulator (token r, half h) sums output 4h + j in int32, so no widening, no
 * chunks and, the weights being signed, no correction term. Then out[t, o] = float(sum) *
 * (scale[o or 0] / act[t]) + bias[o], the relaxed variant's f32 steps.
 */
function emitDotI16(m: wasm.ModuleBuilder): wasm.FunctionBody {
  const f = m.addFunction('dot', new Array<'i32'>(13).fill('i32'));
  const [tokens, x16, kPad, wp, strips, , , act, scale, perTensor, bias, out, n] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const left = f.local('i32');
  const acc = Array.from({ length: 2 * TILE }, () => f.local('v128'));
  const b = [f.local('v128'), f.local('v128')];
  const a = f.local('v128');
  forEachTileStrip(f, 2, { tokens, codes: x16, kPad, wp, strips }, ({ tile, strip, pw, px, pairs }) => {
    for (const c of acc) f.i32x4(0).set(c);
    f.get(pairs).set(left);
    f.block().loop();
    {
      f.get(left).op('i32.eqz').brIf(1);
      f.get(pw).v128Load(0).set(b[0]!).get(pw).v128Load(16).set(b[1]!);
      for (let r = 0; r < TILE; r++) {
        f.get(px[r]!).v128Load32Splat().set(a); // token r's codes k, k+1 in every i32 lane
        for (let h = 0; h < 2; h++) {
          const c = acc[2 * r + h]!;
          f.get(c).get(a).get(b[h]!).op('i32x4.dot_i16x8_s').op('i32x4.add').set(c);
        }
      }
      for (const p of px) f.get(p).i32(4).op('i32.add').set(p);
      f.get(pw).i32(32).op('i32.add').set(pw);
      f.get(left).i32(1).op('i32.sub').set(left);
      f.br(0);
    }
    f.end().end();
    rescaleTileStrip(f, { tokens, act, scale, perTensor, bias, out, n, tile, strip, stripWidth: LAYOUT.i16.strip }, (r, v) => void f.get(acc[2 * r + v]!));
  });
  return f;
}

/**
 * The loops both variants run: for each 4-token tile and each strip of outputs, with pw at the
 * strip's weights (32 bytes a pair of inputs) and px[r] at the codes of the tile's token r
 * (rows of kPad codes of codeBytes each), body(...). The arguments are params of f.
 */
function forEachTileStrip(
  f: wasm.FunctionBody,
  codeBytes: 1 | 2,
  p: { tokens: number; codes: number; kPad: number; wp: number; strips: number },
  body: (l: { tile: number; strip: number; pw: number; px: number[]; pairs: number }) => void,
): void {
  const { tokens, codes, kPad, wp, strips } = p;
  const tiles = f.local('i32'), tile = f.local('i32'), strip = f.local('i32'), pw = f.local('i32'), pairs = f.local('i32');
  const px = Array.from({ length: TILE }, () => f.local('i32'));
  const rowBytes = (): void => void (codeBytes === 1 ? f.get(kPad) : f.get(kPad).i32(1).op('i32.shl'));
  f.get(kPad).i32(1).op('i32.shr_u').set(pairs);
  f.get(tokens).i32(TILE - 1).op('i32.add').i32(2).op('i32.shr_u').set(tiles);
  loop(f, tile, tiles, 1, () => {
    loop(f, strip, strips, 1, () => {
      f.get(wp).get(strip).get(pairs).op('i32.mul').i32(32).op('i32.mul').op('i32.add').set(pw);
      f.get(codes).get(tile).i32(TILE).op('i32.mul');
      rowBytes();
      f.op('i32.mul').op('i32.add').set(px[0]!);
      for (let r = 1; r < TILE; r++) {
        f.get(px[r - 1]!);
        rowBytes();
        f.op('i32.add').set(px[r]!);
      }
      body({ tile, strip, pw, px, pairs });
    });
  });
}

/**
 * The rescale of one tile-strip, both variants' (the table kernel's f32 steps: a division, a
 * multiply and an add, none fused): for the tile's real tokens t (< tokens) and the strip's real
 * outputs o (< n), four at a time, out[t, o] = float(sums) * (scale[o or 0] / act[t]) + bias[o].
 * sums(r, v, t) pushes the i32x4 integer sums of token r of the tile (t: the local holding its index
 * in the call), outputs 4v..4v+3 of the strip. The arguments are locals (or params) of f.
 */
function rescaleTileStrip(
  f: wasm.FunctionBody,
  p: { tokens: number; act: number; scale: number; perTensor: number; bias: number; out: number; n: number; tile: number; strip: number; stripWidth: number },
  sums: (r: number, v: number, t: number) => void,
): void {
  const { tokens, act, scale, perTensor, bias, out, n, tile, strip, stripWidth } = p;
  const t = f.local('i32'), o = f.local('i32'), orow = f.local('i32');
  const sv = f.local('v128'), d = f.local('v128'), res = f.local('v128');
  for (let r = 0; r < TILE; r++) {
    f.get(tile).i32(TILE).op('i32.mul').i32(r).op('i32.add').tee(t).get(tokens).op('i32.lt_u').if();
    f.get(act).get(t).i32(2).op('i32.shl').op('i32.add').v128Load32Splat().set(sv);
    // one weight scale: scale / s once per token (the same division the per-output form does)
    f.get(scale).v128Load32Splat().get(sv).op('f32x4.div').set(d);
    f.get(out).get(t).get(n).op('i32.mul').i32(2).op('i32.shl').op('i32.add').set(orow);
    for (let v = 0; v < stripWidth / 4; v++) {
      f.get(strip).i32(stripWidth).op('i32.mul').i32(4 * v).op('i32.add').set(o);
      f.get(o).get(n).op('i32.lt_u').if();
      sums(r, v, t);
      f.op('f32x4.convert_i32x4_s');
      f.get(perTensor).if();
      f.get(d).set(res);
      f.else();
      f.get(scale).get(o).i32(2).op('i32.shl').op('i32.add').v128Load().get(sv).op('f32x4.div').set(res);
      f.end();
      f.get(res).op('f32x4.mul');
      f.get(bias).get(o).i32(2).op('i32.shl').op('i32.add').v128Load().op('f32x4.add').set(res);
      // four outputs to store, or the last one to three of a row
      f.get(o).i32(4).op('i32.add').get(n).op('i32.le_u').if();
      f.get(orow).get(o).i32(2).op('i32.shl').op('i32.add').get(res).v128Store();
      f.else();
      for (let j = 0; j < 3; j++) {
        f.get(o).i32(j).op('i32.add').get(n).op('i32.lt_u').if();
        f.get(orow).get(o).i32(2).op('i32.shl').op('i32.add').get(res).f32x4ExtractLane(j).f32Store(4 * j);
        f.end();
      }
      f.end();
      f.end();
    }
    f.end();
  }
}
