// Learning-rate (and weight-decay) schedules as pure functions of the step, so a resumed run
// computes exactly the value the uninterrupted run had at that step.
import type { Optimizer } from './optimizer.js';

export interface Schedule {
  /** Learning rate at a step (0-based: the LR used for the step-th update). */
  lr(step: number): number;
  /** Weight decay at a step, when the schedule changes it (the BitNet two-stage schedule). */
  weightDecay?(step: number): number;
}

export function constantSchedule(lr: number): Schedule {
  return { lr: () => lr };
}

export interface WarmupDecayOptions {
  peakLr: number;
  /** Steps of linear warmup from ~0 to peakLr. */
  warmupSteps: number;
  totalSteps: number;
  /** LR at the end of the decay. */
  minLr?: number;
  decay?: 'cosine' | 'linear';
}

/** Linear warmup to peakLr, then cosine (or linear) decay to minLr at totalSteps. */
export function warmupDecaySchedule(o: WarmupDecayOptions): Schedule {
  const minLr = o.minLr ?? 0;
  return {
    lr(step: number): number {
      if (step < o.warmupSteps) return (o.peakLr * (step + 1)) / o.warmupSteps;
      const span = Math.max(1, o.totalSteps - o.warmupSteps);
      const t = Math.min(1, (step - o.warmupSteps) / span);
      const shape = (o.decay ?? 'cosine') === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * t)) : 1 - t;
      return minLr + (o.peakLr - minLr) * shape;
    },
  };
}

/** Multiply the LR by gamma every stepSize steps (torch's StepLR). */
export function stepSchedule(lr: number, stepSize: number, gamma = 0.1): Schedule {
  return { lr: (step) => lr * gamma ** Math.floor(step / stepSize) };
}

export interface BitNetScheduleOptions {
  peakLr: number;
  /** The lower peak the second half restarts its decay from (default peakLr / 2). */
  secondPeakLr?: number;
  warmupSteps: number;
  totalSteps: number;
  minLr?: number;
  /** Weight decay of the first half; the second half uses 0 (default 0.1). */
  weightDecay?: number;
}

/**
 * BitNet b1.58's two-stage schedule (training FAQ): linear warmup to peakLr; stage 1 (to the
 * halfway step) decays linearly to (peakLr + secondPeakLr) / 2; stage 2 drops to secondPeakLr
 * and decays linearly to minLr. Weight decay is on in stage 1 and 0 in stage 2: decay keeps
 * pulling latent weights toward zero, which flips ternary codes late in training.
 */
export function bitnetSchedule(o: BitNetScheduleOptions): Schedule {
  const second = o.secondPeakLr ?? o.peakLr / 2;
  const minLr = o.minLr ?? 0;
  const half = Math.floor(o.totalSteps / 2);
  const stage1End = (o.peakLr + second) / 2;
  return {
    lr(step: number): number {
      if (step < o.warmupSteps) return (o.peakLr * (step + 1)) / o.warmupSteps;
      if (step < half) {
        const t = (step - o.warmupSteps) / Math.max(1, half - o.warmupSteps);
        return o.peakLr + (stage1End - o.peakLr) * t;
      }
      const t = Math.min(1, (step - half) / Math.max(1, o.totalSteps - half));
      return second + (minLr - second) * t;
    },
    weightDecay(step: number): number {
      return step < half ? (o.weightDecay ?? 0.1) : 0;
    },
  };
}

/**
 * Set the optimizer's LR (and weight decay, for schedules that change it) for a step. Groups
 * created with weightDecay 0 (biases, norms) stay at 0.
 */
export function applySchedule(opt: Optimizer, schedule: Schedule, step: number): { lr: number; weightDecay?: number } {
  const lr = schedule.lr(step);
  const wd = schedule.weightDecay?.(step);
  for (const g of opt.paramGroups) {
    g.lr = lr;
    if (wd !== undefined && g.decays) g.weightDecay = wd;
  }
  return wd === undefined ? { lr } : { lr, weightDecay: wd };
}
