// A synchronous worker pool over one shared WebAssembly.Memory.
//
// gemm() must return its result synchronously (autograd calls it in the middle of a backward
// pass), so the pool does not use messages or promises. Every thread, the caller's included, has
// its own instance of the same compiled module over the same shared memory. A job is a table of
// records in that memory, each one call of an exported function: gemmUnit(record, scratch) for
// compute units (UNIT in wasm-kernel.ts; each thread has its own scratch), packTask(record) for
// packing tasks (PACK). The caller wakes the workers with
// Atomics.notify, and every thread takes units from a shared counter (Atomics.add) until none are
// left, so a thread slowed by another process simply takes fewer units. The caller then sleeps in
// Atomics.wait (allowed on Node's main thread) until each worker it woke says it is done.
//
// The control block is the first CONTROL_BYTES of the memory, as Int32 slots. A record that traps
// (an out-of-bounds access would be a bug here) fails the call with an error on either side.

export const CONTROL_BYTES = 512;
const NEXT = 0; // next unit to take
const COUNT = 1; // units in the job
const TABLE = 2; // byte address of the unit table
const WORKER_UNITS = 3; // units the workers (not the caller) have run, for tests and tuning
const KIND = 4; // 0: compute units (gemmUnit), 1: packing tasks (packTask)
const RECORD_BYTES = 5; // bytes per record in the table
const SCRATCH = 6; // byte address of the caller's scratch; worker w's is SCRATCH + (w+1)*SCRATCH_BYTES
const SCRATCH_BYTES = 7;
const GO = 8; // GO + w: job number posted to worker w (-1: exit)
const DONE = 24; // DONE + w: last job number worker w finished
const READY = 40; // READY + w: 1 once worker w has instantiated the module
const FAILED = 56; // FAILED + w: 1 when a record threw in worker w (a trap: a bug, not bad input)
export const MAX_WORKERS = 16;

// The worker's whole program. It is a string run with `eval: true`, so the same code works
// from the TypeScript sources (tsx, vitest) and from the built dist/ without a separate file.
// It runs as a CommonJS script or, under --input-type=module, as a module: so no `require`.
const WORKER_SOURCE = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
const { module, memory, index } = workerData;
const { gemmUnit, packTask } = new WebAssembly.Instance(module, { env: { memory } }).exports;
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
  const recordBytes = Atomics.load(ctl, ${RECORD_BYTES});
  const packing = Atomics.load(ctl, ${KIND}) === 1;
  const scratch = Atomics.load(ctl, ${SCRATCH}) + (index + 1) * Atomics.load(ctl, ${SCRATCH_BYTES});
  let ran = 0;
  try {
    for (let u; (u = Atomics.add(ctl, ${NEXT}, 1)) < count; ran++) {
      if (packing) packTask(table + u * recordBytes);
      else gemmUnit(table + u * recordBytes, scratch);
    }
  } catch (error) {
    console.error('gemm worker ' + index + ':', error);
    Atomics.store(ctl, ${FAILED} + index, 1);
  }
  Atomics.add(ctl, ${WORKER_UNITS}, ran);
  Atomics.store(ctl, ${DONE} + index, job);
  Atomics.notify(ctl, ${DONE} + index);
}
`;

interface WorkerHandle {
  terminate(): Promise<number>;
  unref(): void;
}
type WorkerConstructor = new (code: string, options: { eval: boolean; workerData: unknown; execArgv: string[] }) => WorkerHandle;

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

/** One job: `count` records of `recordBytes` from byte address `table`. Compute units get scratch
 *  space: the caller's at `scratch`, worker w's at scratch + (w+1)*scratchBytes. */
export interface PoolJob {
  kind: 'gemm' | 'pack';
  table: number;
  count: number;
  recordBytes: number;
  scratch: number;
  scratchBytes: number;
}

export class GemmPool {
  private readonly workers: WorkerHandle[] = [];
  private readonly ctl: Int32Array;
  private jobNumber = 0;

  /** Starts `size` workers, each instantiating `module` over `memory`. Waits up to `readyMs` for
   *  them to come up; one that is not up yet simply joins later jobs when it is. */
  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, size: number, readyMs = 5000) {
    const Worker = nodeWorker();
    if (!Worker) throw new Error('GemmPool: node:worker_threads is not available here');
    if (size > MAX_WORKERS) throw new Error(`GemmPool: ${size} workers asked, at most ${MAX_WORKERS}`);
    this.ctl = new Int32Array(memory.buffer, 0, CONTROL_BYTES / 4);
    this.ctl.fill(0);
    for (let index = 0; index < size; index++) {
      // execArgv []: the worker needs none of the parent's options (an `--import tsx` would load
      // tsx again in every worker); V8 flags such as relaxed SIMD are process-wide anyway
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, index }, execArgv: [] });
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

  /** Runs records 0..count-1 of the job's table, on the workers that are up and on this thread
   *  (through runHere(record address)); returns when all are done. */
  run(job: PoolJob, runHere: (record: number) => void): void {
    const ctl = this.ctl;
    const { table, count, recordBytes } = job;
    const number = (this.jobNumber = (this.jobNumber + 1) & 0x3fffffff);
    Atomics.store(ctl, KIND, job.kind === 'pack' ? 1 : 0);
    Atomics.store(ctl, RECORD_BYTES, recordBytes);
    Atomics.store(ctl, SCRATCH, job.scratch);
    Atomics.store(ctl, SCRATCH_BYTES, job.scratchBytes);
    Atomics.store(ctl, COUNT, count);
    Atomics.store(ctl, TABLE, table);
    Atomics.store(ctl, NEXT, 0);
    const woken: number[] = [];
    for (let w = 0; w < this.workers.length; w++) {
      if (Atomics.load(ctl, READY + w) !== 1) continue;
      Atomics.store(ctl, GO + w, number);
      Atomics.notify(ctl, GO + w);
      woken.push(w);
    }
    let failed: number[] = [];
    try {
      for (let u; (u = Atomics.add(ctl, NEXT, 1)) < count; ) runHere(table + u * recordBytes);
    } finally {
      // Every woken worker must report this job done before the control block is reused (one
      // that woke late may still be about to take a unit number), even when this thread threw.
      for (const w of woken) {
        for (let done; (done = Atomics.load(ctl, DONE + w)) !== number; ) Atomics.wait(ctl, DONE + w, done);
      }
      failed = woken.filter((w) => Atomics.exchange(ctl, FAILED + w, 0) !== 0);
    }
    if (failed.length) {
      throw new Error(`GemmPool: a ${job.kind} record threw in worker ${failed.join(', ')} (its error is on stderr); the result is incomplete`);
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
