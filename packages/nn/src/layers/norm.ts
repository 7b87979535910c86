// Normalisation layers over the last dim: LayerNorm (mean and variance) and RMSNorm (root mean square only).
import { layerNorm, ones, zeros } from '@bitvit/tensor';
import type { Tensor } from '@bitvit/tensor';
import { Module, Parameter, pyFloat } from '../module.js';

export class LayerNorm extends Module {
  readonly normalizedShape: number;
  readonly eps: number;
  weight: Parameter | null;
  bias: Parameter | null;

  constructor(normalizedShape: number, opts: { eps?: number; elementwiseAffine?: boolean; bias?: boolean } = {}) {
    super();
    this.normalizedShape = normalizedShape;
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwiseAffine ?? true;
    this.weight = this.addParameter('weight', affine ? Parameter.from(ones([normalizedShape])) : null);
    this.bias = this.addParameter('bias', affine && (opts.bias ?? true) ? Parameter.from(zeros([normalizedShape])) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `(${this.normalizedShape},), eps=${pyFloat(this.eps)}, elementwise_affine=${this.weight ? 'True' : 'False'}`;
  }
}

/** RMSNorm: x / sqrt(mean(x^2) + eps) * weight (no centering, no bias), as in LLaMA and BitNet. */
export class RMSNorm extends Module {
  readonly normalizedShape: number;
  readonly eps: number;
  weight: Parameter | null;

  constructor(normalizedShape: number, opts: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = normalizedShape;
    this.eps = opts.eps ?? 1e-6;
    this.weight = this.addParameter('weight', (opts.elementwiseAffine ?? true) ? Parameter.from(ones([normalizedShape])) : null);
  }

  forward(x: Tensor): Tensor {
    const y = x.mul(x.mul(x).mean(-1, true).add(this.eps).rsqrt());
    return this.weight ? y.mul(this.weight) : y;
  }

  override extraRepr(): string {
    return `(${this.normalizedShape},), eps=${pyFloat(this.eps)}`;
  }
}
