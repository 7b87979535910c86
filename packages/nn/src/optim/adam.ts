// Adam and AdamW with bias correction, as torch.optim:
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// Adam adds weight decay to the gradient (L2); AdamW decays the weight itself, p *= 1 - lr*wd
// (decoupled, Loshchilov & Hutter), which is what transformers are trained with.
import type { Tensor } from '@bitvit/tensor';
import type { Parameter } from '../module.js';
import { Optimizer, type GroupSpec, type ParamGroup, type ParamState } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class Adam extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  protected readonly decoupled: boolean = false;

  constructor(params: Parameter[] | GroupSpec[], opts: AdamOptions = {}, defaultWeightDecay = 0) {
    super(params, { lr: opts.lr ?? 1e-3, weightDecay: opts.weightDecay ?? defaultWeightDecay });
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
  }

  protected update(p: Parameter, grad: Tensor, group: ParamGroup, state: ParamState): void {
    const w = p.data;
    const g = grad.data;
    const m = this.buffer(state, 'exp_avg', w.length);
    const v = this.buffer(state, 'exp_avg_sq', w.length);
    const [b1, b2] = this.betas;
    const { lr, weightDecay: wd } = group;
    const bc1 = 1 - b1 ** state.step;
    const bc2 = 1 - b2 ** state.step;
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    const decay = this.decoupled ? 1 - lr * wd : 1;
    const l2 = this.decoupled ? 0 : wd;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]! + l2 * w[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      const wi = w[i]! * decay;
      w[i] = wi - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / sqrtBc2 + this.eps);
    }
  }
}

export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: Parameter[] | GroupSpec[], opts: AdamOptions = {}) {
    super(params, opts, 1e-2); // torch.optim.AdamW's default weight decay
  }
}
