// GEMM for the CPU backend: the one entry point the matmul op calls.
//
//   gemm()           the fastest path here: WebAssembly SIMD (wasm-gemm.ts), on the worker pool
//                    when the problem is big enough, else the TypeScript kernel
//   gemmReference()  the readable register-tiled TypeScript kernel (reference.ts)
//
// Files: args.ts (the call and its checks), reference.ts, pack.ts (operand packing),
// ../wasm/builder.ts (the binary format), wasm-kernel.ts (the emitted micro-kernel),
// wasm-gemm.ts (memory layout, units, dispatch), pool.ts (synchronous worker pool).

import { resolveGemmArgs, type GemmArgs } from './args.js';
import { gemmReference } from './reference.js';
import { WasmGemm, hasRelaxedSimd, hasWasmSimd } from './wasm-gemm.js';

export type { GemmArgs } from './args.js';
export { gemmReference } from './reference.js';

/** Below this many multiply-adds (M*N*K over the batch) packing and copying cost more than the
 *  SIMD kernel saves, and the TypeScript kernel is faster (measured, see docs/gemm.md). */
const WASM_MIN_MACS = 8192;

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
