// The CPU backend: the TypeScript kernels (reference.ts), with the elementwise, reduction,
// normalisation and quantization work moved onto WebAssembly SIMD kernels (../wasm/) where the
// engine has WebAssembly SIMD; matmul is the GEMM's (../gemm/) either way.
//   setCpuSimd(false)   back to the TypeScript kernels (benchmarks compare the two in one process)
//   BITVIT_SIMD=0       the same, from the environment, read when the package loads
//   setKernelThreads(n) threads the heavy kernels may split over (default: one per core, up to 8)
//   await loadKernels() compiles the kernels asynchronously: needed once on a browser's main
//                       thread, which compiles modules over 4 KB only that way (until then, and
//                       wherever WebAssembly SIMD is missing, the TypeScript kernels run)
import type { Backend } from '../backend.js';
import { gemmInfo } from '../gemm/index.js';
import { cpuReference } from './reference.js';
import { hasWasmSimd, kernelRuntime } from '../wasm/runtime.js';
import * as simd from '../wasm/kernels.js';

export { cpuReference } from './reference.js';
export { kernelThreads, loadKernels, setKernelThreads } from '../wasm/runtime.js';

/** The methods the SIMD kernels take over; every other method stays the reference's. */
const simdMethods: Partial<Backend> = {
  unary: simd.unary, binary: simd.binary, clamp: simd.clamp, geluBackward: simd.geluBackward,
  reduce: simd.reduce, permute: simd.permute, expand: simd.expand,
  softmax: simd.softmax, softmaxBackward: simd.softmaxBackward, logSoftmax: simd.logSoftmax,
  logSoftmaxBackward: simd.logSoftmaxBackward, layerNorm: simd.layerNorm, layerNormBackward: simd.layerNormBackward,
  absmaxQuantize: simd.absmaxQuantize, ternaryQuantize: simd.ternaryQuantize, attention: simd.attention,
  attentionBackward: simd.attentionBackward,
};

let simdOn = false;

export const cpuBackend: Backend = {
  ...cpuReference,
  describe: () => {
    const g = gemmInfo();
    const gemm = g.path === 'wasm-simd' ? `wasm-simd gemm, ${g.threads} thread${g.threads > 1 ? 's' : ''}` : 'typescript gemm';
    const simdRuns = simdOn && kernelRuntime() !== null; // null: not compiled yet (see loadKernels)
    return `cpu (${simdRuns ? 'wasm-simd' : 'TypeScript'} kernels, ${gemm})`;
  },
};

/** Whether the CPU backend runs its elementwise/norm/quantizer kernels on WebAssembly SIMD. */
export function cpuSimdEnabled(): boolean {
  return simdOn;
}

/**
 * Switches the CPU backend between the WebAssembly SIMD kernels (the default where the engine has
 * SIMD) and the TypeScript reference; returns whether SIMD is on afterwards (false where missing).
 */
export function setCpuSimd(on: boolean): boolean {
  simdOn = on && simdAvailable();
  Object.assign(cpuBackend, simdOn ? simdMethods : pick(cpuReference, Object.keys(simdMethods) as Array<keyof Backend>));
  return simdOn;
}

let available: boolean | undefined;
/** Validating a one-instruction module is cheap; the kernels themselves are built on first use. */
function simdAvailable(): boolean {
  available ??= hasWasmSimd();
  return available;
}

function pick(from: Backend, keys: Array<keyof Backend>): Partial<Backend> {
  return Object.fromEntries(keys.map((k) => [k, from[k]])) as Partial<Backend>;
}

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
setCpuSimd(env?.BITVIT_SIMD !== '0');
