// SGD with momentum, dampening, Nesterov and L2 weight decay, exactly as torch.optim.SGD:
//   d = g + wd*p;  buf = momentum*buf + (1-dampening)*d  (buf = d on the first step)
//   d = nesterov ? d + momentum*buf : buf;  p -= lr*d
import type { Tensor } from '@bitvit/tensor';
import type { Parameter } from '../module.js';
import { Optimizer, type GroupSpec, type ParamGroup, type ParamState } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;

  constructor(params: Parameter[] | GroupSpec[], opts: SGDOptions) {
    super(params, { lr: opts.lr, weightDecay: opts.weightDecay ?? 0 });
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('SGD: Nesterov momentum needs momentum > 0 and dampening 0');
    }
  }

  protected update(p: Parameter, grad: Tensor, group: ParamGroup, state: ParamState): void {
    const w = p.data;
    const g = grad.data;
    const { lr, weightDecay: wd } = group;
    const mom = this.momentum;
    const buf = mom !== 0 ? this.buffer(state, 'momentum', w.length) : null;
    for (let i = 0; i < w.length; i++) {
      let d = g[i]! + wd * w[i]!;
      if (buf) {
        buf[i] = state.step === 1 ? d : mom * buf[i]! + (1 - this.dampening) * d;
        d = this.nesterov ? d + mom * buf[i]! : buf[i]!;
      }
      w[i] = w[i]! - lr * d;
    }
  }
}
