// A synchronous worker pool over one shared WebAssembly.Memory.
//
// gemm() must return its result synchronously (autograd calls it in the middle of a backward
// pass), so the pool does not use messages or promises. Every thread, the caller's included, has
// its own instance of the same compiled module over the same shared memory. A job is a table of
// unit records in that memory (see UNIT in wasm-kernel.ts); the caller wakes the workers with
// Atomics.notify, and every thread takes units from a shared counter (Atomics.add) until none are
// left, so a thread slowed by another process simply takes fewer units. The caller then sleeps in
// Atomics.wait (allowed on Node's main thread) until each worker it woke says it is done.
//
// The control block is the first CONTROL_BYTES of the memory, as Int32 slots.

export const CONTROL_BYTES = 256;
const NEXT = 0; // next unit to take
const COUNT = 1; // units in the job
const TABLE = 2; // byte address of the unit table
const WORKER_UNITS = 3; // units the workers (not the caller) have run, for tests and tuning
const GO = 8; // GO + w: job number posted to worker w (-1: exit)
const DONE = 24; // DONE + w: last job number worker w finished
const READY = 40; // READY + w: 1 once worker w has instantiated the module
export const MAX_WORKERS = 16;

// The worker's whole program. It is a string run with `eval: true`, so the same code works
// from the TypeScript sources (tsx, vitest) and from the built dist/ without a separate file.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, index, unitBytes } = workerData;
const gemmUnit = new WebAssembly.Instance(module, { env: { memory } }).exports.gemmUnit;
const ctl = new Int32Array(memory.buffer, 0, ${CONTROL_BYTES / 4});
Atomics.store(ctl, ${READY} + index, 1);
Atomics.notify(ctl, ${READY} + index);
let job = 0;
for (;;) {
  Atomics.wait(ctl, ${GO} + index, job);
  job = Atomics.load(ctl, ${GO} + index);
  if (job < 0) break;
  const count = Atomics.load(ctl, ${COUNT});
  const table = Atomics.load(ctl, ${TABLE});
  let ran = 0;
  for (let u; (u = Atomics.add(ctl, ${NEXT}, 1)) < count; ran++) gemmUnit(table + u * unitBytes);
  Atomics.add(ctl, ${WORKER_UNITS}, ran);
  Atomics.store(ctl, ${DONE} + index, job);
  Atomics.notify(ctl, ${DONE} + index);
}
`;

interface WorkerHandle {
  terminate(): Promise<number>;
  unref(): void;
}
type WorkerConstructor = new (code: string, options: { eval: boolean; workerData: unknown }) => WorkerHandle;

/** node:worker_threads' Worker, or null outside Node (browsers get one thread). No static import,
 *  so this file also loads where there is no node:worker_threads. */
function nodeWorker(): WorkerConstructor | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: WorkerConstructor } | undefined;
  return threads?.Worker ?? null;
}

export function poolAvailable(): boolean {
  return nodeWorker() !== null && typeof SharedArrayBuffer === 'function';
}

export class GemmPool {
  private readonly workers: WorkerHandle[] = [];
  private readonly ctl: Int32Array;
  private job = 0;

  /** Starts `size` workers, each instantiating `module` over `memory`. Waits up to `readyMs` for
   *  them to come up; one that is not up yet simply joins later jobs when it is. */
  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, size: number, unitBytes: number, readyMs = 5000) {
    const Worker = nodeWorker();
    if (!Worker) throw new Error('GemmPool: node:worker_threads is not available here');
    if (size > MAX_WORKERS) throw new Error(`GemmPool: ${size} workers asked, at most ${MAX_WORKERS}`);
    this.ctl = new Int32Array(memory.buffer, 0, CONTROL_BYTES / 4);
    this.ctl.fill(0);
    for (let index = 0; index < size; index++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, index, unitBytes } });
      worker.unref(); // an idle pool must not keep the process alive
      this.workers.push(worker);
    }
    const deadline = performance.now() + readyMs;
    for (let w = 0; w < size; w++) {
      const left = deadline - performance.now();
      if (left > 0) Atomics.wait(this.ctl, READY + w, 0, left);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Units run by the workers since the pool started (the rest ran on the calling thread). */
  get workerUnits(): number {
    return Atomics.load(this.ctl, WORKER_UNITS);
  }

  /** Runs units 0..count-1 of the table at byte address `table`, on the workers that are up and
   *  on this thread; returns when all are done. */
  run(table: number, count: number, runUnit: (record: number) => void, unitBytes: number): void {
    const ctl = this.ctl;
    const job = (this.job = (this.job + 1) & 0x3fffffff);
    Atomics.store(ctl, COUNT, count);
    Atomics.store(ctl, TABLE, table);
    Atomics.store(ctl, NEXT, 0);
    const woken: number[] = [];
    for (let w = 0; w < this.workers.length; w++) {
      if (Atomics.load(ctl, READY + w) !== 1) continue;
      Atomics.store(ctl, GO + w, job);
      Atomics.notify(ctl, GO + w);
      woken.push(w);
    }
    for (let u; (u = Atomics.add(ctl, NEXT, 1)) < count; ) runUnit(table + u * unitBytes);
    // Every woken worker must report this job done before the control block is reused: one that
    // woke late may still be about to take a unit number.
    for (const w of woken) {
      for (let done; (done = Atomics.load(ctl, DONE + w)) !== job; ) Atomics.wait(ctl, DONE + w, done);
    }
  }

  /** Tells the workers to exit and terminates them. */
  close(): void {
    for (let w = 0; w < this.workers.length; w++) {
      Atomics.store(this.ctl, GO + w, -1);
      Atomics.notify(this.ctl, GO + w);
      void this.workers[w]!.terminate();
    }
    this.workers.length = 0;
  }
}
