// Where the SIMD ternary kernels run: one WebAssembly memory (the arena) holding every prepared
// weight matrix and the buffers of the call in flight, the kernel module instantiated on it, and
// in Node a pool of worker threads that share a call's tokens with the calling thread.
//
// Why one arena rather than a memory per weight matrix: the buffers for activations and results
// (sized by the largest call) exist once, not once per layer; and worker threads need one shared
// memory to instantiate the module on once.
//
// Threads: calls must return synchronously (a model's forward is plain synchronous code), so
// there are no messages or promises per call. The caller writes the job into a control block
// (a SharedArrayBuffer), wakes the workers with Atomics.notify, and every thread takes units of
// work (a few tokens each) from a shared counter with Atomics.add until none are left, so a
// thread slowed by another process just takes fewer units. The caller then sleeps in
// Atomics.wait (allowed on Node's main thread) until each woken worker reports the job done.
// Splitting by tokens, not by output rows, keeps each token's tables built once.

import { buildTernaryModule, type TernaryModuleOptions } from './ternary-module.js';

const PAGE = 65536;
/** Upper bound of the arena (a shared memory must declare one): 2 GiB. */
const MAX_PAGES = 32768;

// Control block: Int32 slots.
const NEXT = 0; // next unit to take
const UNITS = 1; // units in the job
const FAILED = 2; // set by a worker whose unit threw
const WORKER_UNITS = 3; // units the workers (not the calling thread) have run, for tests
const MAX_WORKERS = 8;
const READY = 8; // READY + w: 1 once worker w has its instance
const GO = 16; // GO + w: job number posted to worker w (-1: exit)
const DONE = 24; // DONE + w: last job number worker w finished
const PARAMS = 32; // the job, see JobParams
const CONTROL_INTS = 64;
/** A unit is milliseconds of work; a worker silent for this long has died (a bug), so say so
 *  rather than hang the process. */
const WORKER_TIMEOUT_MS = 20_000;

/** One job: tokens [0, tokens) of the activations in the arena, all output rows. */
export interface Job {
  tokens: number;
  unitTokens: number;
  quantize: boolean; // float activations at xfPtr: quantize them first
  columns: number;
  blockCount: number;
  blocksPerPass: number;
  rowInputs: number;
  outStride: number; // bytes per output row
  xPtr: number;
  xfPtr: number;
  actPtr: number;
  wPtr: number;
  outPtr: number;
  scalePtr: number;
  biasPtr: number;
  scratchPtr: number; // per-thread scratch: slot s at scratchPtr + s * scratchStride
  scratchStride: number;
  splitOffset: number; // within a slot's scratch: tables at 0, then the input split, then y
  yOffset: number;
}
const JOB_FIELDS: Array<keyof Job> = [
  'tokens', 'unitTokens', 'quantize', 'columns', 'blockCount', 'blocksPerPass', 'rowInputs', 'outStride', 'xPtr', 'xfPtr',
  'actPtr', 'wPtr', 'outPtr', 'scalePtr', 'biasPtr', 'scratchPtr', 'scratchStride', 'splitOffset', 'yOffset',
];

interface KernelExports {
  matmul: (...args: number[]) => void;
  quantize: (...args: number[]) => void;
}

// One unit of a job, on thread `slot`: quantize (if asked) and multiply tokens
// [u * unitTokens, ...). Workers run this same function: it is sent to them as source text
// (runUnit.toString()), so it reads everything from its arguments and uses no outer names.
function runUnit(kernel: KernelExports, ctl: Int32Array, u: number, slot: number): void {
  const p = ctl.subarray(32, 32 + 19); // PARAMS, in JOB_FIELDS order
  const tokens = p[0]!, unitTokens = p[1]!, quantize = p[2]!, columns = p[3]!, blockCount = p[4]!, blocksPerPass = p[5]!;
  const rowInputs = p[6]!, outStride = p[7]!;
  const start = u * unitTokens;
  const n = Math.min(unitTokens, tokens - start);
  const x = p[8]! + start * rowInputs;
  const act = p[10]! + 4 * start;
  const out = p[12]! + start * outStride;
  const scratch = p[15]! + slot * p[16]!;
  if (quantize) kernel.quantize(n, rowInputs, p[9]! + 4 * start * rowInputs, x, act);
  for (let first = 0; first < blockCount; first += blocksPerPass) {
    const count = Math.min(blocksPerPass, blockCount - first);
    kernel.matmul(n, columns, first, count, x, scratch, p[11]!, out, outStride, p[13]!, p[14]!, act, scratch + p[18]!, scratch + p[17]!);
  }
}

// The worker's program, run with `eval: true` so it works from the TypeScript sources (tsx,
// vitest) and from a build alike, with no separate file to locate.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, index } = workerData;
const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(control);
const runUnit = ${runUnit.toString()};
Atomics.store(ctl, ${READY} + index, 1);
Atomics.notify(ctl, ${READY} + index);
let job = 0;
for (;;) {
  Atomics.wait(ctl, ${GO} + index, job);
  job = Atomics.load(ctl, ${GO} + index);
  if (job < 0) break;
  try {
    const units = Atomics.load(ctl, ${UNITS});
    let ran = 0;
    for (let u; (u = Atomics.add(ctl, ${NEXT}, 1)) < units; ran++) runUnit(kernel, ctl, u, index + 1);
    Atomics.add(ctl, ${WORKER_UNITS}, ran);
  } catch (e) {
    Atomics.store(ctl, ${FAILED}, 1);
  }
  Atomics.store(ctl, ${DONE} + index, job);
  Atomics.notify(ctl, ${DONE} + index);
}
`;

interface WorkerHandle {
  terminate(): Promise<number>;
  unref(): void;
}
type WorkerConstructor = new (code: string, options: { eval: boolean; workerData: unknown }) => WorkerHandle;
type NodeProcess = { getBuiltinModule?: (id: string) => unknown };

/** node:worker_threads' Worker, or null outside Node (browsers run on the calling thread only).
 *  No static import, so this file loads where node:worker_threads does not exist. */
function nodeWorker(): WorkerConstructor | null {
  const proc = (globalThis as { process?: NodeProcess }).process;
  const threads = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: WorkerConstructor } | undefined;
  return typeof SharedArrayBuffer === 'function' ? (threads?.Worker ?? null) : null;
}

function defaultThreads(): number {
  const proc = (globalThis as { process?: NodeProcess }).process;
  const os = proc?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
  return Math.min(2, os?.availableParallelism?.() ?? 1);
}

export class TernaryRuntime {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  private readonly kernel: KernelExports;
  private readonly module: WebAssembly.Module;
  private top = 64; // bump pointer; address 0 is never handed out
  private buffer: ArrayBuffer | SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private readonly workers: WorkerHandle[] = [];
  private job = 0;
  private threadCount = 1;
  private readonly scratchSlots = new Map<string, { ptr: number; bytes: number }>();

  constructor(readonly options: TernaryModuleOptions) {
    this.shared = nodeWorker() !== null;
    const memoryType = this.shared ? { shared: true, maximumPages: MAX_PAGES } : { shared: false };
    this.module = new WebAssembly.Module(buildTernaryModule(options, memoryType));
    this.memory = new WebAssembly.Memory(this.shared ? { initial: 1, maximum: MAX_PAGES, shared: true } : { initial: 1 });
    this.buffer = this.memory.buffer;
    this.kernel = new WebAssembly.Instance(this.module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
    this.ctl = new Int32Array(this.shared ? new SharedArrayBuffer(4 * CONTROL_INTS) : new ArrayBuffer(4 * CONTROL_INTS));
  }

  /** 16-byte aligned bytes of the arena, zeroed; grows the memory when needed. Never freed. */
  alloc(bytes: number): number {
    const start = (this.top + 15) & ~15;
    const end = start + bytes;
    const pages = Math.ceil(end / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) {
      if (this.memory.buffer.byteLength / PAGE + pages > MAX_PAGES) {
        throw new Error(`TernaryRuntime: ${end} bytes asked for, the arena stops at ${MAX_PAGES * PAGE}`);
      }
      this.memory.grow(pages);
    }
    this.top = end;
    return start;
  }

  /** The arena's current buffer (a new one after the memory grows; views must be remade). */
  get bytes(): ArrayBuffer | SharedArrayBuffer {
    if (this.buffer !== this.memory.buffer) this.buffer = this.memory.buffer;
    return this.buffer;
  }

  /**
   * A region reused by every call that asks for `name` (activations, results, scratch): grown
   * (by reallocating, at least doubling) when a call needs more. One call runs at a time, so
   * kernels can share it.
   */
  region(name: string, bytes: number): number {
    const have = this.scratchSlots.get(name);
    if (have && have.bytes >= bytes) return have.ptr;
    const size = Math.max(bytes, 2 * (have?.bytes ?? 0));
    const ptr = this.alloc(size);
    this.scratchSlots.set(name, { ptr, bytes: size });
    return ptr;
  }

  get threads(): number {
    return this.threadCount;
  }

  /** Threads for later jobs, this one included (1: the calling thread only). */
  setThreads(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS + 1) {
      throw new Error(`setTernaryThreads: expected an integer from 1 to ${MAX_WORKERS + 1}, got ${n}`);
    }
    const Worker = nodeWorker();
    this.threadCount = Worker ? n : 1;
    while (this.workers.length > this.threadCount - 1) {
      const w = this.workers.length - 1;
      Atomics.store(this.ctl, GO + w, -1);
      Atomics.notify(this.ctl, GO + w);
      void this.workers.pop()!.terminate();
      Atomics.store(this.ctl, READY + w, 0);
    }
    while (Worker && this.workers.length < this.threadCount - 1) {
      const index = this.workers.length;
      Atomics.store(this.ctl, GO + index, 0);
      Atomics.store(this.ctl, DONE + index, 0);
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: this.module, memory: this.memory, control: this.ctl.buffer, index },
      });
      worker.unref(); // an idle pool must not keep the process alive
      this.workers.push(worker);
    }
  }

  /**
   * Runs a job in units of job.unitTokens tokens, on the workers that are up when `parallel`
   * and on this thread; returns when all units are done.
   */
  run(job: Job, parallel: boolean): void {
    const ctl = this.ctl;
    JOB_FIELDS.forEach((field, i) => {
      const value = Number(job[field]);
      // an Int32 slot would silently wrap anything else (Infinity becomes 0)
      if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw new Error(`TernaryRuntime.run: job.${field} = ${job[field]}`);
      ctl[PARAMS + i] = value;
    });
    const units = Math.ceil(job.tokens / job.unitTokens);
    Atomics.store(ctl, UNITS, units);
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, FAILED, 0);
    const woken: number[] = [];
    if (parallel && units > 1) {
      const number = (this.job = (this.job + 1) & 0x3fffffff);
      for (let w = 0; w < this.workers.length; w++) {
        if (Atomics.load(ctl, READY + w) !== 1) continue; // still starting: joins a later job
        Atomics.store(ctl, GO + w, number);
        Atomics.notify(ctl, GO + w);
        woken.push(w);
      }
    }
    for (let u; (u = Atomics.add(ctl, NEXT, 1)) < units; ) runUnit(this.kernel, ctl, u, 0);
    // Every woken worker must report this job done before the control block is reused: one that
    // woke late may still be about to take a unit number.
    for (const w of woken) {
      const deadline = performance.now() + WORKER_TIMEOUT_MS;
      for (let done; (done = Atomics.load(ctl, DONE + w)) !== this.job; ) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`TernaryRuntime: worker ${w} did not finish job ${this.job} in ${WORKER_TIMEOUT_MS} ms (last done: ${done})`);
        Atomics.wait(ctl, DONE + w, done, left);
      }
    }
    if (Atomics.load(ctl, FAILED) !== 0) throw new Error('TernaryRuntime: a worker thread failed while running a unit');
  }

  /** Units run by the worker threads so far (the rest ran on the calling thread). */
  get workerUnits(): number {
    return Atomics.load(this.ctl, WORKER_UNITS);
  }

  /** Waits (up to `ms`) until the workers have their instances; for tests and benchmarks. */
  waitForWorkers(ms = 5000): number {
    const deadline = performance.now() + ms;
    for (let w = 0; w < this.workers.length; w++) {
      const left = deadline - performance.now();
      if (left > 0) Atomics.wait(this.ctl, READY + w, 0, left);
    }
    let ready = 0;
    for (let w = 0; w < this.workers.length; w++) ready += Atomics.load(this.ctl, READY + w);
    return ready;
  }
}

const runtimes = new Map<boolean, TernaryRuntime>();
let threadsWanted = defaultThreads();

/** The runtime for a kernel variant, made on first use with the current thread setting. */
export function ternaryRuntime(options: TernaryModuleOptions): TernaryRuntime {
  let runtime = runtimes.get(options.relaxedSwizzle);
  if (runtime === undefined) {
    runtime = new TernaryRuntime(options);
    runtime.setThreads(threadsWanted);
    runtimes.set(options.relaxedSwizzle, runtime);
  }
  return runtime;
}

/** How many threads the SIMD ternary kernels may use, the calling one included (default: 2 where
 *  there are 2 cores and worker threads; 1 disables the pool). */
export function setTernaryThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS + 1) {
    throw new Error(`setTernaryThreads: expected an integer from 1 to ${MAX_WORKERS + 1}, got ${n}`);
  }
  threadsWanted = n;
  for (const runtime of runtimes.values()) runtime.setThreads(n);
}

let haveWorkers: boolean | undefined;
export function ternaryThreads(): number {
  haveWorkers ??= nodeWorker() !== null; // asked on every kernel call: look the module up once
  return haveWorkers ? threadsWanted : 1;
}
