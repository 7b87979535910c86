// LR schedules: values at given steps (torch.optim.lr_scheduler where it has the same schedule,
// hand-worked values otherwise), the BitNet two-stage schedule, and applySchedule.
import { describe, expect, it } from 'vitest';
import { randn } from '@bitvit/tensor';
import {
  AdamW,
  Linear,
  applySchedule,
  bitnetSchedule,
  constantSchedule,
  paramGroupsWithDecay,
  stepSchedule,
  warmupDecaySchedule,
  type Schedule,
} from '../src/index.js';
import { expectClose, ref } from './helpers.js';

const lrs = (s: Schedule, steps: number): number[] => Array.from({ length: steps }, (_, i) => s.lr(i));

describe('schedules against torch.optim.lr_scheduler', () => {
  it('stepSchedule(0.1, 3, 0.5) is StepLR(step_size=3, gamma=0.5)', () => {
    expectClose(lrs(stepSchedule(0.1, 3, 0.5), 10), ref.schedules.step, { atol: 0, rtol: 1e-12, what: 'step LR' });
  });

  it('cosine decay without warmup is CosineAnnealingLR(T_max=10, eta_min=0.001), then stays at minLr', () => {
    const s = warmupDecaySchedule({ peakLr: 0.1, warmupSteps: 0, totalSteps: 10, minLr: 0.001 });
    expectClose(lrs(s, 11), ref.schedules.cosine, { atol: 0, rtol: 1e-12, what: 'cosine LR' });
    expect(s.lr(50)).toBe(0.001);
  });

  it('linear decay without warmup is LinearLR(1 -> 0.01 over 10 steps), clamped after', () => {
    const s = warmupDecaySchedule({ peakLr: 0.1, warmupSteps: 0, totalSteps: 10, minLr: 0.001, decay: 'linear' });
    expectClose(lrs(s, 13), ref.schedules.linear, { atol: 0, rtol: 1e-12, what: 'linear LR' });
  });

  it('the warmup is LinearLR(start_factor=1/5, total_iters=4): (step+1)/5 of the peak', () => {
    const s = warmupDecaySchedule({ peakLr: 0.1, warmupSteps: 5, totalSteps: 20 });
    expectClose(lrs(s, 5), ref.schedules.warmup, { atol: 0, rtol: 1e-12, what: 'warmup LR' });
  });
});

describe('schedules, hand-worked values', () => {
  it('constant', () => {
    const s = constantSchedule(3e-4);
    expect([s.lr(0), s.lr(1), s.lr(1_000_000)]).toEqual([3e-4, 3e-4, 3e-4]);
    expect(s.weightDecay).toBeUndefined();
  });

  it('warmup 5 then cosine over 15 steps to 0', () => {
    const s = warmupDecaySchedule({ peakLr: 0.1, warmupSteps: 5, totalSteps: 20 });
    expect(s.lr(0)).toBeCloseTo(0.02, 12);
    expect(s.lr(4)).toBeCloseTo(0.1, 12);
    expect(s.lr(5)).toBeCloseTo(0.1, 12); // the peak, first step of the decay
    expect(s.lr(11)).toBeCloseTo(0.05 * (1 + Math.cos(0.4 * Math.PI)), 12); // t = 6/15
    expect(s.lr(12.5)).toBeCloseTo(0.05, 12); // halfway through the decay: half the peak
    expect(s.lr(20)).toBe(0);
  });

  it('warmup 5 then linear over 15 steps to minLr 0.01', () => {
    const s = warmupDecaySchedule({ peakLr: 0.1, warmupSteps: 5, totalSteps: 20, minLr: 0.01, decay: 'linear' });
    expect(s.lr(2)).toBeCloseTo(0.06, 12);
    expect(s.lr(5)).toBeCloseTo(0.1, 12);
    expect(s.lr(8)).toBeCloseTo(0.01 + 0.09 * 0.8, 12); // t = 3/15
    expect(s.lr(20)).toBeCloseTo(0.01, 12);
    expect(s.lr(30)).toBeCloseTo(0.01, 12);
  });

  it('stepSchedule defaults to gamma 0.1', () => {
    const s = stepSchedule(1, 10);
    expect([s.lr(9), s.lr(10), s.lr(25)].map((v) => +v.toPrecision(12))).toEqual([1, 0.1, 0.01]);
  });
});

describe('bitnetSchedule', () => {
  // peak 1e-3, second peak 5e-4 (the default, half), warmup 2, 10 steps: halfway is step 5.
  const s = bitnetSchedule({ peakLr: 1e-3, warmupSteps: 2, totalSteps: 10, weightDecay: 0.1 });

  it('warms up, decays linearly toward (peak + second)/2 in stage 1, drops to the second peak at the halfway step', () => {
    const expected = [5e-4, 1e-3, 1e-3, 1e-3 - 2.5e-4 / 3, 1e-3 - 5e-4 / 3, 5e-4, 4e-4, 3e-4, 2e-4, 1e-4, 0];
    expectClose(lrs(s, 11), expected, { atol: 1e-15, rtol: 1e-12, what: 'BitNet LR' });
    expect(s.lr(5)).toBeLessThan(0.7 * s.lr(4)); // the drop
  });

  it('weight decay 0.1 in the first half, 0 from the halfway step on', () => {
    expect(Array.from({ length: 10 }, (_, i) => s.weightDecay!(i))).toEqual([0.1, 0.1, 0.1, 0.1, 0.1, 0, 0, 0, 0, 0]);
  });

  it('takes an explicit second peak and minLr', () => {
    const t = bitnetSchedule({ peakLr: 1e-3, secondPeakLr: 2e-4, warmupSteps: 0, totalSteps: 100, minLr: 1e-5 });
    expect(t.lr(0)).toBeCloseTo(1e-3, 15);
    expect(t.lr(50)).toBeCloseTo(2e-4, 15);
    expect(t.lr(100)).toBeCloseTo(1e-5, 15);
    expect(t.weightDecay!(49)).toBe(0.1); // the default first-half decay
  });
});

describe('applySchedule', () => {
  it('sets every group LR; weight decay changes only in groups created with decay, others stay 0', () => {
    const model = new Linear(4, 4);
    const opt = new AdamW(paramGroupsWithDecay(model, 0.05), { lr: 1 });
    const s = bitnetSchedule({ peakLr: 1e-3, warmupSteps: 2, totalSteps: 10, weightDecay: 0.1 });
    expect(applySchedule(opt, s, 3)).toEqual({ lr: s.lr(3), weightDecay: 0.1 });
    expect(opt.paramGroups.map((g) => [g.lr, g.weightDecay])).toEqual([[s.lr(3), 0.1], [s.lr(3), 0]]);
    applySchedule(opt, s, 7);
    expect(opt.paramGroups.map((g) => g.weightDecay)).toEqual([0, 0]);
    applySchedule(opt, s, 1); // going back (a resumed run): the decayed group decays again
    expect(opt.paramGroups.map((g) => g.weightDecay)).toEqual([0.1, 0]);
  });

  it('a schedule without weight decay leaves it alone', () => {
    const opt = new AdamW([{ params: [new Linear(2, 2).weight] }], { lr: 1, weightDecay: 0.05 });
    expect(applySchedule(opt, constantSchedule(0.5), 0)).toEqual({ lr: 0.5 });
    expect(opt.paramGroups[0]!.weightDecay).toBe(0.05);
  });

  it('is a pure function of the step: jumping to a step gives what running up to it gives', () => {
    const make = (): AdamW => new AdamW(paramGroupsWithDecay(new Linear(3, 3), 0.1), { lr: 0 });
    const s = bitnetSchedule({ peakLr: 2e-3, warmupSteps: 3, totalSteps: 40 });
    const walked = make();
    for (let step = 0; step <= 27; step++) applySchedule(walked, s, step);
    const jumped = make();
    applySchedule(jumped, s, 27);
    expect(jumped.paramGroups.map((g) => [g.lr, g.weightDecay])).toEqual(walked.paramGroups.map((g) => [g.lr, g.weightDecay]));
    // and evaluating steps out of order changes nothing
    const first = lrs(s, 40);
    s.lr(33);
    s.lr(2);
    expect(lrs(s, 40)).toEqual(first);
  });

  it('the LR set is the one the next step uses', () => {
    const m = new Linear(2, 1, { bias: false });
    const opt = new AdamW(m.parameters(), { lr: 1, weightDecay: 0 });
    applySchedule(opt, constantSchedule(0), 0);
    const before = Float32Array.from(m.weight.data);
    m.weight.grad = randn([1, 2]);
    opt.step();
    expect(m.weight.data).toEqual(before); // LR 0: no move
  });
});
