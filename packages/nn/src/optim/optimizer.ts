// The optimizer base: parameter groups with their own hyperparameters, per-parameter state,
// zeroGrad, and a state dict for checkpoints. Updates run in place on the parameters' data.
import type { Tensor } from '@bitvit/tensor';
import type { Parameter } from '../module.js';

export interface ParamGroup {
  params: Parameter[];
  lr: number;
  weightDecay: number;
  /** Whether this group is decayed at all (its weight decay was > 0 when created); schedules change only these. */
  decays: boolean;
}

export interface GroupSpec {
  params: Parameter[];
  lr?: number;
  weightDecay?: number;
}

/** Per-parameter state buffers (moments, momentum) and the step count. */
export interface ParamState {
  step: number;
  buffers: Record<string, Float32Array>;
}

export interface OptimizerStateDict {
  groups: Array<{ lr: number; weightDecay: number; size: number }>;
  /** Keyed by the parameter's position in the flattened groups. */
  state: Array<{ index: number; step: number; buffers: Record<string, number[] | Float32Array> }>;
}

export abstract class Optimizer {
  readonly paramGroups: ParamGroup[];
  protected readonly state = new Map<Parameter, ParamState>();

  constructor(params: Parameter[] | GroupSpec[], defaults: { lr: number; weightDecay: number }) {
    const specs: GroupSpec[] = params.length > 0 && !('params' in params[0]!) ? [{ params: params as Parameter[] }] : (params as GroupSpec[]);
    this.paramGroups = specs.map((g) => {
      const weightDecay = g.weightDecay ?? defaults.weightDecay;
      return { params: g.params, lr: g.lr ?? defaults.lr, weightDecay, decays: weightDecay > 0 };
    });
    const seen = new Set<Parameter>();
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error('Optimizer: a parameter appears in more than one group');
        seen.add(p);
      }
    }
  }

  /** Apply one update from the parameters' current gradients (parameters without one are skipped). */
  step(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        let st = this.state.get(p);
        if (!st) {
          st = { step: 0, buffers: {} };
          this.state.set(p, st);
        }
        st.step++;
        this.update(p, p.grad, group, st);
        p.markChanged(); // updated in place: a prepacked copy (Tensor.version) is stale now
      }
    }
  }

  protected abstract update(p: Parameter, grad: Tensor, group: ParamGroup, state: ParamState): void;

  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = null;
  }

  /** A buffer of the parameter's size, created zeroed on first use. */
  protected buffer(state: ParamState, name: string, size: number): Float32Array {
    let b = state.buffers[name];
    if (!b) {
      b = new Float32Array(size);
      state.buffers[name] = b;
    }
    return b;
  }

  stateDict(): OptimizerStateDict {
    const groups = this.paramGroups.map((g) => ({ lr: g.lr, weightDecay: g.weightDecay, size: g.params.length }));
    const state: OptimizerStateDict['state'] = [];
    let index = 0;
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const st = this.state.get(p);
        if (st) {
          const buffers: Record<string, Float32Array> = {};
          for (const [k, v] of Object.entries(st.buffers)) buffers[k] = Float32Array.from(v);
          state.push({ index, step: st.step, buffers });
        }
        index++;
      }
    }
    return { groups, state };
  }

  loadStateDict(sd: OptimizerStateDict): void {
    if (sd.groups.length !== this.paramGroups.length || sd.groups.some((g, i) => g.size !== this.paramGroups[i]!.params.length)) {
      throw new Error(
        `Optimizer.loadStateDict: group sizes [${sd.groups.map((g) => g.size).join(',')}] do not match this optimizer's [${this.paramGroups.map((g) => g.params.length).join(',')}]`,
      );
    }
    sd.groups.forEach((g, i) => {
      this.paramGroups[i]!.lr = g.lr;
      this.paramGroups[i]!.weightDecay = g.weightDecay;
    });
    const flat = this.paramGroups.flatMap((g) => g.params);
    this.state.clear();
    for (const s of sd.state) {
      const p = flat[s.index];
      if (!p) throw new Error(`Optimizer.loadStateDict: state for parameter ${s.index} but only ${flat.length} parameters`);
      const buffers: Record<string, Float32Array> = {};
      for (const [k, v] of Object.entries(s.buffers)) {
        if (v.length !== p.size) throw new Error(`Optimizer.loadStateDict: buffer ${k} of parameter ${s.index} has ${v.length} values, parameter has ${p.size}`);
        buffers[k] = Float32Array.from(v);
      }
      this.state.set(p, { step: s.step, buffers });
    }
  }
}

/**
 * Scale all gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_).
 * Returns the norm before clipping.
 */
export function clipGradNorm(params: Parameter[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) {
    if (!p.grad) continue;
    const g = p.grad.data;
    for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
  }
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const p of params) {
      if (!p.grad) continue;
      const g = p.grad.data;
      for (let i = 0; i < g.length; i++) g[i]! *= coef;
    }
  }
  return norm;
}
