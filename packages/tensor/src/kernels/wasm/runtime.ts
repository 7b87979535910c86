// The kernels' WebAssembly instance and its memory. A tensor lives in a JavaScript Float32Array,
// which WebAssembly cannot address, so a kernel call copies its inputs into this memory, runs,
// and copies the result out into a new Float32Array. The copies are memcpy speed (a tenth of a
// nanosecond a float); the kernels they feed save several nanoseconds a float on exp, erf and
// rounding, and on the plain ops still save the scalar loop's bounds checks and conversions.
// (A fresh output array costs more than either copy - its pages fault in on first write - so
// outputs come from the storage pool, which recycles the arrays of tensors that are gone.)
//
// Each call lays its buffers out from HEAP_START afresh (a bump allocator reset per call), every
// buffer 64-byte aligned with 64 bytes of padding after it: the unary kernels run in whole
// vectors past a buffer's end, and nothing needs freeing.
import { allocFloats } from '../../storage.js';
import { ModuleBuilder } from './builder.js';
import { emitElementwise } from './elementwise.js';
import { emitLayout } from './layout.js';
import { emitNn } from './nn.js';
import { emitReduce } from './reduce.js';
import { CONTROL_BYTES, KernelPool, MAX_WORKERS, poolAvailable } from './pool.js';

const PAGE = 65536;
const INITIAL_PAGES = 64; // 4 MiB; grows with the largest call
const MAXIMUM_PAGES = 16384; // 1 GiB
/** Bytes at the start of the memory kept for the worker pool's control block. */
export const HEAP_START = CONTROL_BYTES;

export type KernelFunction = (...args: number[]) => void;

/** Whether this engine validates WebAssembly SIMD (a function doing one f32x4.add). */
export function hasWasmSimd(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  const mod = new ModuleBuilder();
  const f = mod.addFunction('probe', [], []);
  const v = f.local('v128');
  f.f32x4(0).f32x4(1).op('f32x4.add').set(v);
  try {
    return WebAssembly.validate(mod.build());
  } catch {
    return false;
  }
}

/** The module with every kernel, importing a memory of the given kind. */
export function buildKernelModule(shared: boolean): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder().importMemory(INITIAL_PAGES, MAXIMUM_PAGES, shared);
  emitElementwise(mod);
  emitReduce(mod);
  emitNn(mod);
  emitLayout(mod);
  return mod.build();
}

/** The compiled module and the memory it imports (shared where workers can use it). */
interface CompiledKernels {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  shared: boolean;
}

function kernelMemory(): { memory: WebAssembly.Memory; shared: boolean } {
  const shared = poolAvailable();
  try {
    return { memory: new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared }), shared };
  } catch {
    // a browser page without cross-origin isolation has no shared memory: one thread then
    return { memory: new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES }), shared: false };
  }
}

function compileKernels(): CompiledKernels {
  const { memory, shared } = kernelMemory();
  return { module: new WebAssembly.Module(buildKernelModule(shared)), memory, shared };
}

export class KernelRuntime {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  private readonly exports: Record<string, KernelFunction>;
  private readonly names: string[];
  /** The memory as floats and as doubles (unit arguments); re-made whenever the memory grows. */
  f32: Float32Array;
  private f64: Float64Array;
  private top = HEAP_START;
  private pool: KernelPool | null = null;
  private wantedThreads = 1;

  constructor(threads = 1, compiled?: CompiledKernels) {
    const { module, memory, shared } = compiled ?? compileKernels();
    this.memory = memory;
    this.shared = shared;
    this.module = module;
    this.exports = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, KernelFunction>;
    this.names = Object.keys(this.exports);
    this.f32 = new Float32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
    this.setThreads(threads);
  }

  /** Threads a split call uses: this one and the pool's workers (once they are up). */
  get threads(): number {
    return this.shared ? this.wantedThreads : 1;
  }

  /** Units the pool's workers have run (tests check that the workers take part). */
  get workerUnits(): number {
    return this.pool?.workerUnits ?? 0;
  }

  /** Uses n threads for split calls from now on; the workers start with the first call that
   *  needs them (a worker takes ~50 ms to start), or now with `wait`. */
  setThreads(n: number, wait = false): void {
    this.wantedThreads = Math.min(Math.max(1, Math.floor(n)), MAX_WORKERS + 1);
    if (this.pool) this.pool.resize(this.threads - 1, wait ? 5000 : 0);
    else if (wait) this.startPool(5000);
  }

  private startPool(readyMs: number): void {
    if (!this.pool && this.threads > 1) {
      this.pool = new KernelPool(this.module, this.memory, this.names);
      this.pool.resize(this.threads - 1, readyMs);
    }
  }

  /**
   * Calls kernel `name` once per unit (an argument list each): on the worker pool when there is
   * more than one unit and more than one thread, else one after another here. Units must not
   * write where another unit reads or writes.
   */
  run(name: string, units: readonly number[][]): void {
    const fn = this.fn(name);
    if (units.length === 1 || this.threads === 1) {
      for (const u of units) fn(...u);
      return;
    }
    this.startPool(0);
    const nargs = units[0]!.length;
    const table = this.alloc(units.length * nargs * 2); // f64 arguments, 8-byte aligned
    units.forEach((u, i) => this.f64.set(u, table / 8 + i * nargs));
    this.pool!.run(this.names.indexOf(name), fn, table, units.length, nargs, this.f64);
  }

  /** An exported kernel by name; throws for a name the module does not have. */
  fn(name: string): KernelFunction {
    const f = this.exports[name];
    if (typeof f !== 'function') throw new Error(`wasm kernels: no exported function ${name}`);
    return f;
  }

  /** Starts a call's layout: every buffer handed out before is free again. */
  reset(): void {
    this.top = HEAP_START;
  }

  /** Room for n floats (64-byte aligned, 64 bytes of padding after); returns its byte address. */
  alloc(n: number): number {
    const at = this.top;
    this.top = at + Math.ceil((n * 4 + 64) / 64) * 64;
    if (this.top > this.f32.byteLength) this.grow(this.top);
    return at;
  }

  /** Copies values in; returns their byte address. */
  put(values: Float32Array): number {
    const at = this.alloc(values.length);
    this.f32.set(values, at >> 2);
    return at;
  }

  /** A filled buffer of n floats (ones for a missing layerNorm weight, zeros for a missing bias). */
  filled(n: number, value: number): number {
    const at = this.alloc(n);
    this.f32.fill(value, at >> 2, (at >> 2) + n);
    return at;
  }

  /** Copies n floats out into a new Float32Array (from the storage pool, ../../storage.ts). */
  take(at: number, n: number): Float32Array {
    const out = allocFloats(n);
    out.set(this.f32.subarray(at >> 2, (at >> 2) + n));
    return out;
  }

  private grow(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    this.memory.grow(Math.ceil((bytes - have) / PAGE));
    this.f32 = new Float32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
  }
}

let runtime: KernelRuntime | null | undefined;
let threads = defaultThreads();

/** One thread per core, up to 8, as the GEMM (kernels/gemm/index.ts). */
function defaultThreads(): number {
  const os = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:os') as
    | { availableParallelism?: () => number }
    | undefined;
  return Math.min(8, os?.availableParallelism?.() ?? 1);
}

/**
 * The shared runtime, built on first use; null where WebAssembly SIMD is missing, or where the
 * module may not be compiled synchronously (a browser's main thread allows that up to 4 KB, and
 * the module is about 24 KB): there, `await loadKernels()` once first.
 */
export function kernelRuntime(): KernelRuntime | null {
  if (runtime === undefined) {
    try {
      runtime = hasWasmSimd() ? new KernelRuntime(threads) : null;
    } catch {
      runtime = null;
    }
  }
  return runtime;
}

/** Compiles the kernels asynchronously (allowed everywhere) and makes them the runtime; resolves
 *  to whether the SIMD kernels are in use. */
export async function loadKernels(): Promise<boolean> {
  if (runtime) return true;
  if (!hasWasmSimd()) return false;
  const { memory, shared } = kernelMemory();
  const module = await WebAssembly.compile(buildKernelModule(shared));
  runtime = new KernelRuntime(threads, { module, memory, shared });
  return true;
}

/** How many threads the kernels may split big calls over (this one included); 1: no pool. */
export function setKernelThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setKernelThreads: expected an integer >= 1, got ${n}`);
  threads = n;
  runtime?.setThreads(n, true);
}

export function kernelThreads(): number {
  return runtime?.threads ?? threads;
}
