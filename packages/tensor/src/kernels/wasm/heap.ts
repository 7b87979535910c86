// The heap: one WebAssembly memory for the kernel module (runtime.ts), the GEMM (../gemm) and,
// where the memory is shared (Node), the data of tensors themselves.
//
// Why: WebAssembly can only read its own memory. With tensors in plain JavaScript arrays, every
// kernel call copies its inputs in and its output out, and the GEMM copies A, B and C: on the
// MNIST ViT's training step those copies were a quarter of the time. A tensor whose data is a
// Float32Array view of this memory is read in place: its byte address is its byteOffset.
//
// Layout: bytes [0, CONTROL_AREA) are left unused (0 is never a block), then a table of
// the kernels' vector constants (constant(), see there), then the blocks
// handed out by alloc(). Blocks come in power-of-two sizes (at least 64 bytes) and are kept on a
// free list per size when freed, so a training step, which asks for the same sizes every time,
// reuses the same blocks. Nothing is ever returned to the system (a WebAssembly memory cannot
// shrink); the peak of a run is what it keeps.
//
// Only a shared memory may hold tensor data: growing a non-shared memory detaches its old
// ArrayBuffer, which would empty every tensor viewing it. A shared one grows in place (its old
// SharedArrayBuffer objects stay valid). Without shared memory (a browser page that is not
// cross-origin isolated) the heap serves the kernels' scratch only.

export const PAGE = 65536;
export const HEAP_INITIAL_PAGES = 64; // 4 MiB
/** The most a 32-bit WebAssembly memory can address: 4 GiB (a shared memory must declare it). */
export const HEAP_MAX_PAGES = 65536;
/** Bytes at the start no block gets, so 0 is never a block's address (kernels take 0 as "none",
 *  as the attention kernel's probs). (It held the worker pools' control blocks until the thread
 *  team, team.ts, which keeps its own.) */
const CONTROL_AREA = 1024;
/** Room for 256 distinct 16-byte constants (the kernel module uses about 60). */
const CONSTANTS_BYTES = 4096;
/** Bytes kept allocated past the last block, so a kernel reading a little past the end of a block
 *  (whole vectors, the GEMM's last panel) never leaves the memory. */
export const HEAP_SLACK = 1 << 18;

export class Heap {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  private top = CONTROL_AREA + CONSTANTS_BYTES;
  private readonly lists = new Map<number, number[]>();
  /** Addresses of the constants in the table, by their bytes. */
  private readonly constants = new Map<string, number>();
  /** Every buffer object the memory has had (a shared memory gives a new one after each grow). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private view: Float32Array;
  private intView: Int32Array;
  /** Bytes in blocks handed out and not freed, for tests and statistics. */
  inUse = 0;

  constructor(shared: boolean) {
    this.shared = shared;
    this.memory = new WebAssembly.Memory({ initial: HEAP_INITIAL_PAGES, maximum: HEAP_MAX_PAGES, shared });
    this.view = new Float32Array(this.memory.buffer);
    this.intView = new Int32Array(this.memory.buffer);
    this.buffers.add(this.memory.buffer);
  }

  /** The whole memory as floats; a fresh view after the memory has grown. */
  get f32(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) {
      this.view = new Float32Array(this.memory.buffer);
      this.intView = new Int32Array(this.memory.buffer);
      this.buffers.add(this.memory.buffer);
    }
    return this.view;
  }

  /** The whole memory as Int32 (records of the GEMM's work tables); fresh after the memory grows. */
  get i32(): Int32Array {
    this.f32; // re-makes both views after a grow
    return this.intView;
  }

  /**
   * The size a block for `bytes` gets: the next power of two, at least 64. Tried: eight sizes per
   * power of two (at most 12.5% unused instead of up to half): the free lists then serve fewer
   * requests each, and every block is touched to its end, so a vit-mnist QAT run's resident
   * memory went from 380 to 500-610 MiB for 2-4% of a step (fewer forced collections).
   */
  static blockBytes(bytes: number): number {
    // 2^ceil(log2 bytes) from the leading zeros of bytes - 1 (Math.log2 and ** took ~3% of a
    // small model's forward); bytes - 1 < 2^32 in a 32-bit memory
    return bytes <= 64 ? 64 : 2 ** (32 - Math.clz32(bytes - 1));
  }

  /** A 64-byte-aligned block of blockBytes(bytes) bytes (contents unspecified); its address. */
  alloc(bytes: number): number {
    const size = Heap.blockBytes(bytes);
    const list = this.lists.get(size);
    let at = list?.pop();
    if (at === undefined) {
      at = this.top;
      this.ensure(at + size + HEAP_SLACK);
      this.top = at + size;
    }
    this.inUse += size;
    return at;
  }

  /** Gives back a block from alloc (with the same `bytes`). */
  free(at: number, bytes: number): void {
    const size = Heap.blockBytes(bytes);
    this.inUse -= size;
    const list = this.lists.get(size);
    if (list) list.push(at);
    else this.lists.set(size, [at]);
  }

  /**
   * The byte address of a 16-byte vector constant in the heap's constant table, written there the
   * first time it is asked for; kernels load it from there (ModuleBuilder's `constants` option).
   * Why not v128.const: V8 builds each one in place, from a 64-bit immediate through a general
   * register (three instructions), at every use inside the loop; a polynomial has a dozen, and a
   * load is one instruction on ports the kernels leave idle (exp 1.94 -> 1.35 ns a value).
   */
  constant(bytes: readonly number[]): number {
    const key = bytes.join(',');
    let at = this.constants.get(key);
    if (at === undefined) {
      at = CONTROL_AREA + 16 * this.constants.size;
      if (at + 16 > CONTROL_AREA + CONSTANTS_BYTES) throw new Error(`wasm heap: more than ${CONSTANTS_BYTES / 16} vector constants`);
      new Uint8Array(this.memory.buffer, at, 16).set(bytes);
      this.constants.set(key, at);
    }
    return at;
  }

  /** The byte address of `a` if it views this memory, else -1. */
  address(a: ArrayBufferView): number {
    return this.buffers.has(a.buffer) ? a.byteOffset : -1;
  }

  /** n floats at byte address `at`, as a view of the memory. */
  floats(at: number, n: number): Float32Array {
    return new Float32Array(this.f32.buffer, at, n);
  }

  /** Grows the memory to at least `bytes`. */
  private ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > HEAP_MAX_PAGES) {
      throw new Error(`wasm heap: ${bytes} bytes needed, but a WebAssembly memory stops at ${HEAP_MAX_PAGES * PAGE} (4 GiB)`);
    }
    this.memory.grow(pages);
    this.f32; // refresh the view and remember the new buffer
  }
}

let heap: Heap | undefined;

/** The process' heap, made on first use; shared where worker threads and SharedArrayBuffer exist. */
export function theHeap(): Heap {
  if (!heap) {
    let shared = sharedMemoryAvailable();
    try {
      heap = new Heap(shared);
    } catch {
      shared = false; // a browser page without cross-origin isolation: no shared memory
      heap = new Heap(false);
    }
  }
  return heap;
}

/** Whether this engine has the pieces for a shared heap and worker pools (Node's worker_threads). */
function sharedMemoryAvailable(): boolean {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const threads = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: unknown } | undefined;
  return threads?.Worker !== undefined && typeof SharedArrayBuffer === 'function';
}
