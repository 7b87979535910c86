// Worker threads for the unrolled ternary kernels (ternary-unrolled.ts). Each of those kernels is
// a WebAssembly module of its own, compiled when its layer first runs, so the pools of
// @bitvit/tensor and ternary-runtime.ts, whose workers instantiate one module when they start,
// cannot run them. Here the caller posts each new module to every worker's MessagePort, and a
// worker takes the modules waiting on its port with receiveMessageOnPort (synchronous, so the
// worker never returns to its event loop) when a job names one it does not have yet. Modules run
// on the tensor heap's shared memory, so all threads see the same activations.
//
// A job is one kernel over `groups` groups of 8 tokens, cut into units of `unitGroups`; a unit
// runs prepare() and run() on its groups (both touch only their own groups). Units are claimed
// by compare-and-swap on a tagged counter, the protocol of @bitvit/tensor's pools (runClaimed): the
// caller takes units too and waits only for units a worker has claimed, never for a worker to wake.

import { MAX_CLAIM_UNITS, nextTag, runClaimed } from '@bitvit/tensor';

const CLAIM = 0; // job tag << 16 | units not yet claimed
const FINISHED = 1; // units of the current job finished
const GO = 2; // tag of the latest job (-1: exit)
const FAILED = 3; // set when a unit threw in a worker
const WORKER_UNITS = 4; // units the workers ran, for tests
const PARAMS = 8; // the job: module id, groups, unitGroups, inPad, rowBytes, xf, xt, act, scale, bias, out
const PARAM_NAMES = ['module', 'groups', 'unitGroups', 'inPad', 'rowBytes', 'xf', 'xt', 'act', 'scale', 'bias', 'out'] as const;
const READY = 24; // READY + w: 1 once worker w is up
const CONTROL_INTS = 32;
const MAX_UNITS = MAX_CLAIM_UNITS;
const SLOTS = { claim: CLAIM, finished: FINISHED, go: GO };
export const MAX_UNROLLED_WORKERS = 7;

export type UnrolledJob = Record<(typeof PARAM_NAMES)[number], number>;

interface UnitExports {
  prepare(groups: number, xf: number, xt: number, act: number): void;
  run(groups: number, xt: number, act: number, scale: number, bias: number, out: number): void;
}

/** One unit's work: prepare and run on groups [u*unitGroups, ...) of the job in `p`. */
function runUnit(ex: UnitExports, p: Int32Array, u: number): void {
  const groups = p[1]!, unitGroups = p[2]!, inPad = p[3]!, rowBytes = p[4]!;
  const g0 = u * unitGroups, n = Math.min(unitGroups, groups - g0);
  const xt = p[6]! + g0 * 16 * inPad, act = p[7]! + g0 * 32;
  ex.prepare(n, p[5]! + g0 * 32 * inPad, xt, act);
  ex.run(n, xt, act, p[8]!, p[9]!, p[10]! + g0 * 8 * rowBytes);
}

// The worker's program (eval'd, so it works from the sources and from dist/ alike).
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
const { memory, control, port, index } = workerData;
const ctl = new Int32Array(control);
const params = new Int32Array(control, ${PARAMS * 4}, ${PARAM_NAMES.length});
const runUnit = ${runUnit.toString()};
const modules = new Map();
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
    if (c >>> 16 !== tag || (c & ${MAX_UNITS}) === 0) break;
    // the module first: a worker that cannot run the job claims nothing
    const id = Atomics.load(params, 0);
    for (let m; !modules.has(id) && (m = receiveMessageOnPort(port)); ) {
      modules.set(m.message.id, new WebAssembly.Instance(m.message.module, { env: { memory } }).exports);
    }
    const ex = modules.get(id);
    if (!ex) break;
    if (Atomics.compareExchange(ctl, ${CLAIM}, c, c - 1) !== c) continue;
    try {
      runUnit(ex, params, (c & ${MAX_UNITS}) - 1);
      ran++;
    } catch (e) {
      console.error('unrolled ternary worker ' + index + ':', e);
      Atomics.store(ctl, ${FAILED}, 1);
    }
    Atomics.add(ctl, ${FINISHED}, 1);
    Atomics.notify(ctl, ${FINISHED});
  }
  if (ran) Atomics.add(ctl, ${WORKER_UNITS}, ran);
}
`;

interface WorkerHandle {
  unref(): void;
}
interface PortHandle {
  postMessage(message: unknown): void;
}
interface NodeThreads {
  Worker: new (code: string, options: { eval: boolean; workerData: unknown; transferList: unknown[]; execArgv: string[] }) => WorkerHandle;
  MessageChannel: new () => { port1: PortHandle & { unref?(): void }; port2: unknown };
}

function nodeThreads(): NodeThreads | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.('node:worker_threads') as Partial<NodeThreads> | undefined;
  return threads?.Worker && threads.MessageChannel && typeof SharedArrayBuffer === 'function' ? (threads as NodeThreads) : null;
}

export class UnrolledPool {
  private readonly ctl: Int32Array;
  private readonly params: Int32Array;
  private readonly ports: PortHandle[] = [];
  private readonly modules: WebAssembly.Module[] = [];
  private tag = 0;

  private constructor(private readonly memory: WebAssembly.Memory, private readonly threads: NodeThreads) {
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_INTS));
    this.params = new Int32Array(this.ctl.buffer, PARAMS * 4, PARAM_NAMES.length);
  }

  /** A pool over a shared memory; null where there are no worker threads or the memory is not shared. */
  static create(memory: WebAssembly.Memory): UnrolledPool | null {
    const threads = nodeThreads();
    return threads && memory.buffer instanceof SharedArrayBuffer ? new UnrolledPool(memory, threads) : null;
  }

  /** Workers taking part (started so far). */
  get size(): number {
    return this.ports.length;
  }

  get workerUnits(): number {
    return Atomics.load(this.ctl, WORKER_UNITS);
  }

  /** Registers a kernel module; returns its id for jobs. Every worker gets it on its port. */
  addModule(module: WebAssembly.Module): number {
    this.modules.push(module);
    const id = this.modules.length; // ids from 1
    for (const port of this.ports) port.postMessage({ id, module });
    return id;
  }

  /** Starts workers up to `n` (they are never stopped: idle ones sleep in Atomics.wait). */
  grow(n: number): void {
    for (let index = this.ports.length; index < Math.min(n, MAX_UNROLLED_WORKERS); index++) {
      const { port1, port2 } = new this.threads.MessageChannel();
      const worker = new this.threads.Worker(WORKER_SOURCE, {
        eval: true, workerData: { memory: this.memory, control: this.ctl.buffer, port: port2, index }, transferList: [port2], execArgv: [],
      });
      worker.unref();
      port1.unref?.();
      this.modules.forEach((module, i) => port1.postMessage({ id: i + 1, module }));
      this.ports.push(port1);
    }
  }

  /** Runs the job's units on this thread (`exports`, the module's instance here) and on the workers. */
  run(job: UnrolledJob, exports: UnitExports): void {
    PARAM_NAMES.forEach((name, i) => (this.params[i] = job[name]));
    Atomics.store(this.ctl, FAILED, 0);
    runClaimed(this.ctl, SLOTS, (this.tag = nextTag(this.tag)), Math.ceil(job.groups / job.unitGroups), (u) => runUnit(exports, this.params, u));
    if (Atomics.load(this.ctl, FAILED) !== 0) throw new Error('UnrolledPool: a unit threw in a worker thread (its error is on stderr)');
  }
}
