// Layers that read the same input. Attention's query, key and value projections all take the same
// x; a layer whose forward is `forwardPrepared(prepare(x))` can say so (SharedInputLayer), and
// forwardShared() then runs `prepare` once for all of them when they compute the same thing (equal
// `inputKey`s). For a Linear `prepare` is nothing; for @bitvit/bitnet's BitLinear it is the
// per-token 8-bit activation quantizer, so a ViT block quantizes its attention input once, not
// three times (and the three gradients meet at one straight-through node instead of three).
import type { Tensor } from '@bitvit/tensor';
import type { Module } from '../module.js';

export interface SharedInputLayer {
  /**
   * What prepare() computes, as a key: layers with the same non-null key give the same prepare(x)
   * for the same x (so it may run once for all of them); null: this layer's prepare depends on
   * its own state (an input norm with its own weights) and is not shared.
   */
  readonly inputKey: string | null;
  /** The part of forward that depends only on the input. */
  prepare(x: Tensor): Tensor;
  /** The rest: forward(x) = forwardPrepared(prepare(x)). */
  forwardPrepared(prepared: Tensor): Tensor;
  /**
   * Optional: `layers` (this one first, all of its class, with its inputKey) on the same x at
   * once, equal to `layers.map((m) => m.forwardPrepared(m.prepare(x)))` (for an inference kernel
   * that runs several layers in one call).
   */
  forwardGroup?(layers: readonly SharedInputLayer[], x: Tensor): Tensor[];
}

type TensorModule = Module & { forward(x: Tensor): Tensor };

/** The object in m's prototype chain (m itself included) that defines `name`. */
function ownerOf(m: object, name: string): object | null {
  for (let o: object | null = m; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    if (Object.prototype.hasOwnProperty.call(o, name)) return o;
  }
  return null;
}

function sharesInput(m: TensorModule): m is TensorModule & SharedInputLayer {
  const s = m as Partial<SharedInputLayer>;
  if (typeof s.prepare !== 'function' || typeof s.forwardPrepared !== 'function') return false;
  // forward must be the one written with forwardPrepared: a forward hook (set on the instance) or a
  // subclass's own forward must run as it is
  return ownerOf(m, 'forward') === ownerOf(m, 'forwardPrepared');
}

/**
 * layers.map((m) => m.forward(x)), with the input's preparation run once when every layer is a
 * SharedInputLayer with the same non-null inputKey whose forward is its class's own (no hook), or
 * all of them in one forwardGroup call where their class has one.
 */
export function forwardShared(layers: readonly TensorModule[], x: Tensor): Tensor[] {
  const sharing = layers.filter(sharesInput);
  const first = sharing[0];
  if (first && sharing.length === layers.length) {
    const key = first.inputKey;
    if (key !== null && sharing.every((m) => m.inputKey === key)) {
      if (first.forwardGroup && sharing.every((m) => m.constructor === first.constructor)) return first.forwardGroup(sharing, x);
      const prepared = first.prepare(x);
      return sharing.map((m) => m.forwardPrepared(prepared));
    }
  }
  return layers.map((m) => m.forward(x));
}
