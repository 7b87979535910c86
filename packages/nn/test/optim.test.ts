// Optimizers against torch.optim for 5 steps on a fixed problem (ref/make_nn_reference.py):
// y = x W^T + b fitted with MSE. Also parameter groups, clipGradNorm against
// torch.nn.utils.clip_grad_norm_, and optimizer state dicts that resume bit for bit.
import { describe, expect, it } from 'vitest';
import { Generator, randn, type Tensor } from '@bitvit/tensor';
import {
  Adam,
  AdamW,
  LayerNorm,
  Linear,
  Module,
  Parameter,
  SGD,
  clipGradNorm,
  isNoDecay,
  mseLoss,
  paramGroupsWithDecay,
  type Optimizer,
  type OptimizerStateDict,
} from '../src/index.js';
import { expectClose, optimizerTrace, ref, setData, toTensor } from './helpers.js';

const problem = ref.optimizers.problem;
const x = toTensor(problem.x);
const y = toTensor(problem.y);

function freshModel(): Linear {
  const m = new Linear(4, 3);
  setData(m.weight, problem.weight);
  setData(m.bias!, problem.bias);
  return m;
}

/** One step on the fixed problem; returns the loss before the update. */
function trainStep(model: Linear, opt: Optimizer): number {
  opt.zeroGrad();
  const loss = mseLoss(model.forward(x), y);
  loss.backward();
  opt.step();
  return loss.item();
}

/** Run 5 steps and compare W, b and the loss after each with torch's trace. */
function checkAgainstTorch(name: string, make: (m: Linear) => Optimizer, lrs?: number[]): void {
  const trace = optimizerTrace(name);
  const model = freshModel();
  const opt = make(model);
  for (let step = 0; step < 5; step++) {
    if (lrs) for (const g of opt.paramGroups) g.lr = lrs[step]!;
    const loss = trainStep(model, opt);
    expectClose([loss], [trace.loss[step]!], { atol: 0, rtol: 1e-6, what: `${name} loss at step ${step}` });
    expectClose(model.weight, trace.weight[step]!, { atol: 1e-7, rtol: 1e-6, what: `${name} weight after step ${step + 1}` });
    expectClose(model.bias, trace.bias[step]!, { atol: 1e-7, rtol: 1e-6, what: `${name} bias after step ${step + 1}` });
  }
}

describe('optimizers match torch.optim for 5 steps', () => {
  it('SGD (plain)', () => checkAgainstTorch('sgd', (m) => new SGD(m.parameters(), { lr: 0.1 })));

  it('SGD with momentum 0.9 and weight decay 0.01', () =>
    checkAgainstTorch('sgd_momentum_wd', (m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })));

  it('SGD with Nesterov momentum and weight decay', () =>
    checkAgainstTorch('sgd_nesterov_wd', (m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })));

  it('Adam', () => checkAgainstTorch('adam', (m) => new Adam(m.parameters(), { lr: 0.01 })));

  it('Adam with L2 weight decay (added to the gradient)', () =>
    checkAgainstTorch('adam_l2', (m) => new Adam(m.parameters(), { lr: 0.01, weightDecay: 0.01 })));

  it('AdamW with decoupled weight decay 0.05', () => checkAgainstTorch('adamw', (m) => new AdamW(m.parameters(), { lr: 0.01, weightDecay: 0.05 })));

  it('AdamW with a decayed and a no-decay group and betas (0.9, 0.95)', () =>
    checkAgainstTorch('adamw_groups', (m) =>
      new AdamW(
        [
          { params: [m.weight], weightDecay: 0.05 },
          { params: [m.bias!], weightDecay: 0 },
        ],
        { lr: 0.01, betas: [0.9, 0.95] },
      )));

  it('AdamW with the learning rate changed before every step (as a schedule does)', () =>
    checkAgainstTorch('adamw_lr_schedule', (m) => new AdamW(m.parameters(), { lr: 0, weightDecay: 0.05 }), ref.optimizers.adamw_lr_schedule_lrs));

  it('the traces really differ from each other (each option changes the result)', () => {
    const last = (name: string): number[] => optimizerTrace(name).weight[4]!.data;
    const names = ['sgd', 'sgd_momentum_wd', 'sgd_nesterov_wd', 'adam', 'adam_l2', 'adamw', 'adamw_groups'];
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) expect(last(names[i]!), `${names[i]} vs ${names[j]}`).not.toEqual(last(names[j]!));
    }
  });
});

describe('optimizer details', () => {
  it('AdamW defaults to weight decay 0.01 (torch.optim.AdamW) and Adam to 0', () => {
    const p = Parameter.from(randn([2, 2]));
    expect(new AdamW([p]).paramGroups[0]!.weightDecay).toBe(0.01);
    expect(new Adam([p]).paramGroups[0]!.weightDecay).toBe(0);
    expect(new AdamW([p]).paramGroups[0]!.lr).toBe(1e-3);
  });

  it('skips parameters without a gradient, and zeroGrad clears gradients', () => {
    const m = freshModel();
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    const before = Float32Array.from(m.weight.data);
    opt.step();
    expect(m.weight.data).toEqual(before);
    mseLoss(m.forward(x), y).backward();
    expect(m.weight.grad).not.toBeNull();
    opt.zeroGrad();
    expect(m.weight.grad).toBeNull();
    expect(m.bias!.grad).toBeNull();
  });

  it('refuses a parameter in two groups, and Nesterov without momentum', () => {
    const p = Parameter.from(randn([2]));
    expect(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 1 })).toThrow(/a parameter appears in more than one group/);
    expect(() => new SGD([p], { lr: 1, nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0 and dampening 0/);
  });
});

describe('paramGroupsWithDecay', () => {
  class Toy extends Module {
    proj = this.addModule('proj', new Linear(8, 8));
    norm = this.addModule('norm', new LayerNorm(8));
    position_embeddings = this.addParameter('position_embeddings', Parameter.from(randn([1, 5, 8])));
    cls_token = this.addParameter('cls_token', Parameter.from(randn([1, 1, 8])));
    distillation_token = this.addParameter('distillation_token', Parameter.from(randn([1, 1, 8])));
    kernel = this.addParameter('kernel', Parameter.from(randn([3, 8])));
    frozen = this.addParameter('frozen', Parameter.from(randn([4, 4])));
  }

  it('biases, 1-D params, position_embeddings, cls_token and distillation_token go to the no-decay group', () => {
    const m = new Toy();
    m.frozen.requiresGrad = false;
    const [decay, noDecay] = paramGroupsWithDecay(m, 0.05);
    const names = new Map(m.namedParameters().map(([n, p]) => [p, n]));
    expect(decay!.weightDecay).toBe(0.05);
    expect(noDecay!.weightDecay).toBe(0);
    expect(decay!.params.map((p) => names.get(p)).sort()).toEqual(['kernel', 'proj.weight']);
    expect(noDecay!.params.map((p) => names.get(p)).sort()).toEqual(
      ['cls_token', 'distillation_token', 'norm.bias', 'norm.weight', 'position_embeddings', 'proj.bias'].sort(),
    );
  });

  it('isNoDecay knows the Hugging Face and timm spellings, and only as whole name parts', () => {
    const p2 = Parameter.from(randn([2, 2]));
    expect(isNoDecay('vit.embeddings.position_embeddings', p2)).toBe(true);
    expect(isNoDecay('pos_embed', p2)).toBe(true);
    expect(isNoDecay('deit.embeddings.distillation_token', p2)).toBe(true);
    expect(isNoDecay('vit.encoder.layer.0.output.dense.bias', p2)).toBe(true);
    expect(isNoDecay('vit.encoder.layer.0.output.dense.weight', p2)).toBe(false);
    expect(isNoDecay('my_cls_token_proj', p2)).toBe(false);
  });

  it('feeds AdamW directly, and the no-decay group is not decayed', () => {
    const m = new Toy();
    const opt = new AdamW(paramGroupsWithDecay(m, 0.05), { lr: 0.1 });
    const cls = Float32Array.from(m.cls_token.data);
    const kernel = Float32Array.from(m.kernel.data);
    // Zero gradients: only weight decay can move a parameter.
    for (const p of m.parameters()) p.grad = toTensor({ shape: [...p.shape], data: new Array<number>(p.size).fill(0) });
    opt.step();
    expect(m.cls_token.data).toEqual(cls);
    expectClose(m.kernel.data, Array.from(kernel, (v) => v * (1 - 0.1 * 0.05)), { atol: 0, rtol: 1e-7, what: 'decayed kernel' });
  });
});

describe('clipGradNorm', () => {
  for (const [name, c] of Object.entries(ref.optimizers.clip_grad_norm)) {
    it(`${name}: norm and clipped gradients match clip_grad_norm_`, () => {
      const params = c.grads.map((g) => {
        const p = Parameter.from(toTensor(g));
        p.grad = toTensor(g);
        return p;
      });
      const norm = clipGradNorm(params, c.max_norm);
      expectClose([norm], [c.norm], { atol: 0, rtol: 1e-6, what: 'total norm' });
      params.forEach((p, i) => expectClose(p.grad, c.clipped[i]!, { atol: 1e-7, rtol: 1e-6, what: `clipped gradient ${i}` }));
      expect(c.norm > c.max_norm, 'the case clips iff the norm exceeds max_norm').toBe(name === 'max1');
    });
  }

  it('ignores parameters without a gradient', () => {
    const a = Parameter.from(toTensor({ shape: [2], data: [3, 4] }));
    a.grad = toTensor({ shape: [2], data: [3, 4] });
    const b = Parameter.from(toTensor({ shape: [2], data: [1, 1] }));
    expect(clipGradNorm([a, b], 1)).toBeCloseTo(5, 6);
    expect(b.grad).toBeNull();
    expectClose(a.grad, [0.6, 0.8], { atol: 1e-6, what: 'clipped' });
  });
});

describe('optimizer stateDict / loadStateDict', () => {
  /** A JSON round trip, as a checkpoint file would do (typed arrays become plain arrays). */
  function throughJson(sd: OptimizerStateDict): OptimizerStateDict {
    const plain = { ...sd, state: sd.state.map((s) => ({ ...s, buffers: Object.fromEntries(Object.entries(s.buffers).map(([k, v]) => [k, Array.from(v)])) })) };
    return JSON.parse(JSON.stringify(plain)) as OptimizerStateDict;
  }

  const makers: Array<[string, (m: Linear) => Optimizer]> = [
    ['SGD momentum', (m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
    ['AdamW', (m) => new AdamW(paramGroupsWithDecay(m, 0.05), { lr: 0.01 })],
  ];

  for (const [name, make] of makers) {
    it(`${name}: a restored optimizer continues bit-identical to one that never stopped`, () => {
      const a = freshModel();
      const optA = make(a);
      for (let i = 0; i < 3; i++) trainStep(a, optA);
      optA.paramGroups.forEach((g, i) => (g.lr *= i + 2)); // a changed LR must come back too

      const saved = throughJson(optA.stateDict());
      const b = freshModel();
      b.loadStateDict(new Map([...a.stateDict()].map(([k, t]): [string, Tensor] => [k, toTensor({ shape: [...t.shape], data: Array.from(t.data) })])));
      const optB = make(b);
      optB.loadStateDict(saved);
      expect(optB.paramGroups.map((g) => g.lr)).toEqual(optA.paramGroups.map((g) => g.lr));

      for (let i = 0; i < 4; i++) {
        trainStep(a, optA);
        trainStep(b, optB);
        expect(b.weight.data, `weight after resumed step ${i + 1}`).toEqual(a.weight.data);
        expect(b.bias!.data, `bias after resumed step ${i + 1}`).toEqual(a.bias!.data);
      }
    });
  }

  it('a fresh optimizer without the restored state diverges (the state matters)', () => {
    const a = freshModel();
    const optA = new AdamW(a.parameters(), { lr: 0.01 });
    for (let i = 0; i < 3; i++) trainStep(a, optA);
    const b = freshModel();
    b.loadStateDict(new Map([...a.stateDict()].map(([k, t]): [string, Tensor] => [k, toTensor({ shape: [...t.shape], data: Array.from(t.data) })])));
    const optB = new AdamW(b.parameters(), { lr: 0.01 });
    trainStep(a, optA);
    trainStep(b, optB);
    expect(b.weight.data).not.toEqual(a.weight.data);
  });

  it('stateDict is a snapshot: later steps do not change it', () => {
    const m = freshModel();
    const opt = new Adam(m.parameters(), { lr: 0.01 });
    trainStep(m, opt);
    const sd = opt.stateDict();
    const copy = Array.from(sd.state[0]!.buffers.exp_avg!);
    trainStep(m, opt);
    expect(Array.from(sd.state[0]!.buffers.exp_avg!)).toEqual(copy);
    expect(sd.state.map((s) => s.step)).toEqual([1, 1]);
  });

  it('names mismatched groups and buffer sizes', () => {
    const m = freshModel();
    const opt = new AdamW(m.parameters(), { lr: 0.01 });
    trainStep(m, opt);
    const sd = opt.stateDict();
    const grouped = new AdamW(paramGroupsWithDecay(freshModel(), 0.05));
    expect(() => grouped.loadStateDict(sd)).toThrow(/group sizes \[2\] do not match this optimizer's \[1,1\]/);
    const bad: OptimizerStateDict = { ...sd, state: [{ index: 0, step: 1, buffers: { exp_avg: [1, 2] } }] };
    expect(() => new AdamW(freshModel().parameters()).loadStateDict(bad)).toThrow(/buffer exp_avg of parameter 0 has 2 values, parameter has 12/);
  });
});

describe('optimizers on a randomly initialised model', () => {
  it('AdamW lowers the loss of a small regression over 20 steps', () => {
    const g = new Generator(5);
    const m = new Linear(4, 3, { generator: g });
    const opt = new AdamW(m.parameters(), { lr: 0.05 });
    const first = trainStep(m, opt);
    let last = first;
    for (let i = 0; i < 19; i++) last = trainStep(m, opt);
    expect(last).toBeLessThan(0.7 * first);
  });
});
