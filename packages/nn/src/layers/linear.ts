// Linear: y = x W^T + b, with W stored [out, in] as in PyTorch (so state dicts carry over).
import { linear, prepackLinearWeight, zeros, type Generator, type PackedLinearWeight } from '@bitvit/tensor';
import type { Tensor } from '@bitvit/tensor';
import { Module, Parameter } from '../module.js';
import { kaimingUniform_, uniform_ } from '../init.js';
import type { SharedInputLayer } from './shared-input.js';

export interface LinearOptions {
  bias?: boolean;
  generator?: Generator;
}

export class Linear extends Module implements SharedInputLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Parameter;
  bias: Parameter | null;
  /** The weight packed for the CPU GEMM (prepack()), or null. */
  private packed: PackedLinearWeight | null = null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    // PyTorch's default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(in)) for the weight and the bias.
    const w = Parameter.from(zeros([outFeatures, inFeatures]));
    kaimingUniform_(w, Math.sqrt(5), opts.generator);
    this.weight = this.addParameter('weight', w);
    let b: Parameter | null = null;
    if (opts.bias ?? true) {
      b = Parameter.from(zeros([outFeatures]));
      const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
      uniform_(b, -bound, bound, opts.generator);
    }
    this.bias = this.addParameter('bias', b);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, this.currentPack());
  }

  /**
   * Packs the weight once for the CPU GEMM, for inference: forwards then skip copying and packing
   * it (~15% of a ViT's forward at batch 1). Same outputs. The pack is a copy: once the weight
   * changes (an optimizer step, loadStateDict, an init function; code writing `weight.data` itself
   * calls `weight.markChanged()`) forwards pack as usual again, until the next prepack(). Returns
   * whether there was anything to pack (false on the GPU backend or without WebAssembly SIMD).
   */
  prepack(): boolean {
    this.packed = prepackLinearWeight(this.weight);
    return this.packed !== null;
  }

  /** The pack while it still holds the weight's values; a stale one is dropped. */
  private currentPack(): PackedLinearWeight | null {
    if (this.packed && !this.packed.holds(this.weight)) this.packed = null;
    return this.packed;
  }

  /** A Linear does nothing to its input before the product (see shared-input.ts). */
  readonly inputKey: string | null = 'identity';
  prepare(x: Tensor): Tensor {
    return x;
  }
  forwardPrepared(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, this.currentPack());
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null ? 'True' : 'False'}`;
  }
}

/** Calls prepack() on every Linear in the module tree (inference: see Linear.prepack); returns
 *  how many were packed. */
export function prepackLinears(model: Module): number {
  let packed = 0;
  for (const [, m] of model.namedModules()) if (m instanceof Linear && m.prepack()) packed++;
  return packed;
}
