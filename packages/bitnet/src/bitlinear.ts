// BitLinear: a drop-in for Linear (same weight/bias names and shapes, so a float checkpoint
// loads into it) that trains through BitNet b1.58's quantizers with the straight-through
// estimator. The latent float weights are what the optimizer updates; the forward pass sees
// ternary weights and 8-bit activations; the backward pass treats both quantizers as identity.
import { linear, straightThrough, zeros, type Generator, type Tensor } from '@bitvit/tensor';
import { LayerNorm, Linear, Module, Parameter, RMSNorm, init, type SharedInputLayer } from '@bitvit/nn';
import { activationQuant, weightQuant, type ScaleGranularity } from './quantizers.js';

export type InputNorm = 'none' | 'rmsnorm' | 'layernorm';

export interface BitLinearOptions {
  bias?: boolean;
  /** A norm applied to the input inside the layer (BitNet's official recipe uses RMSNorm); default none. */
  inputNorm?: InputNorm;
  /** Absmean scale per tensor (BitNet b1.58) or per output channel (an ablation). */
  weightScale?: ScaleGranularity;
  /** Bits of the per-token absmax activation quantizer; null turns it off (weights-only ternary). */
  activationBits?: number | null;
  generator?: Generator;
}

export class BitLinear extends Module implements SharedInputLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly inputNorm: InputNorm;
  readonly weightScale: ScaleGranularity;
  readonly activationBits: number | null;
  weight: Parameter;
  bias: Parameter | null;
  norm: (Module & { forward(x: Tensor): Tensor }) | null;

  constructor(inFeatures: number, outFeatures: number, opts: BitLinearOptions = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.inputNorm = opts.inputNorm ?? 'none';
    this.weightScale = opts.weightScale ?? 'tensor';
    this.activationBits = opts.activationBits === undefined ? 8 : opts.activationBits;
    const w = Parameter.from(zeros([outFeatures, inFeatures]));
    init.kaimingUniform_(w, Math.sqrt(5), opts.generator);
    this.weight = this.addParameter('weight', w);
    let b: Parameter | null = null;
    if (opts.bias ?? true) {
      b = Parameter.from(zeros([outFeatures]));
      const bound = 1 / Math.sqrt(inFeatures);
      init.uniform_(b, -bound, bound, opts.generator);
    }
    this.bias = this.addParameter('bias', b);
    const norm = this.inputNorm === 'rmsnorm' ? new RMSNorm(inFeatures) : this.inputNorm === 'layernorm' ? new LayerNorm(inFeatures) : null;
    this.norm = norm ? this.addModule('norm', norm) : null;
  }

  /** A BitLinear holding a copy of a Linear's weights (conversion keeps what was learned). */
  static fromLinear(lin: Linear, opts: Omit<BitLinearOptions, 'bias'> = {}): BitLinear {
    const b = new BitLinear(lin.inFeatures, lin.outFeatures, { ...opts, bias: lin.bias !== null });
    b.weight.data.set(lin.weight.data);
    b.weight.markChanged();
    if (lin.bias && b.bias) {
      b.bias.data.set(lin.bias.data);
      b.bias.markChanged();
    }
    return b;
  }

  /** The quantized forward: y = actQuant(norm(x)) @ weightQuant(W)^T + b, both through the STE. */
  forward(x: Tensor): Tensor {
    return this.forwardPrepared(this.prepare(x));
  }

  /**
   * What this layer does to its input alone, as a key (nn's SharedInputLayer): BitLinears with the
   * same activation bits and no input norm of their own quantize an input the same way, so
   * attention's q, k and v quantize it once (nn's forwardShared).
   */
  get inputKey(): string | null {
    if (this.norm) return null;
    return this.activationBits === null ? 'identity' : `absmax-a${this.activationBits}`;
  }

  /** actQuant(norm(x)) through the STE (x itself with no norm and no activation quantization). */
  prepare(x: Tensor): Tensor {
    const xn = this.norm ? this.norm.forward(x) : x;
    return this.activationBits === null ? xn : straightThrough(xn, activationQuant(xn, this.activationBits).xq);
  }

  /** xq @ weightQuant(W)^T + b, the weights through the STE. */
  forwardPrepared(xq: Tensor): Tensor {
    const wq = straightThrough(this.weight, weightQuant(this.weight, this.weightScale).wq);
    return linear(xq, wq, this.bias);
  }

  override extraRepr(): string {
    const parts = [`${this.inFeatures} -> ${this.outFeatures}`];
    if (this.bias) parts.push('bias');
    if (this.inputNorm !== 'none') parts.push(`norm=${this.inputNorm}`);
    if (this.weightScale !== 'tensor') parts.push('per-channel scale');
    if (this.activationBits === null) parts.push('weights only');
    else if (this.activationBits !== 8) parts.push(`a${this.activationBits}`);
    return parts.join(', ');
  }

  // The study printed "BitLinear(192 -> 192, bias)": no child lines for a norm-free layer.
  override toString(): string {
    return this.norm ? super.toString() : `BitLinear(${this.extraRepr()})`;
  }
}
