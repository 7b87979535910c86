// Where the kernels' output arrays come from: a pool of recycled blocks.
//
// A training step makes a few hundred new arrays (every op's output, every gradient), 135 MiB a
// step for the MNIST ViT. Fresh typed arrays are costly at that rate: the allocator zeroes their
// memory, the kernel faults the pages in, and V8 counts them as external memory and runs full
// garbage collections to free them - on this 2-core machine those collections also took the core
// the GEMM's second thread wanted.
//
// In Node a pooled array is a view of the WebAssembly heap (kernels/wasm/heap.ts), so the kernels
// also read and write it in place instead of copying it in and out. Elsewhere it has an
// ArrayBuffer of its own, recycled the same way. Measured on the MNIST ViT's training step (two
// threads, configurations in turns in one process): 115 ms with fresh arrays, 85 ms with pooled
// ArrayBuffers, 77-81 ms with heap blocks read in place.
//
// How a block comes back: each pooled array is registered with a FinalizationRegistry; once the
// garbage collector has freed the array (the tensor and every reference to its data are gone),
// the registry hands its block back. JavaScript runs those callbacks only when the event loop
// turns, never inside synchronous code, so a training loop should `await recycleMemory()` once a
// step (the Trainer does); it also runs a full collection when much is out (see fullCollection).
// A loop that never yields still works: past `capBytes` out, outputs are plain arrays again.
//
// Without waiting for the collector: tidy() (tidy.ts) opens a scope here, and at its end every
// pooled array handed out inside it goes back at once, except those of the tensors it returns or
// keep()s; the tensors that held the others are marked freed (reading them throws). An inference
// loop then never piles up dead arrays, so it needs no full collection (measured on ViT-tiny at
// 224 px: ~56 MiB of blocks a forward, a 6-9 ms collection every ~5 forwards otherwise).
//
// The one rule this adds: tensor.data is valid while it is reachable. A view made from it
// (`data.subarray(...)`, `new Uint8Array(data.buffer, ...)`) does not keep it out of the pool, so
// use such a view while you still hold the array (or copy it: `data.slice()`).

import { Heap, theHeap } from './kernels/wasm/heap.js';

/** Arrays below this many floats are plain. (V8 keeps typed arrays of up to 64 bytes on its own
 *  heap, cheaply; bigger ones get a backing store of their own, allocated and zeroed each time.)
 *  Was 4096: vit-mnist at batch 1 (17 tokens of 64: 1088-float activations) then made every
 *  output a plain array, which the kernels also copied in and out; pooled, and given back at once
 *  by tidy(), its packed forward went from 0.47-0.50 to 0.34-0.36 ms (float 0.61 -> 0.54-0.58). */
const MIN_POOLED_FLOATS = 256;

/** A pooled block: an ArrayBuffer of its own, or a block of the WebAssembly heap. */
type Block = ArrayBuffer | { at: number; bytes: number };

interface PoolState {
  enabled: boolean;
  /** Bytes handed out and not yet returned (arrays alive, or dead and not yet finalized). */
  outstanding: number;
  /** Bytes waiting in the free lists of ArrayBuffers (heap blocks wait in the heap's lists). */
  free: number;
  /** Free ArrayBuffers by byte size (Heap.blockBytes). */
  lists: Map<number, ArrayBuffer[]>;
  hits: number;
  misses: number;
  plain: number;
  heapArrays: number;
}

/** Most bytes out at once; past it, plain arrays (a loop that never yields stays bounded). */
let outstandingCap = 1 << 29;
/** recycleMemory() runs a full garbage collection when more than this many bytes are out: on
 *  the MNIST ViT (250 MiB of blocks a step) every second step; each collection costs 6-15 ms. */
let collectAbove = 1 << 28;
const state: PoolState = { enabled: true, outstanding: 0, free: 0, lists: new Map(), hits: 0, misses: 0, plain: 0, heapArrays: 0 };
let heapChecked = false;
let heap: Heap | null = null;
let useHeap = true;

/** The WebAssembly heap, where it may hold tensor data (a shared memory) and is wanted. */
function tensorHeap(): Heap | null {
  if (!heapChecked) {
    heapChecked = true;
    const h = theHeap();
    heap = h.shared ? h : null;
  }
  return useHeap ? heap : null;
}

function sizeOfBlock(block: Block): number {
  return block instanceof ArrayBuffer ? block.byteLength : Heap.blockBytes(block.bytes);
}

/** A block comes back: into the heap's free lists, or (an ArrayBuffer) into the pool's. */
function release(block: Block): void {
  state.outstanding -= sizeOfBlock(block);
  if (!(block instanceof ArrayBuffer)) {
    heap!.free(block.at, block.bytes);
    return;
  }
  // keep it unless the free lists already hold as much as may be out at once
  if (state.enabled && state.free + block.byteLength <= outstandingCap) {
    const list = state.lists.get(block.byteLength);
    if (list) list.push(block);
    else state.lists.set(block.byteLength, [block]);
    state.free += block.byteLength;
  }
}

const registry: FinalizationRegistry<Block> | null = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<Block>(release) : null;

/** What holds a pooled array and must know when a scope frees it (a Tensor). */
export interface StorageOwner {
  storageFreed(): void;
}

/** One open tidy() scope: the pooled arrays handed out inside it, each with its block and the
 *  tensors made on it. */
type Scope = Map<Float32Array, { block: Block; owners: StorageOwner[] }>;
const scopes: Scope[] = [];

/** A new pooled array: with the innermost open scope, or registered for the collector. (One a
 *  scope holds is registered only if it outlives the scope: most never do, and registering and
 *  unregistering them took ~5% of a small model's forward.) */
function handOut(array: Float32Array, block: Block): void {
  const scope = scopes[scopes.length - 1];
  if (scope) scope.set(array, { block, owners: [] });
  else registry!.register(array, block);
}

/** Records that `owner` holds `array`, if an open scope handed the array out (outside any scope:
 *  nothing to do). */
export function trackStorage(array: Float32Array, owner: StorageOwner): void {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const entry = scopes[i]!.get(array);
    if (entry) {
      entry.owners.push(owner);
      return;
    }
  }
}

export function openStorageScope(): void {
  scopes.push(new Map());
}

/**
 * Ends the innermost scope. `kept` null (fn threw): its arrays are left to the collector, as
 * outside a scope. Else the arrays in `kept` go to the enclosing scope (or to the collector if
 * there is none) and every other array's block comes back now, its owners told.
 */
export function closeStorageScope(kept: ReadonlySet<Float32Array> | null): void {
  const scope = scopes.pop();
  if (!scope) throw new Error('closeStorageScope: no scope is open');
  const parent = scopes[scopes.length - 1];
  for (const [array, entry] of scope) {
    if (kept === null || kept.has(array)) {
      if (parent) parent.set(array, entry);
      else registry!.register(array, entry.block);
      continue;
    }
    release(entry.block);
    for (const owner of entry.owners) owner.storageFreed();
  }
}

/** Takes `array` out of the open scopes: it stays until the collector finds it unreachable. */
export function keepStorage(array: Float32Array): void {
  for (const scope of scopes) {
    const entry = scope.get(array);
    if (entry) {
      scope.delete(array);
      registry!.register(array, entry.block);
      return;
    }
  }
}

/**
 * A Float32Array of n floats for a kernel's output. Its contents are unspecified (a recycled
 * buffer holds old values): the caller must write every element, or ask for `zeroed`. In Node it
 * views the WebAssembly heap (kernels/wasm/heap.ts), so kernels read and write it in place; it
 * has 64 bytes of room after its end (vector kernels write whole vectors).
 */
export function allocFloats(n: number, zeroed = false): Float32Array {
  const inHeap = allocHeapFloats(n);
  if (inHeap) {
    if (zeroed) inHeap.fill(0);
    return inHeap;
  }
  if (!state.enabled || registry === null || n < MIN_POOLED_FLOATS || tensorHeap()) return plain(n);
  const bytes = Heap.blockBytes(n * 4 + 64);
  if (state.outstanding + bytes > outstandingCap) return plain(n);
  state.outstanding += bytes;
  let buffer = state.lists.get(bytes)?.pop();
  const recycled = buffer !== undefined;
  if (buffer) {
    state.free -= bytes;
    state.hits++;
  } else {
    buffer = new ArrayBuffer(bytes);
    state.misses++;
  }
  const array = new Float32Array(buffer, 0, n);
  handOut(array, buffer);
  if (zeroed && recycled) array.fill(0); // a new ArrayBuffer is zeroed already
  return array;
}

/**
 * V8's full collection, where it can be had (Node: `--expose-gc` set at run time, as Node's own
 * test tools do); null elsewhere. Why it is needed: a pooled array is a small JavaScript object
 * that outlives a few minor collections (it lives through the forward and backward pass), so it
 * is promoted to the old generation, and V8 collects that rarely - it does not know the object
 * holds megabytes of the heap. Without a push the dead arrays of several steps pile up until the
 * cap (measured: the heap grew to the 1 GiB cap on the MNIST ViT; with a collection whenever
 * collectAbove bytes are out it stays near that). A minor collection (`gc({ type: 'minor' })`,
 * tried) frees none of them.
 */
let gcFunction: (() => void) | null | undefined;
function fullCollection(): (() => void) | null {
  if (gcFunction === undefined) {
    gcFunction = null;
    try {
      const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
      const v8 = proc?.getBuiltinModule?.('node:v8') as { setFlagsFromString(flags: string): void } | undefined;
      const vm = proc?.getBuiltinModule?.('node:vm') as { runInNewContext(code: string): unknown } | undefined;
      if (v8 && vm) {
        v8.setFlagsFromString('--expose-gc');
        const gc = vm.runInNewContext('gc');
        if (typeof gc === 'function') gcFunction = gc as () => void;
      }
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}

/**
 * A pooled array of n floats in the WebAssembly heap (contents unspecified), or null where the
 * pool would not give one (off, no shared heap, small, or over the cap): the kernels then write
 * to their scratch and copy out into an allocFloats() array, instead of allocating twice.
 */
export function allocHeapFloats(n: number): Float32Array | null {
  const wasm = state.enabled && registry !== null && n >= MIN_POOLED_FLOATS ? tensorHeap() : null;
  if (!wasm) return null;
  const bytes = Heap.blockBytes(n * 4 + 64);
  if (state.outstanding + bytes > outstandingCap) return null;
  state.outstanding += bytes;
  const at = wasm.alloc(bytes);
  const array = wasm.floats(at, n);
  handOut(array, { at, bytes });
  state.heapArrays++;
  return array;
}

function plain(n: number): Float32Array {
  state.plain++;
  return new Float32Array(n);
}

/** Lets the pool take back the memory of tensors that are gone: resolves after two turns of the
 *  event loop (V8 posts the finalization callbacks as a task after a collection; in Node that
 *  task sometimes runs only on the second turn). Await it once per training step. */
export async function recycleMemory(): Promise<void> {
  if (state.outstanding > collectAbove) fullCollection()?.();
  const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  const turn = (): Promise<void> => new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
  await turn();
  await turn();
}

/**
 * Settings of the pool. `enabled` (default true): off, every output is a fresh array and the free
 * lists are dropped. `capBytes` (512 MiB): the most bytes out at once. `collectAboveBytes`
 * (256 MiB): recycleMemory() runs a full collection when more are out. `inHeap` (default true):
 * in Node, pooled arrays view the WebAssembly heap (read in place by the kernels); false gives
 * them ArrayBuffers of their own (copied in and out by the kernels, as without the heap).
 */
export function setStoragePool(options: { enabled?: boolean; capBytes?: number; collectAboveBytes?: number; inHeap?: boolean }): void {
  if (options.inHeap !== undefined) useHeap = options.inHeap;
  if (options.collectAboveBytes !== undefined) {
    if (!(options.collectAboveBytes >= 0)) throw new Error(`setStoragePool: collectAboveBytes must be >= 0, got ${options.collectAboveBytes}`);
    collectAbove = options.collectAboveBytes;
  }
  if (options.capBytes !== undefined) {
    if (!(options.capBytes >= 0)) throw new Error(`setStoragePool: capBytes must be >= 0, got ${options.capBytes}`);
    outstandingCap = options.capBytes;
  }
  if (options.enabled !== undefined) state.enabled = options.enabled;
  if (!state.enabled) {
    state.lists.clear();
    state.free = 0;
  }
}

/** What the pool did so far: arrays it recycled (hits), made new (misses) or left to plain
 *  allocation (small, over the cap, or pool off), and bytes out and free now. */
export function storagePoolStats(): {
  enabled: boolean; hits: number; misses: number; plain: number; heapArrays: number; outstandingBytes: number; freeBytes: number; capBytes: number;
  heapBytes: number; heapInUseBytes: number;
} {
  return {
    enabled: state.enabled, hits: state.hits, misses: state.misses, plain: state.plain, heapArrays: state.heapArrays,
    outstandingBytes: state.outstanding, freeBytes: state.free, capBytes: outstandingCap,
    heapBytes: heap ? heap.memory.buffer.byteLength : 0, heapInUseBytes: heap ? heap.inUse : 0,
  };
}
