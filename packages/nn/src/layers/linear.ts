// Linear: y = x W^T + b, with W stored [out, in] as in PyTorch (so state dicts carry over).
import { linear, zeros, type Generator } from '@bitvit/tensor';
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
    return linear(x, this.weight, this.bias);
  }

  /** A Linear does nothing to its input before the product (see shared-input.ts). */
  readonly inputKey: string | null = 'identity';
  prepare(x: Tensor): Tensor {
    return x;
  }
  forwardPrepared(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null ? 'True' : 'False'}`;
  }
}
