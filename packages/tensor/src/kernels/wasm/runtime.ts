// The kernels' WebAssembly instance, on the heap (heap.ts). Inputs that already live in the heap
// (tensor data from the storage pool, ../../storage.ts) are read where they are; others are
// copied into a scratch block first. Outputs big enough for the pool are written straight into a
// pool array's block, which becomes the result tensor's data; small ones are written to scratch
// and copied out. (The copies are memcpy speed, but on a training step they added up to 15% of
// the time, and a fresh output array costs more than a copy: its pages fault in on first write.)
//
// Each call lays its scratch out afresh (a bump allocator reset per call), every buffer 64-byte
// aligned with 64 bytes of padding after it: the unary kernels run in whole vectors past a
// buffer's end. Pool blocks have the same padding (storage.ts asks for 64 bytes more).
import { allocFloats, allocHeapFloats } from '../../storage.js';
import { ModuleBuilder, type BuilderOptions } from './builder.js';
import { hasRelaxedSimd } from '../gemm/wasm-gemm.js';
import { emitElementwise } from './elementwise.js';
import { emitLayout } from './layout.js';
import { emitNn } from './nn.js';
import { emitReduce } from './reduce.js';
import { MAX_WORKERS, threadTeam, type TeamModule } from './team.js';
import { HEAP_INITIAL_PAGES, HEAP_MAX_PAGES, Heap, theHeap } from './heap.js';

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
export function buildKernelModule(shared: boolean, options: BuilderOptions = {}): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder(options).importMemory(HEAP_INITIAL_PAGES, HEAP_MAX_PAGES, shared);
  emitElementwise(mod);
  emitReduce(mod);
  emitNn(mod);
  emitLayout(mod);
  return mod.build();
}

/** The compiled module and the heap whose memory it imports. */
interface CompiledKernels {
  module: WebAssembly.Module;
  heap: Heap;
  /** whether the module fuses multiply-adds (moduleOptions) */
  relaxedSimd: boolean;
}

function compileKernels(): CompiledKernels {
  const heap = theHeap();
  const options = moduleOptions(heap);
  return { module: new WebAssembly.Module(buildKernelModule(heap.shared, options)), heap, relaxedSimd: options.relaxedSimd === true };
}

/** The kernels load their vector constants from the heap's table, and fuse multiply-adds where
 *  relaxed SIMD validates (in the polynomials: a shorter chain and fewer instructions a value). */
function moduleOptions(heap: Heap): BuilderOptions {
  return { constants: (bytes) => heap.constant(bytes), relaxedSimd: hasRelaxedSimd() };
}

export class KernelRuntime {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  readonly heap: Heap;
  /** Whether the polynomials use fused multiply-adds (relaxed SIMD validated when it was built). */
  readonly relaxedSimd: boolean;
  private readonly exports: Record<string, KernelFunction>;
  private readonly names: string[];
  /** The call's scratch: a heap block bumped from `top`; blocks outgrown during a call are freed
   *  at the next reset(). */
  private scratch = { at: 0, bytes: 0 };
  private outgrown: Array<{ at: number; bytes: number }> = [];
  private top = 0;
  /** Pool arrays handed out by output() in this call, by byte address, for take(). */
  private readonly outputs = new Map<number, Float32Array>();
  /** This module in the thread team (registered with the first split call). */
  private teamModule: TeamModule | null = null;
  private wantedThreads = 1;

  constructor(threads = 1, compiled?: CompiledKernels) {
    const { module, heap, relaxedSimd } = compiled ?? compileKernels();
    this.heap = heap;
    this.relaxedSimd = relaxedSimd;
    this.memory = heap.memory;
    this.shared = heap.shared;
    this.module = module;
    this.exports = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as Record<string, KernelFunction>;
    this.names = Object.keys(this.exports);
    this.setThreads(threads);
  }

  /** The heap as floats (a fresh view after it grows). */
  get f32(): Float32Array {
    return this.heap.f32;
  }

  private get f64(): Float64Array {
    return new Float64Array(this.heap.f32.buffer);
  }

  /** Threads a split call uses: this one and the pool's workers (once they are up). */
  get threads(): number {
    return this.shared ? this.wantedThreads : 1;
  }

  /** Units the thread team's workers have run, for all kernels (tests check that they take part). */
  get workerUnits(): number {
    return threadTeam()?.workerUnits ?? 0;
  }

  /** Uses n threads for split calls from now on; the team's workers start with the first call
   *  that needs them (a worker takes ~50 ms to start), or now with `wait`. */
  setThreads(n: number, wait = false): void {
    this.wantedThreads = Math.min(Math.max(1, Math.floor(n)), MAX_WORKERS + 1);
    if (wait && this.threads > 1) threadTeam()?.grow(this.threads - 1, 5000);
  }

  /**
   * Calls kernel `name` once per unit (an argument list each): on the thread team when there is
   * more than one unit and more than one thread, else one after another here. Units must not
   * write where another unit reads or writes. With `perThread`, every call gets one more
   * argument, its thread's own: base + thread * step (this thread 0), for per-thread scratch.
   */
  run(name: string, units: readonly number[][], perThread?: { base: number; step: number }): void {
    const fn = this.fn(name);
    if (units.length === 1 || this.threads === 1) {
      for (const u of units) perThread ? fn(...u, perThread.base) : fn(...u);
      return;
    }
    const team = threadTeam()!;
    team.grow(this.threads - 1);
    this.teamModule ??= team.register(this.module, this.names);
    const nargs = units[0]!.length;
    const table = this.alloc(units.length * nargs * 2); // f64 arguments, 8-byte aligned
    const f64 = this.f64;
    units.forEach((u, i) => f64.set(u, table / 8 + i * nargs));
    team.run({ module: this.teamModule, fn: name, count: units.length, table, nargs, threadArg: perThread, threads: this.threads }, (u) =>
      perThread ? fn(...units[u]!, perThread.base) : fn(...units[u]!));
  }

  /** An exported kernel by name; throws for a name the module does not have. */
  fn(name: string): KernelFunction {
    const f = this.exports[name];
    if (typeof f !== 'function') throw new Error(`wasm kernels: no exported function ${name}`);
    return f;
  }

  /** Starts a call's layout: every scratch buffer handed out before is free again. */
  reset(): void {
    for (const b of this.outgrown) this.heap.free(b.at, b.bytes);
    this.outgrown = [];
    this.outputs.clear();
    this.top = this.scratch.at;
  }

  /** Room for n floats of scratch (64-byte aligned, 64 bytes of padding after); its byte address. */
  alloc(n: number): number {
    const need = Math.ceil((n * 4 + 64) / 64) * 64;
    if (this.top + need > this.scratch.at + this.scratch.bytes) {
      // a bigger block; the old one may still hold this call's buffers, so it goes at reset()
      if (this.scratch.bytes > 0) this.outgrown.push(this.scratch);
      const bytes = Heap.blockBytes(Math.max(need, 2 * this.scratch.bytes, 1 << 16));
      this.scratch = { at: this.heap.alloc(bytes), bytes };
      this.top = this.scratch.at;
    }
    const at = this.top;
    this.top += need;
    return at;
  }

  /** The byte address of `values` for a kernel to read: where they are if they live in the heap,
   *  else a scratch copy. */
  put(values: Float32Array): number {
    const inHeap = this.heap.address(values);
    if (inHeap >= 0) return inHeap;
    const at = this.alloc(values.length);
    this.f32.set(values, at >>> 2);
    return at;
  }

  /**
   * Room for a kernel's output of n floats; its byte address. Where the storage pool gives an
   * array in the heap, the kernel writes straight into it and take() returns it as it is.
   */
  output(n: number): number {
    const array = allocHeapFloats(n);
    if (!array) return this.alloc(n);
    const at = this.heap.address(array);
    this.outputs.set(at, array);
    return at;
  }

  /** A filled buffer of n floats (ones for a missing layerNorm weight, zeros for a missing bias). */
  filled(n: number, value: number): number {
    const at = this.alloc(n);
    this.f32.fill(value, at >>> 2, (at >>> 2) + n);
    return at;
  }

  /** The n floats at `at` as an array: output()'s array itself, or a copy of scratch. */
  take(at: number, n: number): Float32Array {
    const array = this.outputs.get(at);
    if (array && array.length === n) {
      this.outputs.delete(at);
      return array;
    }
    const out = allocFloats(n);
    out.set(this.f32.subarray(at >>> 2, (at >>> 2) + n));
    return out;
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
  const heap = theHeap();
  const options = moduleOptions(heap);
  const module = await WebAssembly.compile(buildKernelModule(heap.shared, options));
  runtime = new KernelRuntime(threads, { module, heap, relaxedSimd: options.relaxedSimd === true });
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
