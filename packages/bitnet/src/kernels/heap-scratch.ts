// The scratch block the heap-resident ternary kernels (unrolled, dot) lay a call out in.
import { Heap } from '@bitvit/tensor';

/** One block of the tensor heap for all of them (calls run one at a time, never nested),
 *  replaced by a bigger one when a call needs more. */
let scratch = { at: 0, bytes: 0 };

/** The scratch block's byte address, at least `bytes` long. */
export function heapScratch(heap: Heap, bytes: number): number {
  if (bytes > scratch.bytes) {
    if (scratch.bytes > 0) heap.free(scratch.at, scratch.bytes);
    const size = Heap.blockBytes(bytes);
    scratch = { at: heap.alloc(size), bytes: size };
  }
  return scratch.at;
}
