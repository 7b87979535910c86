// Where the kernels' output arrays come from: a pool of recycled buffers.
//
// A training step makes a few hundred new arrays (every op's output, every gradient), 135 MiB a
// step for the MNIST ViT. Fresh typed arrays are costly at that rate: the allocator zeroes their
// memory, the kernel faults the pages in, and V8 counts them as external memory and runs full
// garbage collections to free them - on this 2-core machine those collections also take the core
// the GEMM's second thread wanted. With the pool, a step of the MNIST ViT took 85 ms instead of
// 115 ms (two threads; measured in one process, configurations in turns).
//
// How a buffer comes back: each pooled array is registered with a FinalizationRegistry; once the
// garbage collector has freed the array (the tensor and every reference to its data are gone),
// the registry hands its ArrayBuffer back to the pool. JavaScript runs those callbacks only when
// the event loop turns, never inside synchronous code, so a training loop should
// `await recycleMemory()` once a step (the Trainer does). A loop that never yields still works:
// the pool stops handing out buffers once OUTSTANDING_CAP bytes are out and allocates plain
// arrays, as without the pool.
//
// The one rule this adds: tensor.data is valid while it is reachable. A view made from it
// (`data.subarray(...)`, `new Uint8Array(data.buffer, ...)`) does not keep it out of the pool, so
// use such a view while you still hold the array (or copy it: `data.slice()`).

/** Arrays below this many floats are plain: V8 keeps small typed arrays on its own heap, cheaply. */
const MIN_POOLED_FLOATS = 4096;

interface PoolState {
  enabled: boolean;
  /** Bytes handed out and not yet returned (arrays alive, or dead and not yet finalized). */
  outstanding: number;
  /** Bytes waiting in the free lists. */
  free: number;
  /** Free buffers by byte size (a power of two). */
  lists: Map<number, ArrayBuffer[]>;
  hits: number;
  misses: number;
  plain: number;
}

/** Most bytes out at once; past it, plain arrays (a loop that never yields stays bounded). */
let outstandingCap = 1 << 30;
const state: PoolState = { enabled: true, outstanding: 0, free: 0, lists: new Map(), hits: 0, misses: 0, plain: 0 };

const registry: FinalizationRegistry<ArrayBuffer> | null =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<ArrayBuffer>((buffer) => {
        state.outstanding -= buffer.byteLength;
        // keep it unless the free lists already hold as much as may be out at once
        if (state.enabled && state.free + buffer.byteLength <= outstandingCap) {
          const list = state.lists.get(buffer.byteLength);
          if (list) list.push(buffer);
          else state.lists.set(buffer.byteLength, [buffer]);
          state.free += buffer.byteLength;
        }
      })
    : null;

/**
 * A Float32Array of n floats for a kernel's output. Its contents are unspecified (a recycled
 * buffer holds old values): the caller must write every element, or ask for `zeroed`.
 */
export function allocFloats(n: number, zeroed = false): Float32Array {
  if (!state.enabled || registry === null || n < MIN_POOLED_FLOATS) return plain(n);
  const bytes = 2 ** Math.ceil(Math.log2(n * 4)); // size classes: powers of two
  if (state.outstanding + bytes > outstandingCap) return plain(n);
  let buffer = state.lists.get(bytes)?.pop();
  const recycled = buffer !== undefined;
  if (buffer) {
    state.free -= bytes;
    state.hits++;
  } else {
    buffer = new ArrayBuffer(bytes);
    state.misses++;
  }
  state.outstanding += bytes;
  const array = new Float32Array(buffer, 0, n);
  registry.register(array, buffer);
  if (zeroed && recycled) array.fill(0); // a new ArrayBuffer is zeroed already
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
  const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  const turn = (): Promise<void> => new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
  await turn();
  await turn();
}

/**
 * Turns the pool on or off (on by default) and sets how many bytes may be out at once. Off, every
 * output is a fresh array, as before the pool; the free lists are dropped.
 */
export function setStoragePool(options: { enabled?: boolean; capBytes?: number }): void {
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
export function storagePoolStats(): { enabled: boolean; hits: number; misses: number; plain: number; outstandingBytes: number; freeBytes: number; capBytes: number } {
  return {
    enabled: state.enabled, hits: state.hits, misses: state.misses, plain: state.plain,
    outstandingBytes: state.outstanding, freeBytes: state.free, capBytes: outstandingCap,
  };
}
