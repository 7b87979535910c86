// The thread team: one set of worker threads for every WebAssembly kernel over the heap (the
// element-wise kernels, the GEMM, @bitvit/bitnet's dot kernel, ...).
//
// Kernels return their result synchronously (autograd calls them in the middle of a backward
// pass), so nothing here uses messages or promises per call. Every thread, the caller's included,
// has its own instance of each registered module over the same shared memory (the heap); a job is
// one exported function called once per unit, the units' arguments written to that memory.
//
// Why one team and not a pool per kernel family: a worker woken from Atomics.wait takes 30-60 us
// to run on this 2-core virtual machine (measured: a round trip to an idle worker 48-65 us, to a
// busy-waiting one under 1 us). A ViT's forward at batch 1 is ~60 jobs of 20-200 us, in turns
// from the GEMM, the element-wise kernels and the ternary kernels, so with a pool each every job
// woke a sleeping worker: ~3 ms of a 13 ms forward. One team whose workers busy-wait a short while
// (spinMicros) after each job catches the next job at once, whichever kernel posts it; with a
// pool each, spinning workers of one pool took the cores another pool's job needed.
//
// Units are claimed by compare-and-swap on one slot, CLAIM = job tag << 16 | units left (the
// caller's side in claim.ts): a worker claims only while the tag is its job's, and the caller
// waits for claimed units to finish, not for workers to wake; a worker scheduled late finds
// nothing left.
//
// Modules reach the workers through each worker's MessagePort: register() posts a new module to
// every worker, and a worker takes the modules waiting on its port with receiveMessageOnPort
// (synchronous, so it never returns to its event loop) when a job names one it does not have yet.
// A worker that cannot find the job's module claims nothing.
//
// Workers are never terminated while the program runs (terminate() could stop one in the middle
// of a unit, and the caller would wait forever for it): a job says how many threads it may use,
// and workers past that skip it.

import { MAX_CLAIM_UNITS, nextTag, runClaimed } from './claim.js';
import { theHeap } from './heap.js';

const CLAIM = 0; // job tag << 16 | units not yet claimed (claimed from the top down)
const FINISHED = 1; // units of the current job finished
const GO = 2; // the tag of the latest job (the workers sleep on it)
const MODULE = 3; // the job's module id
const FN = 4; // index of the exported function in the module's names
const TABLE = 5; // byte address of unit 0's arguments
const NARGS = 6; // f64 arguments per unit at TABLE + u*NARGS*8; 0: one argument, TABLE + u*STRIDE
const STRIDE = 7; // bytes between units' records (NARGS 0)
const THREAD_ARG = 8; // 1: the thread's own argument THREAD_BASE + thread*THREAD_STEP goes last
const THREAD_BASE = 9;
const THREAD_STEP = 10;
const ACTIVE = 11; // workers with an index below this take part in the job
const SPIN = 12; // microseconds a worker busy-waits for the next job before it sleeps
const WORKER_UNITS = 13; // units the workers (not the callers) have run, for tests
const REGISTERED = 14; // the id of the last module registered (a worker with fewer reads its port)
const READY = 32; // READY + w: 1 once worker w is up
const FAILED = 64; // FAILED + w: 1 when a unit threw in worker w
const TAKEN = 96; // TAKEN + w: the id of the last module worker w instantiated
const CONTROL_INTS = 128;
export const MAX_WORKERS = 16;
const SLOTS = { claim: CLAIM, finished: FINISHED, go: GO };
/** The default busy-wait after a job: longer than the gaps between a forward's jobs (10-300 us
 *  at batch 1), short enough that an idle program stops spinning at once. */
const DEFAULT_SPIN_MICROS = 1000;

// The worker's program, run with `eval: true` so the same code works from the TypeScript sources
// and from dist/ without a file of its own (and no `require`: it may run as a module).
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
const { memory, control, port, index } = workerData;
const ctl = new Int32Array(control);
const modules = new Map(); // id -> exported functions, in the order of the module's names
const take = (m) => {
  const exports = new WebAssembly.Instance(m.module, { env: { memory } }).exports;
  modules.set(m.id, m.names.map((n) => exports[n]));
  Atomics.store(ctl, ${TAKEN} + index, m.id);
  Atomics.notify(ctl, ${TAKEN} + index);
};
for (const m of workerData.modules) take(m);
Atomics.store(ctl, ${READY} + index, 1);
Atomics.notify(ctl, ${READY} + index);
let seen = 0, spinUntil = 0;
const pending = () => Atomics.load(ctl, ${TAKEN} + index) < Atomics.load(ctl, ${REGISTERED});
// a unit's arguments, filled from the f64 table (a view of the memory, made again if it grew)
const args = [];
let f64 = new Float64Array(memory.buffer);
for (;;) {
  // the clock only every 4096 turns: performance.now() allocates (a spin that read it every turn
  // made ~400 young-generation collections a second, whose helper threads took the cores)
  for (let turn = 0; Atomics.load(ctl, ${GO}) === seen; turn++) {
    if ((turn & 4095) === 0 && (performance.now() >= spinUntil || pending())) break;
  }
  if (!pending()) Atomics.wait(ctl, ${GO}, seen);
  // modules registered since: instantiated now, while idle (register() wakes the workers for
  // them); the port is read only then (receiveMessageOnPort costs microseconds a job)
  if (pending()) for (let m; (m = receiveMessageOnPort(port)); ) take(m.message);
  const tag = Atomics.load(ctl, ${GO});
  if (tag === seen) continue;
  seen = tag;
  spinUntil = 0;
  if (index >= Atomics.load(ctl, ${ACTIVE})) continue;
  const id = Atomics.load(ctl, ${MODULE});
  for (let m; !modules.has(id) && (m = receiveMessageOnPort(port)); ) take(m.message);
  const fns = modules.get(id);
  let ran = 0;
  for (;;) {
    const c = Atomics.load(ctl, ${CLAIM});
    if (!fns || c >>> 16 !== tag || (c & ${MAX_CLAIM_UNITS}) === 0) break;
    if (Atomics.compareExchange(ctl, ${CLAIM}, c, c - 1) !== c) continue;
    // the claim holds the job in place: the caller changes nothing until this unit finishes
    // addresses come back from the Int32 slots unsigned (a heap past 2 GiB has addresses >= 2^31)
    const u = (c & ${MAX_CLAIM_UNITS}) - 1, nargs = Atomics.load(ctl, ${NARGS}), table = Atomics.load(ctl, ${TABLE}) >>> 0;
    args.length = 0;
    if (nargs > 0) {
      if (f64.buffer !== memory.buffer) f64 = new Float64Array(memory.buffer);
      for (let i = 0, at = table / 8 + u * nargs; i < nargs; i++) args.push(f64[at + i]);
    } else {
      args.push(table + u * Atomics.load(ctl, ${STRIDE}));
    }
    if (Atomics.load(ctl, ${THREAD_ARG})) args.push((Atomics.load(ctl, ${THREAD_BASE}) >>> 0) + (index + 1) * Atomics.load(ctl, ${THREAD_STEP}));
    try {
      fns[Atomics.load(ctl, ${FN})](...args);
      ran++;
    } catch (error) {
      console.error('thread team worker ' + index + ':', error);
      Atomics.store(ctl, ${FAILED} + index, 1);
    }
    Atomics.add(ctl, ${FINISHED}, 1);
    Atomics.notify(ctl, ${FINISHED});
  }
  if (ran) Atomics.add(ctl, ${WORKER_UNITS}, ran);
  spinUntil = performance.now() + Atomics.load(ctl, ${SPIN}) / 1000;
}
`;

interface WorkerHandle {
  unref(): void;
}
interface PortHandle {
  postMessage(message: unknown): void;
  unref?(): void;
}
interface NodeThreads {
  Worker: new (code: string, options: { eval: boolean; workerData: unknown; transferList: unknown[]; execArgv: string[] }) => WorkerHandle;
  MessageChannel: new () => { port1: PortHandle; port2: unknown };
}

/** node:worker_threads, or null outside Node (browsers get one thread); no static import. */
function nodeThreads(): NodeThreads | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.('node:worker_threads') as Partial<NodeThreads> | undefined;
  return threads?.Worker && threads.MessageChannel && typeof SharedArrayBuffer === 'function' ? (threads as NodeThreads) : null;
}

/** A module registered with the team: its id and the exports jobs may call, by index. */
export interface TeamModule {
  readonly id: number;
  readonly names: readonly string[];
}

/** One job: export `fn` of `module`, once per unit. */
export interface TeamJob {
  module: TeamModule;
  fn: string;
  /** Units 0..count-1. */
  count: number;
  /** Byte address (in the heap) of unit 0's arguments. */
  table: number;
  /** f64 arguments per unit, at table + u * nargs * 8; 0: a unit's one argument is its record's
   *  address, table + u * stride. */
  nargs: number;
  stride?: number;
  /** Appended to every call: base + thread * step, thread 0 being the caller (per-thread scratch). */
  threadArg?: { base: number; step: number };
  /** Threads the job may use, the caller included. */
  threads: number;
}

export class ThreadTeam {
  private readonly ctl: Int32Array;
  private readonly ports: PortHandle[] = [];
  private readonly modules: Array<{ id: number; module: WebAssembly.Module; names: readonly string[] }> = [];
  private tag = 0;

  private constructor(private readonly memory: WebAssembly.Memory, private readonly threads: NodeThreads) {
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_INTS));
    Atomics.store(this.ctl, SPIN, DEFAULT_SPIN_MICROS);
  }

  /** A team over a shared memory; null where there are no worker threads or the memory is not shared. */
  static create(memory: WebAssembly.Memory): ThreadTeam | null {
    const threads = nodeThreads();
    return threads && memory.buffer instanceof SharedArrayBuffer ? new ThreadTeam(memory, threads) : null;
  }

  /** Units the workers (not the callers) have run since the team started. */
  get workerUnits(): number {
    return Atomics.load(this.ctl, WORKER_UNITS);
  }

  /** Microseconds a worker busy-waits after a job before it sleeps (0: sleeps at once). */
  get spinMicros(): number {
    return Atomics.load(this.ctl, SPIN);
  }

  set spinMicros(us: number) {
    if (!(us >= 0 && us <= 1e6)) throw new Error(`ThreadTeam: spinMicros must be from 0 to 1e6, got ${us}`);
    Atomics.store(this.ctl, SPIN, Math.round(us));
  }

  /**
   * Makes `module` (instantiated over the team's memory) callable in jobs: its exports `names`.
   * Waits up to `readyMs` for the running workers to instantiate it (a few ms; a worker that
   * does it on its first job instead runs none of that job's units).
   */
  register(module: WebAssembly.Module, names: readonly string[], readyMs = 5000): TeamModule {
    const entry = { id: this.modules.length + 1, module, names: [...names] };
    this.modules.push(entry);
    for (const port of this.ports) port.postMessage(entry);
    Atomics.store(this.ctl, REGISTERED, entry.id);
    Atomics.notify(this.ctl, GO); // the tag stays: the workers take the module and sleep again
    const deadline = performance.now() + readyMs;
    for (let w = 0; w < this.ports.length; w++) {
      if (Atomics.load(this.ctl, READY + w) !== 1) continue; // still starting: it gets every module then
      for (let taken; (taken = Atomics.load(this.ctl, TAKEN + w)) < entry.id && performance.now() < deadline; ) {
        // woken again every millisecond: a worker may have gone to sleep just before the notify
        Atomics.notify(this.ctl, GO);
        Atomics.wait(this.ctl, TAKEN + w, taken, Math.min(1, deadline - performance.now()));
      }
    }
    return { id: entry.id, names: entry.names };
  }

  /**
   * Starts workers up to `n` (never fewer: idle ones sleep), waiting up to `readyMs` for those
   * not up yet (a worker takes ~50 ms to start; a late one joins later jobs).
   */
  grow(n: number, readyMs = 0): void {
    if (n > MAX_WORKERS) throw new Error(`ThreadTeam: ${n} workers asked, at most ${MAX_WORKERS}`);
    const first = this.ports.length;
    for (let index = first; index < n; index++) {
      const { port1, port2 } = new this.threads.MessageChannel();
      // no execArgv: the worker needs none of the parent's options (an `--import tsx` would load
      // tsx again); V8 flags such as relaxed SIMD are process-wide anyway
      const workerData = { memory: this.memory, control: this.ctl.buffer, port: port2, index, modules: this.modules };
      const worker = new this.threads.Worker(WORKER_SOURCE, { eval: true, workerData, transferList: [port2], execArgv: [] });
      worker.unref(); // an idle team must not keep the process alive
      port1.unref?.();
      this.ports.push(port1);
    }
    // every worker up to n, also one started by an earlier call that did not wait
    const deadline = performance.now() + readyMs;
    for (let w = 0; w < n; w++) {
      const left = deadline - performance.now();
      if (left > 0) Atomics.wait(this.ctl, READY + w, 0, left);
    }
  }

  /**
   * Runs the job's units on this thread (through `here(u)`, which calls this thread's own instance
   * with unit u's arguments) and on up to job.threads - 1 workers; returns when all are done.
   */
  run(job: TeamJob, here: (unit: number) => void): void {
    const fn = job.module.names.indexOf(job.fn);
    if (fn < 0) throw new Error(`ThreadTeam: module ${job.module.id} has no export ${job.fn}`);
    const ctl = this.ctl;
    const workers = Math.min(job.threads - 1, this.ports.length);
    for (let first = 0; first < job.count; first += MAX_CLAIM_UNITS) {
      const count = Math.min(MAX_CLAIM_UNITS, job.count - first);
      const skip = job.nargs > 0 ? first * job.nargs * 8 : first * (job.stride ?? 0);
      // the previous job is over (its units all finished), so no worker reads these now
      Atomics.store(ctl, MODULE, job.module.id);
      Atomics.store(ctl, FN, fn);
      Atomics.store(ctl, TABLE, job.table + skip);
      Atomics.store(ctl, NARGS, job.nargs);
      Atomics.store(ctl, STRIDE, job.stride ?? 0);
      Atomics.store(ctl, THREAD_ARG, job.threadArg ? 1 : 0);
      Atomics.store(ctl, THREAD_BASE, job.threadArg?.base ?? 0);
      Atomics.store(ctl, THREAD_STEP, job.threadArg?.step ?? 0);
      Atomics.store(ctl, ACTIVE, workers);
      let failed: number[] = [];
      try {
        runClaimed(ctl, SLOTS, (this.tag = nextTag(this.tag)), count, (u) => here(first + u));
      } finally {
        failed = this.ports.map((_, w) => w).filter((w) => Atomics.exchange(ctl, FAILED + w, 0) !== 0);
      }
      if (failed.length) {
        throw new Error(`ThreadTeam: a unit of ${job.fn} threw in worker ${failed.join(', ')} (its error is on stderr); the result is incomplete`);
      }
    }
  }
}

let team: ThreadTeam | null | undefined;
/** The process' team over the heap, made on first use; null where the heap is not shared (one
 *  thread then: a browser page that is not cross-origin isolated, or no worker threads). */
export function threadTeam(): ThreadTeam | null {
  if (team === undefined) {
    const heap = theHeap();
    team = heap.shared ? ThreadTeam.create(heap.memory) : null;
    // BITVIT_SPIN_US: the workers' busy-wait, for machines shared with other work (0: sleep at
    // once, as OMP_WAIT_POLICY=PASSIVE does for OpenMP programs)
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['BITVIT_SPIN_US'];
    if (team && env !== undefined && env !== '') {
      const us = Number(env);
      if (!(us >= 0 && us <= 1e6)) throw new Error(`BITVIT_SPIN_US must be a number of microseconds from 0 to 1e6, got "${env}"`);
      team.spinMicros = us;
    }
  }
  return team;
}
