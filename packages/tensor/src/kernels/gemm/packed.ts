// An operand packed once: a layer's weights at inference are the same B call after call, and at
// batch 1 copying and packing that B was ~15% of a ViT's forward (vit-tiny-32: float32 ~20 ms ->
// ~17 ms with the weights packed once; packages/bitnet/bench/model.bench.ts).
import type { Heap } from '../wasm/heap.js';

/** Gives a collected operand's block back to the heap. */
const blocks: FinalizationRegistry<{ heap: Heap; at: number; bytes: number }> | null =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(({ heap, at, bytes }) => heap.free(at, bytes)) : null;

/**
 * op(B) (K x N) in the GEMM's packed layout, in a heap block of its own: strips of `nr` columns,
 * each K rows deep (wasm-gemm.ts step 2). Made by WasmGemm.packB; passed as GemmArgs.packedB.
 * It is a copy: later changes to B are not in it.
 */
export class PackedOperand {
  constructor(
    readonly heap: Heap,
    /** byte address of the first strip */
    readonly at: number,
    readonly bytes: number,
    readonly K: number,
    readonly N: number,
    /** columns per strip: the layout of one tiling */
    readonly nr: number,
  ) {
    if (bytes > 0) blocks?.register(this, { heap, at, bytes });
  }
}
