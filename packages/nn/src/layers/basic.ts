// Small layers: activations, Identity and Dropout.
import { mul, rand, type Generator, type Tensor } from '@bitvit/tensor';
import { Module, pyFloat } from '../module.js';

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** GELU, exact erf form (PyTorch's default, approximate='none'). */
export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return x.gelu();
  }

  // torch.nn.GELU prints its approximation mode: GELU(approximate='none').
  override extraRepr(): string {
    return "approximate='none'";
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}

/**
 * Inverted dropout: in training, zero each value with probability p and scale the rest by
 * 1/(1-p), so eval needs no rescale. The mask comes from the seeded generator.
 */
export class Dropout extends Module {
  readonly p: number;
  generator?: Generator;

  constructor(p = 0.5, opts: { generator?: Generator } = {}) {
    super();
    if (p < 0 || p > 1) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
    this.p = p;
    this.generator = opts.generator;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    if (this.p === 1) return mul(x, 0);
    const keep = rand(x.shape, { generator: this.generator }).lt(1 - this.p);
    return x.mul(keep.mul(1 / (1 - this.p)));
  }

  override extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=False`;
  }
}
