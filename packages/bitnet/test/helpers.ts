// Helpers shared by the bitnet tests (and the ternary benchmark).
import { theHeap } from '@bitvit/tensor';
import { packI2 } from '../src/packing.js';

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

/** A ternary linear problem for the kernel tests: tokens of x in (-3, 3), random codes (packed i2),
 *  one weight scale or one per output row, a bias or none. */
export interface TernaryProblem {
  tokens: number; inFeatures: number; outFeatures: number;
  x: Float32Array; codes: Int8Array; packed: Uint8Array; weightScale: Float32Array; bias: Float32Array | null;
}

export function ternaryProblem(tokens: number, inFeatures: number, outFeatures: number, seed: number, perChannel = true, withBias = true): TernaryProblem {
  const next = rng(seed);
  const x = Float32Array.from({ length: tokens * inFeatures }, () => (next() - 0.5) * 6);
  const codes = Int8Array.from({ length: outFeatures * inFeatures }, () => Math.floor(next() * 3) - 1);
  const weightScale = Float32Array.from({ length: perChannel ? outFeatures : 1 }, () => 0.01 + next());
  const bias = withBias ? Float32Array.from({ length: outFeatures }, () => next() - 0.5) : null;
  return { tokens, inFeatures, outFeatures, x, codes, packed: packI2(codes, outFeatures, inFeatures), weightScale, bias };
}
