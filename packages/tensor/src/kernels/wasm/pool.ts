// A synchronous worker pool for the kernel module, after the GEMM's (kernels/gemm/pool.ts): every
// thread, the caller's included, has its own instance of the same compiled module over the same
// shared memory, and a job is one exported function called on a list of units (argument lists
// written to that memory). Kernels return their result synchronously, so nothing here uses
// messages or promises: the caller sleeps in Atomics.wait until the units are done.
//
// Units are claimed from one Int32 slot, CLAIM = job tag << 16 | units left, by compare-and-swap
// (the caller's side in claim.ts, shared with the GEMM's pool):
// a worker claims only while the tag is its job's, and the caller waits for the units to finish,
// not for the workers to wake. On a loaded machine a worker may be scheduled milliseconds late;
// it then finds nothing left and goes back to sleep, and the caller, which took the units itself,
// never waited for it. (The GEMM's pool, ../gemm/pool.ts, claims the same way.)
//
// Workers are never terminated while the program runs: Worker.terminate() can stop one in the
// middle of a unit, and a unit that never finishes would hang the caller. Fewer threads means
// fewer *active* workers (ACTIVE): the others skip jobs, and more threads start more workers.
//
// The control block is CONTROL_BYTES of the memory at `control` (the kernel module's pool: the
// heap's first bytes; another module's pool, as @bitvit/bitnet's dot kernel: a heap block), as
// Int32 slots.

import { MAX_CLAIM_UNITS, nextTag, runClaimed } from './claim.js';

export const CONTROL_BYTES = 512;
const CLAIM = 0; // job tag << 16 | units not yet claimed (claimed from the top down)
const FINISHED = 1; // units of the current job finished
const FN = 2; // index of the exported function in the name list
const ARGS = 3; // arguments per unit
const TABLE = 4; // byte address of the units' arguments (f64 each, ARGS per unit)
const WORKER_UNITS = 5; // units run by the workers, for tests
const GO = 6; // the tag of the latest job (the workers sleep on it)
const ACTIVE = 7; // workers with an index below this take part in jobs
const READY = 16; // READY + w: 1 once worker w has its instance
export const MAX_WORKERS = 16;
const MAX_UNITS = MAX_CLAIM_UNITS;
const SLOTS = { claim: CLAIM, finished: FINISHED, go: GO };

// The worker's program, run with `eval: true` so the same code works from the TypeScript sources
// and from dist/ without a file of its own (and no `require`: it may run as a module). Claiming
// is the same loop as the caller's (KernelPool.run).
const WORKER_SOURCE = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
const { module, memory, index, names, control } = workerData;
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const fns = names.map((n) => exports[n]);
const ctl = new Int32Array(memory.buffer, control, ${CONTROL_BYTES / 4});
Atomics.store(ctl, ${READY} + index, 1);
Atomics.notify(ctl, ${READY} + index);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${GO}, seen);
  const tag = Atomics.load(ctl, ${GO});
  seen = tag;
  if (index >= Atomics.load(ctl, ${ACTIVE})) continue;
  let ran = 0;
  for (;;) {
    const c = Atomics.load(ctl, ${CLAIM});
    if (c >>> 16 !== tag || (c & ${MAX_UNITS}) === 0) break;
    if (Atomics.compareExchange(ctl, ${CLAIM}, c, c - 1) !== c) continue;
    const u = (c & ${MAX_UNITS}) - 1, nargs = Atomics.load(ctl, ${ARGS});
    const args = new Float64Array(memory.buffer, Atomics.load(ctl, ${TABLE}) + u * nargs * 8, nargs);
    fns[Atomics.load(ctl, ${FN})](...args);
    ran++;
    Atomics.add(ctl, ${FINISHED}, 1);
    Atomics.notify(ctl, ${FINISHED});
  }
  if (ran) Atomics.add(ctl, ${WORKER_UNITS}, ran);
}
`;

interface WorkerHandle {
  terminate(): Promise<number>;
  unref(): void;
}
type WorkerConstructor = new (code: string, options: { eval: boolean; workerData: unknown; execArgv: string[] }) => WorkerHandle;

/** node:worker_threads' Worker, or null outside Node (browsers get one thread); no static import. */
function nodeWorker(): WorkerConstructor | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: WorkerConstructor } | undefined;
  return threads?.Worker ?? null;
}

export class KernelPool {
  private readonly workers: WorkerHandle[] = [];
  private readonly ctl: Int32Array;
  private tag = 0;

  /** A pool of no workers yet over `memory`; resize() starts them. Workers can call the
   *  exports in `names` of their own instance of `module`; the pool's control block is the
   *  CONTROL_BYTES at byte `control` of the memory. */
  constructor(
    private readonly module: WebAssembly.Module, private readonly memory: WebAssembly.Memory, readonly names: readonly string[],
    private readonly control = 0,
  ) {
    if (!nodeWorker()) throw new Error('KernelPool: node:worker_threads is not available here');
    this.ctl = new Int32Array(memory.buffer, control, CONTROL_BYTES / 4);
    this.ctl.fill(0);
  }

  /** Workers taking part in jobs. */
  get size(): number {
    return Atomics.load(this.ctl, ACTIVE);
  }

  /**
   * Makes `n` workers take part in jobs, starting those not started yet and waiting up to
   * `readyMs` for them (a worker takes ~50 ms; a late one joins later jobs). Call between jobs.
   */
  resize(n: number, readyMs: number): void {
    if (n > MAX_WORKERS) throw new Error(`KernelPool: ${n} workers asked, at most ${MAX_WORKERS}`);
    const Worker = nodeWorker()!;
    const first = this.workers.length;
    for (let index = first; index < n; index++) {
      // no execArgv: the worker needs none of the parent's options (an `--import tsx` would load tsx again)
      const workerData = { module: this.module, memory: this.memory, index, names: this.names, control: this.control };
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, execArgv: [] });
      worker.unref(); // an idle pool must not keep the process alive
      this.workers.push(worker);
    }
    Atomics.store(this.ctl, ACTIVE, n);
    const deadline = performance.now() + readyMs;
    for (let w = first; w < n; w++) {
      const left = deadline - performance.now();
      if (left > 0) Atomics.wait(this.ctl, READY + w, 0, left);
    }
  }

  /** Units the workers (not the caller) have run since the pool started. */
  get workerUnits(): number {
    return Atomics.load(this.ctl, WORKER_UNITS);
  }

  /**
   * Calls export names[fn] once per unit: unit u's `nargs` arguments are the f64s at byte address
   * `table` + u*nargs*8 (`args` views the memory as f64). The active workers and this thread
   * (through `here`, its own instance of the export) share the units; returns when all are done.
   */
  run(fn: number, here: (...args: number[]) => void, table: number, count: number, nargs: number, args: Float64Array): void {
    const ctl = this.ctl;
    // the previous job is over (its units all finished), so no worker reads these now
    Atomics.store(ctl, FN, fn);
    Atomics.store(ctl, ARGS, nargs);
    Atomics.store(ctl, TABLE, table);
    const base = table / 8;
    runClaimed(ctl, SLOTS, (this.tag = nextTag(this.tag)), count, (u) => here(...args.subarray(base + u * nargs, base + (u + 1) * nargs)));
  }
}
