// QuantizedLinear: the inference module a post-training quantized Linear becomes. It holds the
// ternary codes, their scales (and zero point, and second plane, when the method has them) and
// the float bias; it dequantizes the weight once, at construction, and then runs a plain
// `linear` on (optionally 8-bit quantized) activations. No `weight` parameter, no gradient:
// it is for measuring what the quantized model computes, not for training.
//
// Activations, 8 bits symmetric absmax:
//   none      x as it comes (weights-only ternary)
//   dynamic   per token: s = 127 / max|x_token| (BitNet b1.58's activationQuant)
//   static    one scale for the layer, s = 127 / max|x| over the calibration set, fixed after:
//             xq = clip(roundHalfEven(x * s), -128, 127) / s   (values past the range clip)
import { Tensor, linear } from '@bitvit/tensor';
import { Module } from '@bitvit/nn';
import { ACT_EPS, activationQuant } from '../quantizers.js';
import { dequantize, type TernaryWeights } from './ternary-weights.js';

export type ActivationMode = 'none' | 'dynamic' | 'static';

export interface QuantizedLinearOptions {
  /** The method name printed in the module line ('twn', 'gptq', ...). */
  method: string;
  activations: ActivationMode;
  /** The static activation scale s (127 / calibration absmax); required for 'static'. */
  activationScale?: number;
}

export class QuantizedLinear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly method: string;
  readonly weights: TernaryWeights;
  readonly activations: ActivationMode;
  readonly activationScale: number | null;
  /** beta + sum_k alpha_k T_k as float32 [out, in], computed once. */
  readonly dequantizedWeight: Tensor;
  bias: Tensor | null;

  constructor(weights: TernaryWeights, bias: Float32Array | null, opts: QuantizedLinearOptions) {
    super();
    this.inFeatures = weights.cols;
    this.outFeatures = weights.rows;
    this.method = opts.method;
    this.weights = weights;
    this.activations = opts.activations;
    if (bias && bias.length !== weights.rows) throw new Error(`QuantizedLinear: bias of ${bias.length} values for ${weights.rows} outputs`);
    if (opts.activations === 'static') {
      const s = opts.activationScale;
      if (s === undefined || !(s > 0) || !Number.isFinite(s)) throw new Error(`QuantizedLinear: static activations need a positive finite activationScale, got ${s}`);
      this.activationScale = s;
    } else {
      this.activationScale = null;
    }
    this.dequantizedWeight = new Tensor(dequantize(weights), [weights.rows, weights.cols]);
    // The bias stays float and is a buffer: it belongs in the state dict, not in an optimizer.
    this.bias = bias ? this.addBuffer('bias', new Tensor(Float32Array.from(bias), [weights.rows])) : null;
  }

  forward(x: Tensor): Tensor {
    return linear(this.quantizeInput(x), this.dequantizedWeight, this.bias);
  }

  /** The activations the layer multiplies: x, or its 8-bit fake-quantized value. */
  quantizeInput(x: Tensor): Tensor {
    if (this.activations === 'dynamic') return activationQuant(x).xq;
    if (this.activations === 'static') return staticQuantize(x, this.activationScale!);
    return x;
  }

  override extraRepr(): string {
    const w = this.weights;
    const act = this.activations === 'none' ? 'float activations' : `a8-${this.activations}`;
    return [
      `${this.inFeatures} -> ${this.outFeatures}`,
      this.method,
      w.granularity === 'tensor' ? 'per-tensor' : 'per-channel',
      w.beta ? 'asym' : 'sym',
      act,
    ].join(', ');
  }
}

/** 8-bit quantization with a fixed scale s: clip(roundHalfEven(x * s), -128, 127) / s. */
export function staticQuantize(x: Tensor, scale: number): Tensor {
  return x.mul(scale).round().clamp(-128, 127).div(scale);
}

/** The static scale for inputs whose largest magnitude is absmax: 127 / max(absmax, eps), as the dynamic quantizer's. */
export function staticScaleFromAbsmax(absmax: number): number {
  return 127 / Math.max(absmax, ACT_EPS);
}
