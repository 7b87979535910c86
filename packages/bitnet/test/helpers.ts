// Helpers shared by the bitnet tests (and the ternary benchmark).
import { theHeap } from '@bitvit/tensor';

/** mulberry32: a small seeded generator, so a failing case (or a benchmark's data) repeats. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A copy of `a` in the tensor heap, as the storage pool's tensors live (kernels use it in place). */
export function inHeap(a: Float32Array): Float32Array {
  const heap = theHeap();
  const copy = heap.floats(heap.alloc(a.length * 4 + 64), a.length);
  copy.set(a);
  return copy;
}
