// Packed ternary matmul vs float32 matmul on ViT-ish shapes.
//
//   cd /work/main && node scripts/bench.mjs ternary [-- --rounds 5 --tokens 1,17,4160]
//
// For each (in -> out) shape and token count it times, in one process:
//   f32 4x4     a float32 y = x @ W^T, plain TypeScript with a 4x4 register tile (the baseline
//               here; the project's WebAssembly GEMM is compared in the model benchmark)
//   quant ts    quantizeActivationsInt8 (per-token absmax to int8, TypeScript)
//   t3 ts       ternaryMatmulBase3 (TypeScript, 243-entry tables), on int8 activations
//   i2 ts       ternaryMatmulI2 (TypeScript, pair tables), on int8 activations
//   i2 wasm     TernaryMatmulI2Wasm.matmul (WebAssembly SIMD, swizzle lookups), on int8 activations
//   linear 1t   TernaryMatmulI2Wasm.linear: float activations in, quantized in WebAssembly, then
//               the same matmul: the whole ternary layer, comparable with f32 4x4; one thread
//   linear Nt   the same with the worker pool (ternary-runtime.ts; jobs of >= 4M multiply-adds)
//   dot 1t, Nt  TernaryMatmulDot.linear (kernels/ternary-dot.ts), what TernaryLinear runs: the
//               relaxed variant where the engine has relaxed SIMD, else the i16 one; 1 and N threads
//   gemm 1t, Nt the float layer on the project's WebAssembly GEMM (@bitvit/tensor linear(), its
//               weight packed once: prepackLinearWeight), the baseline the model benchmark uses
// Times are medians over rounds (each round repeats the call for at least 40 ms and takes the
// mean), because this machine's 2 cores are shared and single timings are noisy.
// "x f32" = f32 time / linear 1t time (both single-threaded); "dot x gemm" = gemm Nt / dot Nt.
// W: bytes of the weight operand (what one pass over W reads).

import { packBase3, packI2, packedBytes } from '../src/packing.js';
import { quantizeActivationsInt8 } from '../src/kernels/quantize-activations.js';
import { ternaryMatmulBase3, ternaryMatmulI2 } from '../src/kernels/ternary-matmul.js';
import {
  engineHasRelaxedSwizzle, setTernaryThreads, TernaryMatmulI2Wasm, ternaryThreads, wasmTernaryAvailable,
} from '../src/kernels/ternary-wasm.js';
import { ternaryRuntime } from '../src/kernels/ternary-runtime.js';
import { rng } from '../test/helpers.js';
import { Tensor, linear, noGrad, prepackLinearWeight, setGemmThreads, tidy } from '@bitvit/tensor';
import { TernaryMatmulDot, engineHasRelaxedDot } from '../src/kernels/ternary-dot.js';

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1]! : fallback;
}
const ROUNDS = Number(flag('rounds', '5'));
const TOKENS = flag('tokens', `1,17,${65 * 64}`).split(',').map(Number);
/** Skip the slow TypeScript kernels above this many multiply-adds (they would take seconds). */
const TS_MAX_MACS = Number(flag('ts-max-macs', String(4e8)));
const SHAPES: Array<[number, number]> = [[64, 128], [192, 768], [768, 192], [192, 192], [384, 1536]];

// y[m, n] = sum_k x[m, k] * w[n, k], a 4x4 tile of y in 16 locals per pass over k.
function matmulF32(x: Float32Array, m: number, k: number, w: Float32Array, n: number, y: Float32Array): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
      const b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
      for (let p = 0; p < k; p++) {
        const x0 = x[a0 + p]!, x1 = x[a1 + p]!, x2 = x[a2 + p]!, x3 = x[a3 + p]!;
        const w0 = w[b0 + p]!, w1 = w[b1 + p]!, w2 = w[b2 + p]!, w3 = w[b3 + p]!;
        c00 += x0 * w0; c01 += x0 * w1; c02 += x0 * w2; c03 += x0 * w3;
        c10 += x1 * w0; c11 += x1 * w1; c12 += x1 * w2; c13 += x1 * w3;
        c20 += x2 * w0; c21 += x2 * w1; c22 += x2 * w2; c23 += x2 * w3;
        c30 += x3 * w0; c31 += x3 * w1; c32 += x3 * w2; c33 += x3 * w3;
      }
      const r0 = i * n + j, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
      y[r0] = c00; y[r0 + 1] = c01; y[r0 + 2] = c02; y[r0 + 3] = c03;
      y[r1] = c10; y[r1 + 1] = c11; y[r1 + 2] = c12; y[r1 + 3] = c13;
      y[r2] = c20; y[r2 + 1] = c21; y[r2 + 2] = c22; y[r2 + 3] = c23;
      y[r3] = c30; y[r3 + 1] = c31; y[r3 + 2] = c32; y[r3 + 3] = c33;
    }
    for (; j < n; j++) for (let r = i; r < i + 4; r++) y[r * n + j] = dot(x, r * k, w, j * k, k);
  }
  // leftover rows (m not a multiple of 4, e.g. one token): one row at a time, 4 columns per pass
  for (; i < m; i++) {
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      const a = i * k, b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
      for (let p = 0; p < k; p++) {
        const xv = x[a + p]!;
        c0 += xv * w[b0 + p]!; c1 += xv * w[b1 + p]!; c2 += xv * w[b2 + p]!; c3 += xv * w[b3 + p]!;
      }
      y[i * n + j] = c0; y[i * n + j + 1] = c1; y[i * n + j + 2] = c2; y[i * n + j + 3] = c3;
    }
    for (; j < n; j++) y[i * n + j] = dot(x, i * k, w, j * k, k);
  }
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, k: number): number {
  let s = 0;
  for (let p = 0; p < k; p++) s += a[ao + p]! * b[bo + p]!;
  return s;
}

/** Median over ROUNDS of the mean time per call (ms); each round runs >= 40 ms (at least once). */
function time(fn: () => void): number {
  fn(); // warm up: JIT and caches
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let calls = 0;
    const start = performance.now();
    let now = start;
    do {
      fn();
      calls++;
      now = performance.now();
    } while (now - start < 40);
    rounds.push((now - start) / calls);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)]!;
}

const fmtMs = (ms: number): string => (Number.isNaN(ms) ? '-' : ms < 0.1 ? ms.toFixed(4) : ms < 10 ? ms.toFixed(3) : ms.toFixed(1));
const fmtBytes = (b: number): string => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

if (!wasmTernaryAvailable()) throw new Error('ternary bench: this engine has no WebAssembly SIMD');
const THREADS = ternaryThreads();
const VARIANT = engineHasRelaxedDot() ? 'relaxed' : 'i16';

// The dot kernel and the GEMM, on 1 and THREADS threads, before the table kernel's runtime exists:
// setTernaryThreads also stops and starts that runtime's workers, and a worker starting (its
// module compiled, its code optimized) took up to half the second core from a two-thread call.
const dotAndGemm = new Map<string, [number, number, number, number]>();
{
  const next = rng(7);
  for (const [inF, outF] of SHAPES) {
    const codes = Int8Array.from({ length: outF * inF }, () => Math.floor(next() * 3) - 1);
    const dotKernel = TernaryMatmulDot.fromPacked(packI2(codes, outF, inF), outF, inF, VARIANT)!;
    const wTensor = new Tensor(Float32Array.from(codes, (c) => c * 0.02), [outF, inF]);
    const wPacked = prepackLinearWeight(wTensor);
    const gamma = Float32Array.of(0.02), bias = new Float32Array(outF);
    for (const tokens of TOKENS) {
      const x = Float32Array.from({ length: tokens * inF }, () => next() * 2 - 1);
      const y = new Float32Array(tokens * outF);
      const xTensor = new Tensor(x, [tokens, inF]);
      const gemm = (): void => tidy(() => void noGrad(() => linear(xTensor, wTensor, null, wPacked)));
      const at = (threads: number): [number, number] => {
        setTernaryThreads(threads);
        setGemmThreads(threads);
        return [time(() => dotKernel.linear(x, tokens, gamma, bias, y)), time(gemm)];
      };
      const [d1, g1] = at(1);
      const [dN, gN] = THREADS > 1 ? at(THREADS) : [NaN, NaN];
      dotAndGemm.set(`${inF}x${outF}x${tokens}`, [d1, dN, g1, gN]);
    }
  }
}

const runtime = ternaryRuntime({ relaxedSwizzle: engineHasRelaxedSwizzle() });
runtime.waitForWorkers();
console.log(
  `node ${process.version}, ${ROUNDS} rounds, WebAssembly SIMD kernel with ${engineHasRelaxedSwizzle() ? 'relaxed' : 'plain'} swizzle, ` +
    `${THREADS} threads; times in ms (median)`,
);
console.log(`dot kernel: the ${VARIANT} variant`);
const header = [
  'in -> out', 'tokens', 'f32 4x4', 'quant ts', 't3 ts', 'i2 ts', 'i2 wasm', 'linear 1t', `linear ${THREADS}t`, 'x f32', 'GMAC/s 1t',
  'dot 1t', `dot ${THREADS}t`, 'gemm 1t', `gemm ${THREADS}t`, 'dot x gemm', 'W f32', 'W i2', 'W t3',
];
const rows: string[][] = [header];
const next = rng(42);
for (const [inF, outF] of SHAPES) {
  const codes = Int8Array.from({ length: outF * inF }, () => Math.floor(next() * 3) - 1);
  const weightF32 = Float32Array.from(codes, (c) => c * 0.02);
  const packed = packI2(codes, outF, inF);
  const packedT3 = packBase3(codes, outF, inF);
  const kernel = new TernaryMatmulI2Wasm(packed, outF, inF);
  const gamma = Float32Array.of(0.02);
  const bias = new Float32Array(outF);
  for (const tokens of TOKENS) {
    const x = Float32Array.from({ length: tokens * inF }, () => next() * 2 - 1);
    const xq = new Int8Array(x.length);
    const s = new Float32Array(tokens);
    const y = new Float32Array(tokens * outF);
    const macs = tokens * inF * outF;
    const runTs = macs <= TS_MAX_MACS;
    const [tDot1, tDotN, tGemm1, tGemmN] = dotAndGemm.get(`${inF}x${outF}x${tokens}`)!;
    const tF32 = time(() => matmulF32(x, tokens, inF, weightF32, outF, y));
    const tQuant = time(() => quantizeActivationsInt8(x, tokens, inF, xq, s));
    const tT3 = runTs ? time(() => ternaryMatmulBase3(xq, tokens, inF, packedT3, outF, gamma, s, bias, y)) : NaN;
    const tI2 = runTs ? time(() => ternaryMatmulI2(xq, tokens, inF, packed, outF, gamma, s, bias, y)) : NaN;
    setTernaryThreads(1);
    const tWasm = time(() => kernel.matmul(xq, tokens, gamma, s, bias, y));
    const tLinear = time(() => kernel.linear(x, tokens, gamma, bias, y));
    setTernaryThreads(THREADS);
    runtime.waitForWorkers();
    const tThreads = THREADS > 1 ? time(() => kernel.linear(x, tokens, gamma, bias, y)) : NaN;
    rows.push([
      `${inF} -> ${outF}`, String(tokens), fmtMs(tF32), fmtMs(tQuant), fmtMs(tT3), fmtMs(tI2), fmtMs(tWasm), fmtMs(tLinear), fmtMs(tThreads),
      `${(tF32 / tLinear).toFixed(1)}x`, (macs / tLinear / 1e6).toFixed(1),
      fmtMs(tDot1), fmtMs(tDotN), fmtMs(tGemm1), fmtMs(tGemmN), `${((THREADS > 1 ? tGemmN / tDotN : tGemm1 / tDot1)).toFixed(1)}x`,
      fmtBytes(4 * inF * outF), fmtBytes(kernel.weightBytes), fmtBytes(packedBytes('t3', outF, inF)),
    ]);
  }
}
const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const [i, r] of rows.entries()) {
  console.log(r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}
console.log(`i2 wasm and linear 1t on one thread. GMAC/s: multiply-adds per second of linear 1t. TypeScript ternary kernels skipped above ${TS_MAX_MACS.toExponential(0)} multiply-adds ('-').`);
