// A synchronous worker pool over one shared WebAssembly.Memory.
//
// gemm() must return its result synchronously (autograd calls it in the middle of a backward
// pass), so the pool does not use messages or promises. Every thread, the caller's included, has
// its own instance of the same compiled module over the same shared memory. A job is a table of
// records in that memory, each one call of an exported function: gemmUnit(record, scratch) for
// compute units (UNIT in wasm-kernel.ts; each thread has its own scratch), packTask(record) for
// packing tasks (PACK).
//
// Records are claimed from one Int32 slot, CLAIM = job tag << 16 | records not yet claimed, by
// compare-and-swap, the protocol of all the pools (the caller's side: ../wasm/claim.ts): a
// worker claims only while the tag is its job's, and the caller waits for the claimed records to *finish*, not for the workers to
// wake. On this 2-core machine a woken worker is often scheduled late (the other core is busy
// with the caller, the kernels' worker or the garbage collector); it then finds nothing left and
// sleeps again, and the caller, which ran the records itself, never waited for it. (An earlier
// version waited for every woken worker to check in: 14-17 ms of a 120 ms vit-mnist training
// step went to that wait.)
//
// The control block is CONTROL_BYTES of the memory at a given address (GEMM_CONTROL in the heap,
// ../wasm/heap.ts), as Int32 slots. A record that traps
// (an out-of-bounds access would be a bug here) fails the call with an error on either side.

import { MAX_CLAIM_UNITS, nextTag, runClaimed } from '../wasm/claim.js';

export const CONTROL_BYTES = 512;
const CLAIM = 0; // job tag << 16 | records not yet claimed (claimed from the top down)
const FINISHED = 1; // records of the current job finished
const TABLE = 2; // byte address of the record table
const WORKER_UNITS = 3; // units the workers (not the caller) have run, for tests and tuning
const KIND = 4; // 0: compute units (gemmUnit), 1: packing tasks (packTask)
const RECORD_BYTES = 5; // bytes per record in the table
const SCRATCH = 6; // byte address of the caller's scratch; worker w's is SCRATCH + (w+1)*SCRATCH_BYTES
const SCRATCH_BYTES = 7;
const GO = 8; // the tag of the latest job (the workers sleep on it; -1: exit)
const READY = 40; // READY + w: 1 once worker w has instantiated the module
const FAILED = 56; // FAILED + w: 1 when a record threw in worker w (a trap: a bug, not bad input)
export const MAX_WORKERS = 16;
const MAX_RECORDS = MAX_CLAIM_UNITS; // per job: the low 16 bits of CLAIM
const SLOTS = { claim: CLAIM, finished: FINISHED, go: GO };

// The worker's whole program. It is a string run with `eval: true`, so the same code works
// from the TypeScript sources (tsx, vitest) and from the built dist/ without a separate file.
// It runs as a CommonJS script or, under --input-type=module, as a module: so no `require`.
const WORKER_SOURCE = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
const { module, memory, index, control } = workerData;
const { gemmUnit, packTask } = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(memory.buffer, control, ${CONTROL_BYTES / 4});
Atomics.store(ctl, ${READY} + index, 1);
Atomics.notify(ctl, ${READY} + index);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${GO}, seen);
  const tag = Atomics.load(ctl, ${GO});
  if (tag < 0) break;
  seen = tag;
  let ran = 0;
  for (;;) {
    const c = Atomics.load(ctl, ${CLAIM});
    if (c >>> 16 !== tag || (c & ${MAX_RECORDS}) === 0) break;
    if (Atomics.compareExchange(ctl, ${CLAIM}, c, c - 1) !== c) continue;
    // the claim holds the job in place: the caller changes nothing until this record finishes
    const record = Atomics.load(ctl, ${TABLE}) + ((c & ${MAX_RECORDS}) - 1) * Atomics.load(ctl, ${RECORD_BYTES});
    try {
      if (Atomics.load(ctl, ${KIND}) === 1) packTask(record);
      else gemmUnit(record, Atomics.load(ctl, ${SCRATCH}) + (index + 1) * Atomics.load(ctl, ${SCRATCH_BYTES}));
      ran++;
    } catch (error) {
      console.error('gemm worker ' + index + ':', error);
      Atomics.store(ctl, ${FAILED} + index, 1);
    }
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

/** node:worker_threads' Worker, or null outside Node (browsers get one thread). No static import,
 *  so this file also loads where there is no node:worker_threads. */
function nodeWorker(): WorkerConstructor | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: WorkerConstructor } | undefined;
  return threads?.Worker ?? null;
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
  private tag = 0;

  /** Starts `size` workers, each instantiating `module` over `memory`, with the control block at
   *  byte `control`. Waits up to `readyMs` for them to come up; one that is not up yet simply
   *  joins later jobs when it is. */
  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, size: number, readyMs = 5000, control = 0) {
    const Worker = nodeWorker();
    if (!Worker) throw new Error('GemmPool: node:worker_threads is not available here');
    if (size > MAX_WORKERS) throw new Error(`GemmPool: ${size} workers asked, at most ${MAX_WORKERS}`);
    this.ctl = new Int32Array(memory.buffer, control, CONTROL_BYTES / 4);
    this.ctl.fill(0);
    for (let index = 0; index < size; index++) {
      // execArgv []: the worker needs none of the parent's options (an `--import tsx` would load
      // tsx again in every worker); V8 flags such as relaxed SIMD are process-wide anyway
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, index, control }, execArgv: [] });
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
    for (let first = 0; first < job.count; first += MAX_RECORDS) {
      const count = Math.min(MAX_RECORDS, job.count - first);
      this.runSome({ ...job, table: job.table + first * job.recordBytes, count }, runHere);
    }
  }

  private runSome(job: PoolJob, runHere: (record: number) => void): void {
    const ctl = this.ctl;
    const { table, count, recordBytes } = job;
    // the previous job is over (its records all finished), so no worker reads these now
    Atomics.store(ctl, KIND, job.kind === 'pack' ? 1 : 0);
    Atomics.store(ctl, RECORD_BYTES, recordBytes);
    Atomics.store(ctl, SCRATCH, job.scratch);
    Atomics.store(ctl, SCRATCH_BYTES, job.scratchBytes);
    Atomics.store(ctl, TABLE, table);
    let failed: number[] = [];
    try {
      runClaimed(ctl, SLOTS, (this.tag = nextTag(this.tag)), count, (u) => runHere(table + u * recordBytes));
    } finally {
      failed = this.workers.map((_, w) => w).filter((w) => Atomics.exchange(ctl, FAILED + w, 0) !== 0);
    }
    if (failed.length) {
      throw new Error(`GemmPool: a ${job.kind} record threw in worker ${failed.join(', ')} (its error is on stderr); the result is incomplete`);
    }
  }

  /** Tells the workers to exit and terminates them. */
  close(): void {
    Atomics.store(this.ctl, GO, -1);
    Atomics.notify(this.ctl, GO);
    for (const worker of this.workers) void worker.terminate();
    this.workers.length = 0;
  }
}
