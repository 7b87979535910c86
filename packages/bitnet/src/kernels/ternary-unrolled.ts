// The ternary matmul for many tokens: the weight matrix compiled into straight-line WebAssembly.
//
// A ternary weight is -1, 0 or +1, so a dot product with it is a sum and a difference of inputs.
// Once the weights are fixed (inference), that sum can be *code*: for output row o the emitted
// function holds one `acc += x[i]` for every +1 weight, one `acc -= x[i]` for every -1 and nothing
// for a 0. The lanes of `acc` are 8 tokens (int16), so each of those instructions is 8 multiply-
// adds with no multiply, no weight load, no unpacking and no table: on x86 it is a single
// `paddw`/`psubw` with a memory operand. The lookup-table kernel (ternary-wasm.ts) spends about
// 16 instructions on 64 multiply-adds and rebuilds each token's tables for every call.
//
// The price is code size: about 14 bytes of WebAssembly per nonzero weight, more bytes than the
// float32 weights (4 each) and 40 times the 2-bit packing. Read once per 8 tokens, that is cheap
// when a call has hundreds of tokens (a batch) and a poor trade at batch 1, where the packed
// weights are the point; so TernaryLinear uses this kernel from UNROLLED_MIN_TOKENS tokens on
// and the table kernel below that, and only for layers up to MAX_UNROLLED_NONZEROS nonzero
// weights (the compile time and code size grow with it).
//
// Steps of a call (the module is compiled per weight matrix on first use, and runs in the tensor
// heap of @bitvit/tensor, so activations and outputs that live there are read and written in
// place; big calls share their groups of tokens with @bitvit/tensor's thread team, each unit
// running unit(), prepare and run on its own groups):
//   prepare(groups, xf, xt, act)  per token: s = 127 / max(absmax, 1e-5) into act (as
//     quantizeActivationsInt8, the same f32 steps); then codes round(x * s) (half to even), laid
//     out for the sums: group g of 8 tokens, input i -> 8 int16 lanes at xt + (g*inPad + i)*16.
//     The transpose goes through 4x4 float blocks (f32x4 shuffles) before rounding.
//   run(groups, xt, act, scale, bias, out)  per group, per output row: the unrolled sum, then
//     out[t, o] = float(acc) * (scale[o] / act[t]) + bias[o], the table kernel's f32 steps, so the
//     two kernels give the same floats.
// int16 is exact: |x| <= 127, so up to 258 terms fit (127 * 258 = 32766); longer rows are summed
// in slices of 256 inputs, each slice widened into two int32x4 accumulators.

import { HEAP_MAX_PAGES, Heap, theHeap, threadTeam, wasm, type TeamModule } from '@bitvit/tensor';
import { checkTernaryMatmulArgs, scratchScales } from './check-args.js';
import { heapScratch } from './heap-scratch.js';
import { engineHasSimd } from './ternary-module.js';
import { ternaryThreads } from './ternary-runtime.js';
import { packedRowBytes, unpackI2 } from '../packing.js';

/** Calls with at least this many tokens use the unrolled kernel (TernaryLinear's choice). */
export const UNROLLED_MIN_TOKENS = 128;
/** Layers with more nonzero weights keep the table kernel. The code is ~14 bytes of WebAssembly
 *  per nonzero weight, and once a layer's code no longer fits the core's caches the kernel waits
 *  on instruction fetch: measured at 1088 tokens, 64 x 64 .. 128 x 64 layers (2,700-5,500 nonzero,
 *  38-76 KiB of code) ran 1.7-2.6x the float GEMM, a 192 x 192 layer (24,600 nonzero, 273 KiB)
 *  0.84x, slower than the table kernel. */
export const MAX_UNROLLED_NONZEROS = 12288;
/** Inputs summed in int16 lanes before widening: 127 * 256 = 32512 < 32767. */
const SLICE = 256;
/** Tokens per group: the 8 int16 lanes of a vector. */
const GROUP = 8;
/** Tokens per call into the module, bounding the scratch memory (1024 x 768 inputs: 3 MiB). */
const TOKENS_PER_JOB = 1024;

/** Jobs below this many add instructions (groups x nonzero weights, ~100 us) stay on this thread. */
const PARALLEL_MIN_ADDS = 1 << 19;
/** unit()'s arguments: see emitUnit. */
const UNIT_ARGS = 7;

/** Units the thread team's workers have run, for all kernels (tests check that they take part). */
export function unrolledWorkerUnits(): number {
  return threadTeam()?.workerUnits ?? 0;
}

interface UnrolledExports {
  prepare(groups: number, xf: number, xt: number, act: number): void;
  run(groups: number, xt: number, act: number, scale: number, bias: number, out: number): void;
  unit(groups: number, xf: number, xt: number, act: number, scale: number, bias: number, out: number): void;
}

/**
 * One weight matrix compiled into add/sub code. Same contract as TernaryMatmulI2Wasm's `linear`
 * and `matmul`: y[t, o] = (sum_i x[t, i] W[o, i]) * (weightScale[o or 0] / actScale[t]) + bias[o].
 *
 *   const k = TernaryMatmulUnrolled.fromPacked(packI2(codes, out, in), out, in); // null if too big
 *   k.linear(xFloat, tokens, weightScale, bias, y);
 */
export class TernaryMatmulUnrolled {
  /** Bytes of the emitted module: what a call reads per group of 8 tokens in place of weights. */
  readonly codeBytes: number;
  readonly nonzeros: number;
  private readonly exports: UnrolledExports;
  private readonly heap: Heap;
  private readonly module: WebAssembly.Module;
  /** The module in @bitvit/tensor's thread team (registered on the first parallel call). */
  private teamModule: TeamModule | null = null;
  /** Inputs padded to a multiple of 4 (whole f32x4 vectors in prepare). */
  private readonly inPad: number;
  private readonly packedRowBytes: number;

  private constructor(codes: Int8Array, readonly outFeatures: number, readonly inFeatures: number, nonzeros: number, readonly perTensorScale: boolean) {
    this.nonzeros = nonzeros;
    this.packedRowBytes = packedRowBytes('i2', inFeatures);
    this.inPad = Math.ceil(inFeatures / 4) * 4;
    this.heap = theHeap();
    const bytes = buildUnrolledModule(codes, outFeatures, inFeatures, this.inPad, perTensorScale, this.heap.shared);
    this.codeBytes = bytes.length;
    this.module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.heap.memory } });
    this.exports = instance.exports as unknown as UnrolledExports;
  }

  /**
   * The kernel for i2-packed weights, or null where it does not apply (no SIMD, or more than
   * `maxNonzeros` nonzero weights). `perTensorScale`: the calls will pass one weight scale (BitNet's
   * default), so scale / s is computed once per token instead of once per token and row.
   */
  static fromPacked(
    packed: Uint8Array, outFeatures: number, inFeatures: number,
    options: { perTensorScale?: boolean; maxNonzeros?: number } = {},
  ): TernaryMatmulUnrolled | null {
    const { perTensorScale = false, maxNonzeros = MAX_UNROLLED_NONZEROS } = options;
    const expect = outFeatures * packedRowBytes('i2', inFeatures);
    if (packed.length !== expect) {
      throw new Error(`TernaryMatmulUnrolled: packed has length ${packed.length}, expected ${expect} (outFeatures ${outFeatures} x inFeatures ${inFeatures})`);
    }
    if (!engineHasSimd()) return null;
    const codes = unpackI2(packed, outFeatures, inFeatures);
    let nonzeros = 0;
    for (const c of codes) if (c !== 0) nonzeros++;
    if (nonzeros > maxNonzeros) return null;
    return new TernaryMatmulUnrolled(codes, outFeatures, inFeatures, nonzeros, perTensorScale);
  }

  /** Quantizes x per token (as quantizeActivationsInt8) and multiplies; `actScaleOut`, if given,
   *  receives s per token. */
  linear(x: Float32Array, tokens: number, weightScale: Float32Array, bias: Float32Array | null, out: Float32Array, actScaleOut?: Float32Array): void {
    const scales = actScaleOut ?? scratchScales(tokens); // not asked for: a reused array, no allocation per call
    checkTernaryMatmulArgs('TernaryMatmulUnrolled.linear', {
      x, tokens, inFeatures: this.inFeatures, packedLength: this.outFeatures * this.packedRowBytes, outFeatures: this.outFeatures,
      weightScale, actScale: scales, bias, out,
    }, this.packedRowBytes);
    if (this.perTensorScale && weightScale.length !== 1) {
      throw new Error(`TernaryMatmulUnrolled.linear: built for one weight scale, got ${weightScale.length}`);
    }
    const { inFeatures, outFeatures, inPad, heap } = this;
    // Tensors in the heap are read and written in place: x when its rows need no padding (the
    // last group's spare lanes then read past the job's tokens: garbage that only reaches spare
    // lanes), out when the job is whole groups (no spare rows to write past its end).
    const xAt = inPad === inFeatures ? heap.address(x) : -1;
    const outAt = heap.address(out);
    for (let t0 = 0; t0 < tokens; t0 += TOKENS_PER_JOB) {
      const n = Math.min(TOKENS_PER_JOB, tokens - t0);
      const groups = Math.ceil(n / GROUP);
      const padded = groups * GROUP;
      const xInPlace = xAt >= 0, outInPlace = outAt >= 0 && n === padded;
      // scratch layout: xf (float rows of inPad) | xt (int16 codes) | act | scale | bias | out
      const xfBytes = xInPlace ? 0 : 4 * padded * inPad;
      const xtOff = xfBytes;
      const actOff = xtOff + 2 * padded * inPad;
      const scaleOff = actOff + 4 * padded;
      const biasOff = scaleOff + 4 * outFeatures;
      const outOff = biasOff + 4 * outFeatures;
      const tableOff = Math.ceil((outOff + (outInPlace ? 0 : 4 * padded * outFeatures)) / 8) * 8;
      // big calls: units of groups shared with the thread team's workers, their arguments (f64) last
      const threads = ternaryThreads();
      const team = threads > 1 && groups * this.nonzeros >= PARALLEL_MIN_ADDS ? threadTeam() : null;
      const unitGroups = Math.max(1, Math.min(16, Math.ceil(groups / (4 * threads))));
      const count = team ? Math.ceil(groups / unitGroups) : 0;
      const end = tableOff + count * UNIT_ARGS * 8;
      const base = heapScratch(heap, end);
      const f32 = heap.f32;
      const xf = xInPlace ? xAt + 4 * t0 * inFeatures : base;
      const [xt, act, scale, biasAt] = [base + xtOff, base + actOff, base + scaleOff, base + biasOff];
      const outPtr = outInPlace ? outAt + 4 * t0 * outFeatures : base + outOff;
      if (!xInPlace) {
        // the tokens, each row padded with zeros to inPad, then zero rows up to the whole group
        if (inPad === inFeatures) f32.set(x.subarray(t0 * inFeatures, (t0 + n) * inFeatures), xf / 4);
        else {
          for (let t = 0; t < n; t++) {
            f32.set(x.subarray((t0 + t) * inFeatures, (t0 + t + 1) * inFeatures), xf / 4 + t * inPad);
            f32.fill(0, xf / 4 + t * inPad + inFeatures, xf / 4 + (t + 1) * inPad);
          }
        }
        f32.fill(0, xf / 4 + n * inPad, xf / 4 + padded * inPad);
      }
      if (weightScale.length === 1) f32.fill(weightScale[0]!, scale / 4, scale / 4 + outFeatures);
      else f32.set(weightScale, scale / 4);
      if (bias) f32.set(bias, biasAt / 4);
      else f32.fill(0, biasAt / 4, biasAt / 4 + outFeatures);
      if (team) {
        // each unit prepares and sums its own groups
        team.grow(threads - 1);
        this.teamModule ??= team.register(this.module, ['unit']);
        const table = base + tableOff;
        const args = new Float64Array(heap.memory.buffer, table, count * UNIT_ARGS);
        for (let u = 0; u < count; u++) {
          const g0 = u * unitGroups;
          args.set([Math.min(unitGroups, groups - g0), xf + g0 * 32 * inPad, xt + g0 * 16 * inPad, act + g0 * 32, scale, biasAt, outPtr + g0 * 32 * outFeatures], u * UNIT_ARGS);
        }
        team.run({ module: this.teamModule, fn: 'unit', count, table, nargs: UNIT_ARGS, threads }, (u) =>
          this.exports.unit(...(args.subarray(u * UNIT_ARGS, (u + 1) * UNIT_ARGS) as unknown as [number, number, number, number, number, number, number])));
      } else {
        this.exports.prepare(groups, xf, xt, act);
      }
      for (let t = 0; t < n; t++) {
        const s = f32[act / 4 + t]!;
        // s is 0 for an infinite input and NaN for a NaN; a finite row always gives 0 < s < inf
        if (!(s > 0 && s < Infinity)) throw new Error(`TernaryMatmulUnrolled.linear: token ${t0 + t} holds a non-finite value`);
      }
      scales.set(f32.subarray(act / 4, act / 4 + n), t0);
      if (!team) this.exports.run(groups, xt, act, scale, biasAt, outPtr);
      if (!outInPlace) out.set(f32.subarray(outPtr / 4, outPtr / 4 + n * outFeatures), t0 * outFeatures);
    }
  }
}

/** Emits prepare() and run() for one weight matrix (codes: row-major [out, in] of -1/0/+1). */
export function buildUnrolledModule(
  codes: Int8Array, outFeatures: number, inFeatures: number, inPad: number, perTensorScale = false, sharedMemory = false,
): Uint8Array<ArrayBuffer> {
  // the tensor heap's memory (a shared memory must be imported with its maximum)
  const m = new wasm.ModuleBuilder().importMemory(1, sharedMemory ? HEAP_MAX_PAGES : undefined, sharedMemory);
  const prepare = emitPrepare(m, inPad);
  const run = emitRun(m, codes, outFeatures, inFeatures, inPad, perTensorScale);
  // unit(groups, xf, xt, act, scale, bias, out): prepare and run on the same groups (a thread's share)
  const unit = m.addFunction('unit', new Array<'i32'>(UNIT_ARGS).fill('i32'));
  unit.get(0).get(1).get(2).get(3).call(prepare);
  unit.get(0).get(2).get(3).get(4).get(5).get(6).call(run);
  return m.build();
}

/** prepare(groups, xf, xt, act): per-token scales, then int16 codes in token-lane order. */
function emitPrepare(m: wasm.ModuleBuilder, inPad: number): wasm.FunctionBody {
  const f = m.addFunction('prepare', ['i32', 'i32', 'i32', 'i32']);
  const [groups, xf, xt, act] = [0, 1, 2, 3];
  const t = f.local('i32'), tokens = f.local('i32'), i = f.local('i32'), row = f.local('i32'), g = f.local('i32');
  const src = f.local('i32'), dst = f.local('i32'), inputs = f.local('i32');
  const mx = f.local('v128'), absmax = f.local('f32');
  const s = [f.local('v128'), f.local('v128')];
  const rows = Array.from({ length: 8 }, () => f.local('v128'));
  const tmp = Array.from({ length: 4 }, () => f.local('v128'));
  const q = Array.from({ length: 8 }, () => f.local('v128')); // q[4h + j]: input j, tokens 4h..4h+3, as int32
  const loop = (index: number, limit: number, step: number, body: () => void): void => {
    f.i32(0).set(index).block().loop();
    f.get(index).get(limit).op('i32.ge_u').brIf(1);
    body();
    f.inc(index, step).br(0).end().end();
  };
  f.i32(inPad).set(inputs);
  // ---- s per token: the max of |x| over the row (f32 max propagates NaN), s = 127 / max(m, 1e-5)
  f.get(groups).i32(GROUP).op('i32.mul').set(tokens);
  loop(t, tokens, 1, () => {
    f.get(xf).get(t).i32(4 * inPad).op('i32.mul').op('i32.add').set(row);
    f.v128Bytes(new Array<number>(16).fill(0)).set(mx);
    loop(i, inputs, 4, () => {
      f.get(mx).get(row).get(i).i32(2).op('i32.shl').op('i32.add').v128Load().op('f32x4.abs').op('f32x4.max').set(mx);
    });
    f.get(mx).f32x4ExtractLane(0).get(mx).f32x4ExtractLane(1).op('f32.max');
    f.get(mx).f32x4ExtractLane(2).get(mx).f32x4ExtractLane(3).op('f32.max').op('f32.max').set(absmax);
    f.get(act).get(t).i32(2).op('i32.shl').op('i32.add');
    f.f32(127).get(absmax).f32(1e-5).op('f32.max').op('f32.div').f32Store();
  });
  // ---- codes: for each group and each block of 4 inputs, two 4 x 4 float blocks (tokens 0-3
  // and 4-7) are transposed so a vector holds one input of 4 tokens, scaled by those tokens' s,
  // rounded half to even (f32x4.nearest), and narrowed to int16: one vector per input, 8 tokens.
  loop(g, groups, 1, () => {
    for (let h = 0; h < 2; h++) f.get(act).get(g).i32(32).op('i32.mul').op('i32.add').v128Load(16 * h).set(s[h]!);
    f.get(xf).get(g).i32(GROUP * 4 * inPad).op('i32.mul').op('i32.add').set(src);
    f.get(xt).get(g).i32(16 * inPad).op('i32.mul').op('i32.add').set(dst);
    loop(i, inputs, 4, () => {
      for (let r = 0; r < 8; r++) f.get(src).v128Load(r * 4 * inPad).set(rows[r]!);
      for (let h = 0; h < 2; h++) {
        const [a, b, c, d] = rows.slice(4 * h, 4 * h + 4) as [number, number, number, number];
        f.get(a).get(b).shuffleLanes([0, 4, 1, 5]).set(tmp[0]!); // a0 b0 a1 b1
        f.get(a).get(b).shuffleLanes([2, 6, 3, 7]).set(tmp[1]!); // a2 b2 a3 b3
        f.get(c).get(d).shuffleLanes([0, 4, 1, 5]).set(tmp[2]!);
        f.get(c).get(d).shuffleLanes([2, 6, 3, 7]).set(tmp[3]!);
        const column = (j: number, lo: number, hi: number, lanes: [number, number, number, number]): void => {
          f.get(lo).get(hi).shuffleLanes(lanes).get(s[h]!).op('f32x4.mul').op('f32x4.nearest').op('i32x4.trunc_sat_f32x4_s').set(q[4 * h + j]!);
        };
        column(0, tmp[0]!, tmp[2]!, [0, 1, 4, 5]); // a0 b0 c0 d0
        column(1, tmp[0]!, tmp[2]!, [2, 3, 6, 7]);
        column(2, tmp[1]!, tmp[3]!, [0, 1, 4, 5]);
        column(3, tmp[1]!, tmp[3]!, [2, 3, 6, 7]);
      }
      for (let j = 0; j < 4; j++) f.get(dst).get(q[j]!).get(q[4 + j]!).op('i16x8.narrow_i32x4_s').v128Store(16 * j);
      f.inc(src, 16).inc(dst, 64);
    });
  });
  return f;
}

/** run(groups, xt, act, scale, bias, out): the unrolled sums and the rescale. */
function emitRun(m: wasm.ModuleBuilder, codes: Int8Array, outFeatures: number, inFeatures: number, inPad: number, perTensorScale: boolean): wasm.FunctionBody {
  const f = m.addFunction('run', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [groups, xt, act, scale, bias, out] = [0, 1, 2, 3, 4, 5];
  const g = f.local('i32'), base = f.local('i32'), outBase = f.local('i32');
  const acc = f.local('v128'), lo = f.local('v128'), hi = f.local('v128'), sLo = f.local('v128'), sHi = f.local('v128');
  const dLo = f.local('v128'), dHi = f.local('v128'); // scale / s of the group's tokens (one weight scale)
  const rowBytes = 4 * outFeatures; // out is [tokens, outFeatures] float32
  const zero = new Array<number>(16).fill(0);
  const slices = Math.max(1, Math.ceil(inFeatures / SLICE));

  f.i32(0).set(g).block().loop();
  f.get(g).get(groups).op('i32.ge_u').brIf(1);
  f.get(xt).get(g).i32(16 * inPad).op('i32.mul').op('i32.add').set(base);
  f.get(out).get(g).i32(GROUP * rowBytes).op('i32.mul').op('i32.add').set(outBase);
  f.get(act).get(g).i32(32).op('i32.mul').op('i32.add').v128Load(0).set(sLo);
  f.get(act).get(g).i32(32).op('i32.mul').op('i32.add').v128Load(16).set(sHi);
  if (perTensorScale) {
    // the same f32 division the per-row form does, once: every row's scale is scale[0]
    f.get(scale).v128Load32Splat(0).get(sLo).op('f32x4.div').set(dLo);
    f.get(scale).v128Load32Splat(0).get(sHi).op('f32x4.div').set(dHi);
  }
  for (let o = 0; o < outFeatures; o++) {
    const w = codes.subarray(o * inFeatures, (o + 1) * inFeatures);
    for (let slice = 0; slice < slices; slice++) {
      // the slice's sum on the operand stack: start from 0, then +- x[i] for each nonzero weight
      f.v128Bytes(zero);
      for (let i = slice * SLICE; i < Math.min(inFeatures, (slice + 1) * SLICE); i++) {
        if (w[i] === 0) continue;
        f.get(base).v128Load(16 * i).op(w[i]! > 0 ? 'i16x8.add' : 'i16x8.sub');
      }
      if (slices === 1) {
        f.tee(acc).op('i32x4.extend_low_i16x8_s').set(lo);
        f.get(acc).op('i32x4.extend_high_i16x8_s').set(hi);
      } else {
        f.set(acc);
        if (slice === 0) {
          f.get(acc).op('i32x4.extend_low_i16x8_s').set(lo);
          f.get(acc).op('i32x4.extend_high_i16x8_s').set(hi);
        } else {
          f.get(lo).get(acc).op('i32x4.extend_low_i16x8_s').op('i32x4.add').set(lo);
          f.get(hi).get(acc).op('i32x4.extend_high_i16x8_s').op('i32x4.add').set(hi);
        }
      }
    }
    // out[t, o] = float(sum) * (scale[o] / s[t]) + bias[o], lane by lane into the rows
    for (const [sum, sv, dv, first] of [[lo, sLo, dLo, 0], [hi, sHi, dHi, 4]] as const) {
      f.get(sum).op('f32x4.convert_i32x4_s');
      if (perTensorScale) f.get(dv);
      else f.get(scale).v128Load32Splat(4 * o).get(sv).op('f32x4.div');
      f.op('f32x4.mul');
      f.get(bias).v128Load32Splat(4 * o).op('f32x4.add').set(acc);
      for (let lane = 0; lane < 4; lane++) {
        f.get(outBase).get(acc).f32x4ExtractLane(lane).f32Store((first + lane) * rowBytes + 4 * o);
      }
    }
  }
  f.inc(g, 1).br(0).end().end();
  return f;
}
