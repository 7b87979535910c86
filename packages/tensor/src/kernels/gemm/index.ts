// GEMM for the CPU backend: the one entry point the matmul op calls.
//
//   gemm()           the fastest path here: WebAssembly SIMD (wasm-gemm.ts), on the worker pool
//                    when the problem is big enough, else the TypeScript kernel
//   gemmReference()  the readable register-tiled TypeScript kernel (reference.ts)
//
// Files: args.ts (the call and its checks), reference.ts, pack.ts (operand packing),
// ../wasm/builder.ts (the binary format), wasm-kernel.ts (the emitted micro-kernel),
// wasm-gemm.ts (memory layout, units, dispatch); the worker threads are ../wasm/team.ts's.

import { resolveGemmArgs, type GemmArgs } from './args.js';
import { gemmReference } from './reference.js';
import { WasmGemm, hasRelaxedSimd, hasWasmSimd } from './wasm-gemm.js';
import type { PackedOperand } from './packed.js';

export type { GemmArgs } from './args.js';
export { gemmReference } from './reference.js';

/** Below this many multiply-adds (M*N*K over the batch) packing and copying cost more than the
 *  SIMD kernel saves, and the TypeScript kernel is faster (measured, see docs/gemm.md). */
export const WASM_MIN_MACS = 8192;

let engine: WasmGemm | null | undefined; // undefined: not built yet; null: no SIMD here
let threads = defaultThreads();

/** One thread per core, up to 8 (the machine this was tuned on has 2). */
function defaultThreads(): number {
  const os = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:os') as
    | { availableParallelism?: () => number }
    | undefined;
  return Math.min(8, os?.availableParallelism?.() ?? 1);
}

/** The WebAssembly engine behind gemm, built on first use (null where WebAssembly SIMD is missing).
 *  Not part of the API the ops use: tests and benchmarks look at it (threads, workerUnits). */
export function wasmEngine(): WasmGemm | null {
  if (engine === undefined) {
    engine = hasWasmSimd() ? new WasmGemm(hasRelaxedSimd()) : null;
    engine?.setThreads(threads, false); // the workers start with the first call that needs them
  }
  return engine;
}

/** C = op(A) @ op(B) (+ C if accumulate), on the fastest path available; see GemmArgs. */
export function gemm(args: GemmArgs): void {
  const call = resolveGemmArgs(args);
  const wasm = wasmEngine();
  if (wasm && call.M * call.N * call.K * call.batch >= WASM_MIN_MACS) wasm.run(call);
  else gemmReference(call);
}

/** op(B) packed once for gemm calls that pass it as GemmArgs.packedB (B is K x N, or N x K when
 *  transB); null where the WebAssembly GEMM is missing (the TypeScript kernel packs nothing). */
export function packOperandB(B: Float32Array, transB: boolean, K: number, N: number): PackedOperand | null {
  return wasmEngine()?.packB(B, transB, K, N) ?? null;
}

/**
 * Turns WebAssembly relaxed SIMD on where the engine has it behind a flag (Node 20, whose V8 11.3
 * ships it as --experimental-wasm-relaxed-simd; Node 22+ and current browsers have it on), so
 * kernels compiled after this call use fused multiply-adds (`f32x4.relaxed_madd`: 5-8% off a
 * vit-mnist training step, more on the GEMM alone) and the one-instruction swizzle of the ternary
 * table kernel. Call it first thing, before any kernel runs (the CLI does); an engine built
 * before keeps its plain SIMD. Returns whether relaxed SIMD validates now.
 * A fused multiply-add rounds once instead of twice, so products differ from the plain kernel's
 * in the last bits (tested against the reference within the same bounds).
 */
export function enableRelaxedSimd(): boolean {
  if (hasRelaxedSimd()) return true;
  const proc = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  // only Node 20 knows the flag; an unknown flag would be an error on later versions
  if (proc?.versions?.node?.split('.')[0] !== '20') return false;
  const v8 = proc.getBuiltinModule?.('node:v8') as { setFlagsFromString(flags: string): void } | undefined;
  v8?.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return hasRelaxedSimd();
}

export function gemmInfo(): { path: 'wasm-simd' | 'typescript'; threads: number; relaxedSimd: boolean } {
  const wasm = wasmEngine();
  return wasm ? { path: 'wasm-simd', threads: wasm.threads, relaxedSimd: wasm.relaxedSimd } : { path: 'typescript', threads: 1, relaxedSimd: false };
}

/** How many threads gemm may use (this one included); 1 disables the worker pool. The workers
 *  start now, and this returns once they are up (~50 ms). */
export function setGemmThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setGemmThreads: expected an integer >= 1, got ${n}`);
  threads = n;
  wasmEngine()?.setThreads(n);
}
